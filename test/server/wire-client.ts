// A byte-level client for tests: sends hand-built messages over a raw socket and reads replies,
// so the wire layer can be checked without a driver smoothing things over.
import * as net from 'node:net';
import { type Document, deserialize, serialize } from 'bson';
import { FrameReader, type Message, OP_MSG, OP_REPLY, encodeOpMsg, parseMessage } from './wire.js';

export class WireClient {
  private readonly reader = new FrameReader(Number.MAX_SAFE_INTEGER);
  // Whole reply frames, parsed only when read through `next()`: `nextRaw()` hands out the bytes
  // untouched, so a benchmark client can skip decoding.
  private readonly frames: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private nextId = 1;
  /** Resolves when the server closes the socket (or it errors). */
  readonly closed: Promise<void>;

  private constructor(
    private readonly socket: net.Socket,
    private readonly exact: boolean,
  ) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.reader.push(chunk)) this.frames.push(frame);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => undefined);
  }

  /**
   * Connects to `127.0.0.1:port`. Replies are decoded like a driver does (numbers as JS numbers)
   * unless `exact`, which keeps the server's BSON types (Int32, Double, Long objects).
   */
  static connect(port: number, opts: { exact?: boolean } = {}): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () =>
        resolve(new WireClient(socket, opts.exact ?? false)),
      );
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  requestId(): number {
    return this.nextId++;
  }

  /** Writes raw bytes. */
  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends `body` as an OP_MSG and returns its requestID. */
  sendMsg(body: Document, flagBits = 0, sequences?: Record<string, Document[]>): number {
    const requestID = this.requestId();
    this.send(encodeOpMsg({ requestID, body, flagBits, ...(sequences ? { sequences } : {}) }));
    return requestID;
  }

  /** The next reply, or `undefined` if none arrives within `timeoutMs` or the socket closes. */
  async next(timeoutMs = 2000): Promise<Message | undefined> {
    const frame = await this.nextRaw(timeoutMs);
    if (!frame) return undefined;
    const msg = parseMessage(frame);
    return this.exact ? msg : promote(msg);
  }

  /** The next reply's whole frame (header included), undecoded; `undefined` like `next`. */
  async nextRaw(timeoutMs = 2000): Promise<Buffer | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0 && !this.socket.destroyed) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.frames.shift();
  }

  /** Sends a command and returns its reply body (throws if none arrives). */
  async command(body: Document): Promise<Document> {
    this.sendMsg(body);
    const reply = await this.next();
    if (!reply || reply.opCode !== OP_MSG) throw new Error('no OP_MSG reply');
    return reply.body;
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

const plain = (doc: Document): Document => deserialize(serialize(doc));

function promote(msg: Message): Message {
  if (msg.opCode === OP_MSG) return { ...msg, body: plain(msg.body) };
  if (msg.opCode === OP_REPLY) return { ...msg, documents: msg.documents.map(plain) };
  return msg;
}
