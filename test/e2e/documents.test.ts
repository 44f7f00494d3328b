// End to end: full-document and pre-image modes, and each output format.
import {
  Binary,
  BSON,
  Decimal128,
  Double,
  EJSON,
  Int32,
  Long,
  ObjectId,
  Timestamp,
  UUID,
  type Document,
} from 'bson';
import type { MongoClient } from 'mongodb';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { clusterTime, connect, events, type AnyDoc } from './util.js';

let client: MongoClient;
beforeAll(async () => {
  client = await connect();
});
afterAll(async () => {
  await client.close();
});

function tail(args: string[]) {
  return runCli(['--uri', testUri(), '--until', 'now', ...args]);
}

/** insert {_id:1,n:1}; update n→2; update n→3; delete. With images when `images`. */
async function history(db: string, images: boolean): Promise<string> {
  if (images) {
    await client.db(db).createCollection('c', { changeStreamPreAndPostImages: { enabled: true } });
  } else {
    await client.db(db).createCollection('c');
  }
  const since = await clusterTime(client);
  const c = client.db(db).collection<AnyDoc>('c');
  await c.insertOne({ _id: 1, n: 1 });
  await c.updateOne({ _id: 1 }, { $set: { n: 2 } });
  await c.updateOne({ _id: 1 }, { $set: { n: 3 } });
  await c.deleteOne({ _id: 1 });
  return since;
}

function field(name: string) {
  return (e: Document): unknown => (name in e ? e[name] : 'absent');
}

describe('--full-document', () => {
  test('default: updates carry no fullDocument', async () => {
    const db = uniqueDbName('fd_default');
    const since = await history(db, false);
    const got = events((await tail(['--since', since, `${db}.c`])).stdout);
    expect(got.map(field('fullDocument'))).toEqual([
      { _id: 1, n: 1 },
      'absent',
      'absent',
      'absent',
    ]);
  });

  test('updateLookup: the current document (null once deleted)', async () => {
    const db = uniqueDbName('fd_lookup');
    const since = await history(db, false);
    const got = events(
      (await tail(['--since', since, '--full-document', 'updateLookup', `${db}.c`])).stdout,
    );
    expect(got.map((e) => e.operationType)).toEqual(['insert', 'update', 'update', 'delete']);
    // The document is gone by the time the updates are read.
    expect(got.slice(1, 3).map(field('fullDocument'))).toEqual([null, null]);
  });

  test('whenAvailable / required: the stored post-images', async () => {
    const db = uniqueDbName('fd_post');
    const since = await history(db, true);
    for (const mode of ['whenAvailable', 'required']) {
      const result = await tail(['--since', since, '--full-document', mode, `${db}.c`]);
      expect(result.code).toBe(0);
      expect(events(result.stdout).map(field('fullDocument'))).toEqual([
        { _id: 1, n: 1 },
        { _id: 1, n: 2 },
        { _id: 1, n: 3 },
        'absent',
      ]);
    }
  });

  test('whenAvailable without images: null; required without images: exit 1, no fallback', async () => {
    const db = uniqueDbName('fd_none');
    const since = await history(db, false);
    const when = await tail(['--since', since, '--full-document', 'whenAvailable', `${db}.c`]);
    expect(events(when.stdout).map(field('fullDocument'))).toEqual([
      { _id: 1, n: 1 },
      null,
      null,
      'absent',
    ]);
    const required = await tail(['--since', since, '--full-document', 'required', `${db}.c`]);
    expect(required.code).toBe(1);
    // The insert before the failing event may or may not share its (failed) batch.
    expect(events(required.stdout).map((e) => e.operationType)).toEqual(
      required.stdout === '' ? [] : ['insert'],
    );
    expect(required.stderr).toMatch(
      /^mongo-tail: an event lacks the document image that "required" asks for: /,
    );
    expect(required.stderr).toContain(
      'hint: use whenAvailable, or enable changeStreamPreAndPostImages',
    );
  });
});

describe('--full-document-before-change', () => {
  test('off (default): no pre-images', async () => {
    const db = uniqueDbName('pre_off');
    const since = await history(db, true);
    for (const args of [[], ['--full-document-before-change', 'off']]) {
      const got = events((await tail(['--since', since, ...args, `${db}.c`])).stdout);
      expect(got.map(field('fullDocumentBeforeChange'))).toEqual([
        'absent',
        'absent',
        'absent',
        'absent',
      ]);
    }
  });

  test('whenAvailable / required: the document before each change', async () => {
    const db = uniqueDbName('pre_on');
    const since = await history(db, true);
    for (const mode of ['whenAvailable', 'required']) {
      const result = await tail([
        '--since',
        since,
        '--full-document-before-change',
        mode,
        `${db}.c`,
      ]);
      expect(result.code).toBe(0);
      expect(events(result.stdout).map(field('fullDocumentBeforeChange'))).toEqual([
        'absent',
        { _id: 1, n: 1 },
        { _id: 1, n: 2 },
        { _id: 1, n: 3 },
      ]);
    }
  });

  test('whenAvailable without images: null; required without: exit 1', async () => {
    const db = uniqueDbName('pre_none');
    const since = await history(db, false);
    const when = await tail([
      '--since',
      since,
      '--full-document-before-change',
      'whenAvailable',
      `${db}.c`,
    ]);
    expect(events(when.stdout).map(field('fullDocumentBeforeChange'))).toEqual([
      'absent',
      null,
      null,
      null,
    ]);
    const required = await tail([
      '--since',
      since,
      '--full-document-before-change',
      'required',
      `${db}.c`,
    ]);
    expect(required.code).toBe(1);
    expect(events(required.stdout).length).toBeLessThanOrEqual(1);
  });
});

describe('formats', () => {
  const doc = (): Document => ({
    _id: new ObjectId('65a1b2c3d4e5f60718293a4b'),
    int: new Int32(7),
    long: Long.fromString('9007199254740993'),
    double: new Double(2),
    fraction: new Double(1.5),
    decimal: Decimal128.fromString('1234.5678901234567890'),
    date: new Date('2024-05-01T12:34:56.789Z'),
    binary: new Binary(Buffer.from([0, 1, 2, 250]), 0),
    uuid: new UUID('5c1be206-4810-4131-a527-b9ead80e9f75'),
    ts: new Timestamp({ t: 1714564800, i: 3 }),
    nested: { list: [new Int32(1), 'two', null, true] },
    text: 'line\nbreak "quoted"',
  });

  test('json: relaxed Extended JSON, one event per line, parses back to what was written', async () => {
    const db = uniqueDbName('fmt_json');
    const since = await clusterTime(client);
    await client.db(db).collection('c').insertOne(doc());
    const result = await tail(['--since', since, '--format', 'json', `${db}.c`]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const [line = ''] = lines;
    expect(line).not.toContain('\u001b[');
    const event = EJSON.parse(line, { relaxed: true }) as Document;
    // Field order as the server writes it.
    expect(Object.keys(event)).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
    ]);
    // Relaxed JSON keeps what JSON can carry: compare with the relaxed round trip of the input.
    const expected = EJSON.parse(EJSON.stringify(doc(), { relaxed: true }), {
      relaxed: true,
    }) as Document;
    expect(event.fullDocument).toEqual(expected);
    // Relaxed Extended JSON writes an Int64 as a plain number; its digits stay exact.
    expect(line).toContain('"long":9007199254740993,');
    expect(line).toContain('"date":{"$date":"2024-05-01T12:34:56.789Z"}');
  });

  test('canonical: round-trips Long, Decimal128, Date, ObjectId, Binary… byte for byte', async () => {
    const db = uniqueDbName('fmt_canonical');
    const since = await clusterTime(client);
    await client.db(db).collection('c').insertOne(doc());
    const result = await tail(['--since', since, '-f', 'canonical', `${db}.c`]);
    expect(result.code).toBe(0);
    const event = EJSON.parse(result.stdout.trimEnd(), { relaxed: false }) as Document;
    const written = BSON.serialize(doc());
    const read = BSON.serialize(event.fullDocument as Document);
    expect(Buffer.from(read).toString('hex')).toBe(Buffer.from(written).toString('hex'));
    expect(result.stdout).toContain('"int":{"$numberInt":"7"}');
    expect(result.stdout).toContain('"double":{"$numberDouble":"2.0"}');
  });

  test('pretty: one line per event, no colour when not a terminal; colour on a terminal', async () => {
    const db = uniqueDbName('fmt_pretty');
    const since = await clusterTime(client);
    const c = client.db(db).collection<AnyDoc>('c');
    await c.insertOne({ _id: 1, a: 'x' });
    await c.updateOne({ _id: 1 }, { $set: { a: 'y' } });
    await c.deleteOne({ _id: 1 });
    const plain = await tail(['--since', since, '--format', 'pretty', `${db}.c`]);
    expect(plain.code).toBe(0);
    const lines = plain.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(plain.stdout).not.toContain('\u001b[');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d\d\d +insert +.*\.c/);
    expect(lines[1]).toMatch(/update/);
    expect(lines[2]).toMatch(/delete/);
    const tty = await runCli(['--uri', testUri(), '--until', 'now', '--since', since, `${db}.c`], {
      stdoutIsTTY: true,
    });
    expect(tty.stdout).toContain('\u001b[');
    expect(tty.stdout.trimEnd().split('\n')).toHaveLength(3);
    const noColor = await runCli(
      ['--uri', testUri(), '--until', 'now', '--since', since, `${db}.c`],
      {
        stdoutIsTTY: true,
        env: { NO_COLOR: '1' },
      },
    );
    expect(noColor.stdout).not.toContain('\u001b[');
    expect(noColor.stdout).toBe(plain.stdout);
  });
});
