import { Binary, type Document, Int32, Long } from 'bson';
import { MongoClient } from 'mongodb';
import { crc32c } from './crc32c.js';
import { type TestServer, startTestServer } from './index.js';
import {
  CHECKSUM_PRESENT,
  FrameReader,
  MAX_MESSAGE_SIZE,
  MORE_TO_COME,
  OP_MSG,
  OP_QUERY,
  OP_REPLY,
  type OpMsg,
  type OpQuery,
  type OpReply,
  ProtocolError,
  encodeOpMsg,
  encodeOpQuery,
  encodeOpReply,
  parseMessage,
} from './wire.js';
import { WireClient } from './wire-client.js';

describe('crc32c', () => {
  test('matches the Castagnoli check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });
});

describe('message framing (pure)', () => {
  test('OP_MSG round trip keeps BSON types exact', () => {
    const bytes = encodeOpMsg({
      requestID: 7,
      responseTo: 3,
      body: { find: 'c', n: new Int32(1), d: 1.5, l: Long.fromNumber(5), $db: 'test' },
    });
    const msg = parseMessage(bytes) as OpMsg;
    expect(msg.opCode).toBe(OP_MSG);
    expect(msg.header).toEqual({
      messageLength: bytes.length,
      requestID: 7,
      responseTo: 3,
      opCode: OP_MSG,
    });
    expect(msg.flagBits).toBe(0);
    expect(Object.keys(msg.body)).toEqual(['find', 'n', 'd', 'l', '$db']);
    expect(msg.body.n).toBeInstanceOf(Int32);
    expect(msg.body.l).toBeInstanceOf(Long);
    expect(msg.body.d.valueOf()).toBe(1.5);
  });

  test('kind-1 sequences are merged into the body under their identifier', () => {
    const docs = [{ _id: 1 }, { _id: 2 }, { _id: 3 }];
    const bytes = encodeOpMsg({
      requestID: 1,
      body: { insert: 'c', $db: 'test' },
      sequences: { documents: docs, other: [{ x: 1 }] },
    });
    const msg = parseMessage(bytes) as OpMsg;
    expect(msg.sequenceIds).toEqual(['documents', 'other']);
    expect(msg.body.documents.map((d: Document) => d._id.valueOf())).toEqual([1, 2, 3]);
    expect(msg.body.other).toHaveLength(1);
  });

  test('an empty kind-1 sequence becomes an empty array', () => {
    const msg = parseMessage(
      encodeOpMsg({ requestID: 1, body: { insert: 'c', $db: 't' }, sequences: { documents: [] } }),
    ) as OpMsg;
    expect(msg.body.documents).toEqual([]);
  });

  test('a sequence that repeats a body field is rejected', () => {
    const bytes = encodeOpMsg({ requestID: 1, body: { a: 1 }, sequences: { a: [{ x: 1 }] } });
    expect(() => parseMessage(bytes)).toThrow(ProtocolError);
  });

  test('a correct checksum is verified and accepted', () => {
    const bytes = encodeOpMsg({ requestID: 2, body: { ping: 1, $db: 'admin' }, checksum: true });
    const msg = parseMessage(bytes) as OpMsg;
    expect(msg.flagBits & CHECKSUM_PRESENT).toBe(CHECKSUM_PRESENT);
    expect(msg.body.ping.valueOf()).toBe(1);
    expect(bytes.readUInt32LE(bytes.length - 4)).toBe(crc32c(bytes.subarray(0, bytes.length - 4)));
  });

  test('a wrong checksum is rejected with ChecksumMismatch', () => {
    const bytes = encodeOpMsg({ requestID: 2, body: { ping: 1, $db: 'admin' }, checksum: true });
    bytes[bytes.length - 1]! ^= 0xff;
    expect(() => parseMessage(bytes)).toThrow(
      expect.objectContaining({ code: 288, codeName: 'ChecksumMismatch' }),
    );
  });

  test('unknown required flag bits are rejected; exhaustAllowed is not required', () => {
    expect(() =>
      parseMessage(encodeOpMsg({ requestID: 1, body: { a: 1 }, flagBits: 0x4 })),
    ).toThrow(expect.objectContaining({ code: 223 }));
    expect(
      (parseMessage(encodeOpMsg({ requestID: 1, body: { a: 1 }, flagBits: 0x10000 })) as OpMsg)
        .flagBits,
    ).toBe(0x10000);
  });

  test('OP_QUERY and OP_REPLY round trip', () => {
    const q = parseMessage(
      encodeOpQuery({
        requestID: 9,
        fullCollectionName: 'admin.$cmd',
        query: { isMaster: 1 },
        numberToReturn: -1,
      }),
    ) as OpQuery;
    expect(q.opCode).toBe(OP_QUERY);
    expect(q.fullCollectionName).toBe('admin.$cmd');
    expect(q.numberToReturn).toBe(-1);
    expect(q.query.isMaster.valueOf()).toBe(1);

    const r = parseMessage(
      encodeOpReply({ requestID: 10, responseTo: 9, documents: [{ ok: 1 }, { x: 2 }] }),
    ) as OpReply;
    expect(r.opCode).toBe(OP_REPLY);
    expect(r.header.responseTo).toBe(9);
    expect(r.cursorId).toBe(0n);
    expect(r.documents).toHaveLength(2);
  });

  test('FrameReader reassembles messages split at every byte and joined together', () => {
    const a = encodeOpMsg({ requestID: 1, body: { ping: 1, $db: 'admin' } });
    const b = encodeOpMsg({ requestID: 2, body: { hello: 1, $db: 'admin' } });
    const all = Buffer.concat([a, b]);
    const reader = new FrameReader();
    const frames: Buffer[] = [];
    for (let i = 0; i < all.length; i++) frames.push(...reader.push(all.subarray(i, i + 1)));
    expect(frames.map((f) => (parseMessage(f) as OpMsg).header.requestID)).toEqual([1, 2]);

    const whole = new FrameReader().push(all);
    expect(whole).toHaveLength(2);
  });

  test('FrameReader refuses a length beyond 48,000,000 bytes', () => {
    const header = Buffer.alloc(16);
    header.writeInt32LE(MAX_MESSAGE_SIZE + 1, 0);
    expect(() => new FrameReader().push(header)).toThrow(expect.objectContaining({ fatal: true }));
    header.writeInt32LE(MAX_MESSAGE_SIZE, 0);
    expect(new FrameReader().push(header)).toEqual([]);
  });
});

describe('the server on the wire', () => {
  let server: TestServer;
  const clients: WireClient[] = [];
  const connect = async (): Promise<WireClient> => {
    const c = await WireClient.connect(server.port);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await server.stop();
  });

  test('answers the OP_QUERY handshake with OP_REPLY', async () => {
    const c = await connect();
    c.send(
      encodeOpQuery({
        requestID: 42,
        fullCollectionName: 'admin.$cmd',
        query: { isMaster: 1, helloOk: true, client: { application: { name: 'raw' } } },
        numberToReturn: -1,
      }),
    );
    const reply = (await c.next()) as OpReply;
    expect(reply.opCode).toBe(OP_REPLY);
    expect(reply.header.responseTo).toBe(42);
    expect(reply.documents).toHaveLength(1);
    const doc = reply.documents[0]!;
    expect(doc.ismaster).toBe(true);
    expect(doc.helloOk).toBe(true);
    expect(doc.setName).toBe('rs0');
    expect(doc.maxWireVersion.valueOf()).toBe(25);
    expect(doc.ok.valueOf()).toBe(1);
  });

  test('refuses other commands over OP_QUERY with 352, as MongoDB 8.0 does', async () => {
    const c = await connect();
    c.send(encodeOpQuery({ requestID: 5, fullCollectionName: 'test.$cmd', query: { find: 'c' } }));
    const reply = (await c.next()) as OpReply;
    expect(reply.documents[0]).toMatchObject({ code: 352, codeName: 'UnsupportedOpQueryCommand' });
  });

  test('answers OP_MSG with OP_MSG, responseTo set', async () => {
    const c = await connect();
    const id = c.sendMsg({ ping: 1, $db: 'admin' });
    const reply = (await c.next()) as OpMsg;
    expect(reply.opCode).toBe(OP_MSG);
    expect(reply.header.responseTo).toBe(id);
    expect(reply.body.ok.valueOf()).toBe(1);
    expect(reply.body.$clusterTime).toBeDefined();
  });

  test('never replies to a moreToCome message', async () => {
    const c = await connect();
    c.sendMsg({ ping: 1, $db: 'admin' }, MORE_TO_COME);
    c.sendMsg({ endSessions: [], $db: 'admin' }, MORE_TO_COME);
    const id = c.sendMsg({ ping: 1, $db: 'admin' });
    const reply = await c.next();
    expect(reply?.header.responseTo).toBe(id);
    expect(await c.next(200)).toBeUndefined();
  });

  test('answers pipelined messages in order', async () => {
    const c = await connect();
    const ids = [c.requestId(), c.requestId(), c.requestId()];
    c.send(
      Buffer.concat([
        encodeOpMsg({ requestID: ids[0]!, body: { ping: 1, $db: 'admin' } }),
        encodeOpMsg({ requestID: ids[1]!, body: { nosuchcommand: 1, $db: 'admin' } }),
        encodeOpMsg({ requestID: ids[2]!, body: { buildInfo: 1, $db: 'admin' } }),
      ]),
    );
    const replies = [await c.next(), await c.next(), await c.next()] as OpMsg[];
    expect(replies.map((r) => r.header.responseTo)).toEqual(ids);
    expect(replies[1]!.body.code.valueOf()).toBe(59);
    expect(replies[2]!.body.version).toBe('8.0.4');
  });

  test('verifies checksums: good is answered, bad gets ChecksumMismatch', async () => {
    const c = await connect();
    c.send(encodeOpMsg({ requestID: 77, body: { ping: 1, $db: 'admin' }, checksum: true }));
    const good = (await c.next()) as OpMsg;
    expect(good.header.responseTo).toBe(77);
    expect(good.body.ok.valueOf()).toBe(1);

    const bad = encodeOpMsg({ requestID: 78, body: { ping: 1, $db: 'admin' }, checksum: true });
    bad.writeUInt32LE((bad.readUInt32LE(bad.length - 4) + 1) >>> 0, bad.length - 4);
    c.send(bad);
    const reply = (await c.next()) as OpMsg;
    expect(reply.header.responseTo).toBe(78);
    expect(reply.body).toMatchObject({ code: 288, codeName: 'ChecksumMismatch' });
  });

  test('an OP_MSG without $db gets 40571', async () => {
    const c = await connect();
    expect(await c.command({ ping: 1 })).toMatchObject({ code: 40571 });
  });

  test('accepts a 20 MB message with a kind-1 sequence', async () => {
    const c = await connect();
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const docs = Array.from({ length: 20 }, (_, i) => ({ _id: i, blob: new Binary(chunk) }));
    const id = c.sendMsg({ ping: 1, $db: 'admin' }, 0, { documents: docs });
    const reply = (await c.next(10_000)) as OpMsg;
    expect(reply.header.responseTo).toBe(id);
    expect(reply.body.ok.valueOf()).toBe(1);
  });

  test('closes the connection on a message longer than 48,000,000 bytes', async () => {
    const c = await connect();
    const header = Buffer.alloc(16);
    header.writeInt32LE(MAX_MESSAGE_SIZE + 1, 0);
    header.writeInt32LE(OP_MSG, 12);
    c.send(header);
    await c.closed;
    expect(c.isClosed).toBe(true);
  });

  test('closes the connection on an unknown opcode', async () => {
    const c = await connect();
    const msg = encodeOpMsg({ requestID: 1, body: { ping: 1 } });
    msg.writeInt32LE(2012, 12); // OP_COMPRESSED: never negotiated
    c.send(msg);
    await c.closed;
    expect(c.isClosed).toBe(true);
  });

  test('serves 50 driver clients at once', async () => {
    const mongoClients = Array.from(
      { length: 50 },
      () => new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000, maxPoolSize: 2 }),
    );
    try {
      const replies = await Promise.all(
        mongoClients.map((m) => m.db('admin').command({ ping: 1 })),
      );
      expect(replies.every((r) => r.ok === 1)).toBe(true);
    } finally {
      await Promise.all(mongoClients.map((m) => m.close()));
    }
  });

  test('a command blocked on one connection does not hold up another', async () => {
    const admin = await connect();
    await admin.command({
      configureFailPoint: 'failCommand',
      mode: { times: 1 },
      data: { failCommands: ['ping'], blockConnection: true, blockTimeMS: 800 },
      $db: 'admin',
    });
    const slow = await connect();
    const fast = await connect();
    const started = Date.now();
    slow.sendMsg({ ping: 1, $db: 'admin' });
    await new Promise((r) => setTimeout(r, 50));
    expect((await fast.command({ ping: 1, $db: 'admin' })).ok.valueOf()).toBe(1);
    expect(Date.now() - started).toBeLessThan(600);
    const late = await slow.next(3000);
    expect(late).toBeDefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(790);
  });

  test('the driver round-trips a 20 MB insertMany through kind-1 sequences', async () => {
    const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
    try {
      const coll = client.db('wire').collection<{ _id: number; blob: Buffer }>('big');
      const docs = Array.from({ length: 20 }, (_, i) => ({
        _id: i,
        blob: Buffer.alloc(1024 * 1024, i),
      }));
      const result = await coll.insertMany(docs);
      expect(result.insertedCount).toBe(20);
      expect(await coll.countDocuments()).toBe(20);
    } finally {
      await client.close();
    }
  });
});
