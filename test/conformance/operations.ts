// The entity and runner operations these change-stream files use, named and parameterised as
// the unified test format names them, each mapped onto the official driver's API.
import type { ChangeStream, ChangeStreamOptions, Document, MongoClient } from 'mongodb';
import type { EntityMap } from './entities.js';
import type { Operation } from './format.js';
import { nativeOptions } from './format.js';

/** A configured fail point, to be turned off after the test on the client that set it. */
export interface FailPointRecord {
  client: MongoClient;
  name: string;
}

export interface OperationContext {
  entities: EntityMap;
  failPoints: FailPointRecord[];
  /** Upper bound for one iterateUntilDocumentOrError (a real server answers in ~1 s). */
  iterateTimeoutMs: number;
}

/** An error raised by the runner itself: never satisfies an `expectError`. */
export class RunnerError extends Error {
  override name = 'RunnerError';
}

/** Rejects with a RunnerError after `ms`; the timer never keeps the process alive. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RunnerError(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  // The losing promise may still settle later: swallow that so it is not "unhandled".
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const CHANGE_STREAM_OPTIONS = [
  'batchSize',
  'fullDocument',
  'fullDocumentBeforeChange',
  'resumeAfter',
  'startAfter',
  'startAtOperationTime',
  'maxAwaitTimeMS',
  'collation',
  'comment',
  'showExpandedEvents',
];
const WRITE_OPTIONS = ['comment', 'bypassDocumentValidation', 'let'];
const UPDATE_OPTIONS = [...WRITE_OPTIONS, 'upsert', 'arrayFilters', 'hint', 'collation', 'sort'];

type Handler = (args: Document, op: Operation, ctx: OperationContext) => Promise<unknown>;

interface OperationSpec {
  /** Arguments the operation accepts; anything else is an error, as the format requires. */
  args: string[];
  required?: string[];
  run: Handler;
}

/** Splits `keys` off `args`; the rest become driver options (numbers made native). */
function take(args: Document, keys: string[]): [Document, Document] {
  const picked: Document = {};
  const rest: Document = {};
  for (const [k, v] of Object.entries(args)) (keys.includes(k) ? picked : rest)[k] = v;
  return [picked, nativeOptions(rest)];
}

/** Creates a change stream and makes sure its aggregate ran, without iterating it. */
async function createChangeStream(args: Document, op: Operation, ctx: OperationContext) {
  const entity = ctx.entities.get(op.object);
  const [{ pipeline }, options] = take(args, ['pipeline']);
  // Default decoding on purpose: `promoteValues: false` would tell an int from a double for
  // `$$type`, but it also turns error codes into Int32 objects and so breaks the driver's own
  // resume checks (`error.code === 43`).
  const watchOptions: ChangeStreamOptions = options;
  const stages = (pipeline ?? []) as Document[];
  let stream: ChangeStream;
  if (entity.kind === 'client') stream = entity.client.watch(stages, watchOptions);
  else if (entity.kind === 'database') stream = entity.db.watch(stages, watchOptions);
  else if (entity.kind === 'collection') stream = entity.collection.watch(stages, watchOptions);
  else throw new RunnerError(`createChangeStream on a ${entity.kind}`);
  // The driver runs the aggregate lazily; its cursorInit (kept for unified runners, untyped)
  // runs it now, as the format requires, without consuming a document.
  const cursor = (stream as unknown as { cursor: { cursorInit(): Promise<void> } }).cursor;
  try {
    await cursor.cursorInit();
  } catch (error) {
    await stream.close().catch(() => {});
    throw error;
  }
  if (!op.saveResultAsEntity) {
    // Still owned by the test, so it is closed with the others.
    ctx.entities.add(`__unsaved_stream_${Math.random().toString(36).slice(2)}`, {
      kind: 'changeStream',
      stream,
    });
  }
  return stream;
}

export const OPERATIONS: Record<string, OperationSpec> = {
  createChangeStream: {
    args: ['pipeline', ...CHANGE_STREAM_OPTIONS],
    required: ['pipeline'],
    run: createChangeStream,
  },
  iterateUntilDocumentOrError: {
    args: [],
    run: async (_args, op, ctx) => {
      const stream = ctx.entities.get(op.object, 'changeStream').stream;
      return withTimeout(stream.next(), ctx.iterateTimeoutMs, `iterating ${op.object}`);
    },
  },
  iterateOnce: {
    args: [],
    run: async (_args, op, ctx) => {
      const stream = ctx.entities.get(op.object, 'changeStream').stream;
      return withTimeout(stream.tryNext(), ctx.iterateTimeoutMs, `iterating ${op.object}`);
    },
  },
  close: {
    args: [],
    run: async (_args, op, ctx) => {
      const entity = ctx.entities.get(op.object);
      // The format: errors from closing a cursor are suppressed.
      if (entity.kind === 'changeStream') await entity.stream.close().catch(() => {});
      else if (entity.kind === 'client') await entity.client.close();
      else throw new RunnerError(`close on a ${entity.kind}`);
      return undefined;
    },
  },
  insertOne: {
    args: ['document', ...WRITE_OPTIONS],
    required: ['document'],
    run: async (args, op, ctx) => {
      const [{ document }, options] = take(args, ['document']);
      return ctx.entities.get(op.object, 'collection').collection.insertOne(document, options);
    },
  },
  insertMany: {
    args: ['documents', 'ordered', ...WRITE_OPTIONS],
    required: ['documents'],
    run: async (args, op, ctx) => {
      const [{ documents }, options] = take(args, ['documents']);
      return ctx.entities.get(op.object, 'collection').collection.insertMany(documents, options);
    },
  },
  updateOne: {
    args: ['filter', 'update', ...UPDATE_OPTIONS],
    required: ['filter', 'update'],
    run: async (args, op, ctx) => {
      const [{ filter, update }, options] = take(args, ['filter', 'update']);
      return ctx.entities
        .get(op.object, 'collection')
        .collection.updateOne(filter, update, options);
    },
  },
  updateMany: {
    args: ['filter', 'update', ...UPDATE_OPTIONS],
    required: ['filter', 'update'],
    run: async (args, op, ctx) => {
      const [{ filter, update }, options] = take(args, ['filter', 'update']);
      const collection = ctx.entities.get(op.object, 'collection').collection;
      return collection.updateMany(filter, update, options);
    },
  },
  replaceOne: {
    args: ['filter', 'replacement', ...UPDATE_OPTIONS],
    required: ['filter', 'replacement'],
    run: async (args, op, ctx) => {
      const [{ filter, replacement }, options] = take(args, ['filter', 'replacement']);
      const collection = ctx.entities.get(op.object, 'collection').collection;
      return collection.replaceOne(filter, replacement, options);
    },
  },
  deleteOne: {
    args: ['filter', 'hint', 'collation', ...WRITE_OPTIONS],
    required: ['filter'],
    run: async (args, op, ctx) => {
      const [{ filter }, options] = take(args, ['filter']);
      return ctx.entities.get(op.object, 'collection').collection.deleteOne(filter, options);
    },
  },
  deleteMany: {
    args: ['filter', 'hint', 'collation', ...WRITE_OPTIONS],
    required: ['filter'],
    run: async (args, op, ctx) => {
      const [{ filter }, options] = take(args, ['filter']);
      return ctx.entities.get(op.object, 'collection').collection.deleteMany(filter, options);
    },
  },
  runCommand: {
    args: ['command', 'commandName', 'readPreference'],
    required: ['command', 'commandName'],
    run: async (args, op, ctx) => {
      const db = ctx.entities.get(op.object, 'database').db;
      const command = args['command'] as Document;
      // `commandName` exists for languages that lose key order; EJSON.parse keeps it.
      if (Object.keys(command)[0] !== args['commandName']) {
        throw new RunnerError(`runCommand: first key of command is not "${args['commandName']}"`);
      }
      const readPreference = args['readPreference'] as { mode?: string } | undefined;
      return db.command(
        command,
        readPreference?.mode ? { readPreference: readPreference.mode as never } : {},
      );
    },
  },
  createCollection: {
    args: [
      'collection',
      'viewOn',
      'pipeline',
      'capped',
      'size',
      'max',
      'changeStreamPreAndPostImages',
      'clusteredIndex',
      'timeseries',
      'expireAfterSeconds',
      'validator',
      'collation',
      'comment',
    ],
    required: ['collection'],
    run: async (args, op, ctx) => {
      const [{ collection }, options] = take(args, ['collection']);
      const db = ctx.entities.get(op.object, 'database').db;
      await db.createCollection(String(collection), options);
      return undefined;
    },
  },
  dropCollection: {
    args: ['collection', 'comment'],
    required: ['collection'],
    run: async (args, op, ctx) => {
      const [{ collection }, options] = take(args, ['collection']);
      const db = ctx.entities.get(op.object, 'database').db;
      return db.dropCollection(String(collection), options);
    },
  },
  createIndex: {
    args: ['keys', 'name', 'unique', 'sparse', 'expireAfterSeconds', 'hidden', 'comment'],
    required: ['keys'],
    run: async (args, op, ctx) => {
      const [{ keys }, options] = take(args, ['keys']);
      return ctx.entities.get(op.object, 'collection').collection.createIndex(keys, options);
    },
  },
  dropIndex: {
    args: ['name', 'comment'],
    required: ['name'],
    run: async (args, op, ctx) => {
      const [{ name }, options] = take(args, ['name']);
      const collection = ctx.entities.get(op.object, 'collection').collection;
      return collection.dropIndex(String(name), options);
    },
  },
  rename: {
    args: ['to', 'dropTarget', 'comment'],
    required: ['to'],
    run: async (args, op, ctx) => {
      const [{ to }, options] = take(args, ['to']);
      const collection = ctx.entities.get(op.object, 'collection').collection;
      await collection.rename(String(to), options);
      return undefined;
    },
  },
};

/** Operations on `object: testRunner`. */
export const RUNNER_OPERATIONS: Record<string, OperationSpec> = {
  failPoint: {
    args: ['client', 'failPoint'],
    required: ['client', 'failPoint'],
    run: async (args, _op, ctx) => {
      // Set through the named client entity, not the internal one (the format says so).
      const client = ctx.entities.get(String(args['client']), 'client').client;
      const failPoint = args['failPoint'] as Document;
      await client.db('admin').command(failPoint);
      ctx.failPoints.push({ client, name: String(failPoint['configureFailPoint']) });
      return undefined;
    },
  },
};

/** Runs one operation after checking its name and arguments; returns its result. */
export async function runOperation(op: Operation, ctx: OperationContext): Promise<unknown> {
  const table = op.object === 'testRunner' ? RUNNER_OPERATIONS : OPERATIONS;
  const spec = Object.hasOwn(table, op.name) ? table[op.name] : undefined;
  if (!spec) throw new RunnerError(`operation "${op.name}" is not supported by this runner`);
  const args = op.arguments ?? {};
  const unknown = Object.keys(args).filter((k) => !spec.args.includes(k));
  if (unknown.length) throw new RunnerError(`${op.name}: unsupported argument(s) ${unknown}`);
  const missing = (spec.required ?? []).filter((k) => !(k in args));
  if (missing.length) throw new RunnerError(`${op.name}: missing argument(s) ${missing}`);
  return spec.run(args, op, ctx);
}
