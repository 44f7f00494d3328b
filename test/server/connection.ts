// One client socket: bytes in → whole messages → dispatch → reply bytes out. Messages on one
// connection are answered in order, one at a time (as mongod does); each connection runs
// independently, so a getMore waiting on one never holds up another.
import type { Socket } from 'node:net';
import { type Document, Double, Int32 } from 'bson';
import { CLOSE_CONNECTION, type DispatchResult, dispatchLegacy, dispatchMsg } from './dispatch.js';
import type { AuthenticatedUser, ConnectionInfo, ServerState } from './types.js';
import { isAwaitableHello, nextExhaustHello } from './awaitable-hello.js';
import {
  EXHAUST_ALLOWED,
  FrameReader,
  MORE_TO_COME,
  type Message,
  OP_MSG,
  OP_QUERY,
  type OpMsg,
  type OpQuery,
  ProtocolError,
  encodeOpMsg,
  encodeOpReply,
  parseMessage,
  readHeader,
} from './wire.js';

/**
 * Holds every connection's requests while the server "hangs" (`TestServer.hang`): sockets stay
 * open and bytes are read, but nothing is dispatched until the deadline passes.
 */
export class HangGate {
  private until = 0;
  private timer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];

  /** Stops answering for `ms` (replacing any earlier deadline); 0 resumes at once. */
  hang(ms: number): void {
    clearTimeout(this.timer);
    this.until = Date.now() + Math.max(0, ms);
    if (ms <= 0) this.release();
    else this.timer = setTimeout(() => this.release(), ms);
  }

  get hung(): boolean {
    return Date.now() < this.until;
  }

  /** Resolves once the server answers again (at once when it is not hung). */
  wait(): Promise<void> {
    if (!this.hung) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends any hang now (server stop). */
  release(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.until = 0;
    for (const resume of this.waiters.splice(0)) resume();
  }
}

let nextRequestId = 1;
const debug = (): boolean => Boolean(process.env.MONGO_TAIL_TEST_SERVER_DEBUG);

/** A client connection; also the `ConnectionInfo` handlers see. */
export class Connection implements ConnectionInfo {
  appName?: string;
  authenticatedUser?: AuthenticatedUser;
  /** `host:port` of the client, for `whatsmyuri`. */
  readonly remote: string;
  private isClosed = false;
  private isStreaming = false;
  private readonly reader = new FrameReader();
  private queue: Promise<void> = Promise.resolve();
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    readonly id: number,
    private readonly socket: Socket,
    private readonly server: ServerState,
    private readonly gate: HangGate = new HangGate(),
  ) {
    this.remote = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.markClosed());
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Whether this connection carries an exhaust hello stream: a driver's monitor. */
  get streaming(): boolean {
    return this.isStreaming;
  }

  /** Runs `listener` once the socket is gone (at once if it already is); returns its remover. */
  onClose(listener: () => void): () => void {
    if (this.isClosed) {
      listener();
      return () => undefined;
    }
    this.closeListeners.push(listener);
    return () => {
      const i = this.closeListeners.indexOf(listener);
      if (i >= 0) this.closeListeners.splice(i, 1);
    };
  }

  /** Destroys the socket: what a network failure looks like to the client. */
  close(): void {
    this.socket.destroy();
    this.markClosed();
  }

  /** Whether any bytes came yet (a TLS handshake is told apart by the first ones). */
  private sawData = false;

  private markClosed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const listener of this.closeListeners.splice(0)) listener();
  }

  private onData(chunk: Buffer): void {
    // A TLS ClientHello (a handshake record: 0x16, version 3.x) on a server without TLS: mongod
    // closes the connection ("SSL handshake received but server is started without SSL support")
    // rather than read it as a 33 MB message and wait for the rest.
    if (!this.sawData && chunk.length >= 2 && chunk[0] === 0x16 && chunk[1] === 0x03) {
      if (debug()) console.error(`[test-server] conn${this.id}: TLS handshake on a plain server`);
      this.close();
      return;
    }
    this.sawData = true;
    let frames: Buffer[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      if (debug()) console.error(`[test-server] conn${this.id}: ${(err as Error).message}`);
      this.close();
      return;
    }
    for (const frame of frames) {
      this.queue = this.queue.then(() => this.handle(frame));
    }
  }

  private async handle(frame: Buffer): Promise<void> {
    // A hung server reads requests but runs none; after the hang it answers them in order.
    if (this.gate.hung) await this.gate.wait();
    if (this.isClosed) return;
    let message: Message;
    try {
      message = parseMessage(frame);
    } catch (err) {
      this.replyToBadMessage(frame, err);
      return;
    }
    if (message.opCode !== OP_MSG && message.opCode !== OP_QUERY) {
      this.close(); // a server never receives OP_REPLY
      return;
    }
    let request = message.opCode === OP_MSG ? message.body : message.query;
    const exhaust = message.opCode === OP_MSG && (message.flagBits & EXHAUST_ALLOWED) !== 0;
    if (exhaust && isAwaitableHello(request)) this.isStreaming = true;
    let result = await this.run(message, request);
    let responseTo = message.header.requestID;
    for (;;) {
      if (result === undefined) return;
      // moreToCome: the client expects no answer (e.g. endSessions).
      if (message.opCode === OP_MSG && message.flagBits & MORE_TO_COME) return;
      // An exhaust hello's answer says moreToCome and the server answers again, unasked, each
      // reply responding to the one before (server-monitoring.md, "Streaming protocol").
      const next = exhaust ? nextExhaustHello(request, result) : undefined;
      // A reply finished while the server hangs (an awaiting getMore) waits too.
      if (this.gate.hung) await this.gate.wait();
      responseTo = this.reply(message.opCode, responseTo, result, next ? MORE_TO_COME : 0);
      if (next === undefined || this.isClosed) return;
      request = next;
      result = await this.run(message, request);
    }
  }

  /** Dispatches one command; `undefined` when the connection was closed instead. */
  private async run(message: OpMsg | OpQuery, body: Document): Promise<Document | undefined> {
    let result: DispatchResult;
    try {
      result =
        message.opCode === OP_MSG
          ? await dispatchMsg(body, this.server, this)
          : await dispatchLegacy(message.fullCollectionName, body, this.server, this);
    } catch (err) {
      // dispatch turns handler failures into replies; reaching here is a bug in the server.
      if (debug()) console.error(`[test-server] conn${this.id}:`, err);
      this.close();
      return undefined;
    }
    if (result === CLOSE_CONNECTION) {
      this.close();
      return undefined;
    }
    return result;
  }

  /** Sends `body` in answer to `responseTo`; returns the reply's own requestID. */
  private reply(
    opCode: typeof OP_MSG | typeof OP_QUERY,
    responseTo: number,
    body: Document,
    flagBits = 0,
  ): number {
    const requestID = nextRequestId++;
    const encode = (doc: Document): Buffer =>
      opCode === OP_MSG
        ? encodeOpMsg({ requestID, responseTo, flagBits, body: doc })
        : encodeOpReply({ requestID, responseTo, documents: [doc] });
    let bytes: Buffer;
    try {
      bytes = encode(body);
    } catch (err) {
      // A reply BSON cannot hold (e.g. too large): the client still gets an answer.
      bytes = encode({
        ok: new Double(0),
        errmsg: `cannot encode the reply: ${(err as Error).message}`,
        code: new Int32(1),
        codeName: 'InternalError',
      });
    }
    this.write(bytes);
    return requestID;
  }

  /** A message that framed correctly but does not parse: answer with its error, or hang up. */
  private replyToBadMessage(frame: Buffer, err: unknown): void {
    if (!(err instanceof ProtocolError) || err.fatal) {
      this.close();
      return;
    }
    const header = readHeader(frame);
    if (header.opCode !== OP_MSG && header.opCode !== OP_QUERY) {
      this.close();
      return;
    }
    const moreToCome =
      header.opCode === OP_MSG && frame.length >= 20 && frame.readUInt32LE(16) & MORE_TO_COME;
    if (moreToCome) return;
    this.reply(header.opCode, header.requestID, {
      ok: new Double(0),
      errmsg: err.message,
      code: new Int32(err.code),
      codeName: err.codeName,
    });
  }

  private write(bytes: Buffer): void {
    if (!this.isClosed) this.socket.write(bytes);
  }
}
