// The contracts between the test server's layers. Data flows one way:
// bytes (wire.ts) → message (connection.ts) → command (commands/*) → store / oplog → reply.
// Every module below depends on these types, never on another layer's internals.
import type { Document, Long, Timestamp, UUID } from 'bson';
import type { ScramCredential, ScramMechanism } from './scram.js';

/** A command handler: the parsed command body (kind-1 sequences merged in) → reply body. */
export type CommandHandler = (cmd: Document, ctx: CommandContext) => Document | Promise<Document>;

/** What a handler knows about the request and the server it runs in. */
export interface CommandContext {
  /** `$db` of the request. */
  readonly db: string;
  /** The server-wide state every handler shares. */
  readonly server: ServerState;
  /** The connection the command arrived on. */
  readonly connection: ConnectionInfo;
}

export interface ConnectionInfo {
  readonly id: number;
  /** `client.application.name` from the handshake, for failCommand's `appName`. */
  appName?: string;
  /** Set once the client disconnects; awaiting getMores stop waiting. */
  readonly closed: boolean;
  /**
   * Runs `listener` once the client disconnects (at once if it has); returns a function that
   * unregisters it. Absent on the stand-in connections of handler unit tests.
   */
  onClose?(listener: () => void): () => void;
  /** The user this connection authenticated as (commands/auth.ts), if any. */
  authenticatedUser?: AuthenticatedUser;
}

/** A role as MongoDB names it: `{role: 'readWrite', db: 'a'}`. */
export interface RoleGrant {
  readonly role: 'root' | 'read' | 'readWrite' | 'readAnyDatabase' | 'readWriteAnyDatabase';
  readonly db: string;
}

export interface AuthenticatedUser {
  readonly user: string;
  /** The authentication database (`authSource`). */
  readonly db: string;
  readonly roles: readonly RoleGrant[];
}

/** A user as the server stores it: its SCRAM credentials per mechanism, no password. */
export interface UserRecord extends AuthenticatedUser {
  readonly credentials: Readonly<Record<ScramMechanism, ScramCredential>>;
}

/** `sharded`: a mongos in front of shards (topology/sharded.ts). */
export type TopologyKind = 'replset' | 'standalone' | 'sharded';

/** Everything shared by all connections of one server process. */
export interface ServerState {
  readonly topology: TopologyKind;
  /** Replica-set name (`rs0`), absent for a standalone. */
  readonly setName?: string;
  /** `host:port` as clients dial it. */
  readonly me: string;
  readonly storage: StorageApi;
  readonly oplog: OplogApi;
  readonly cursors: CursorRegistry;
  /**
   * Users by `db.user`, present when the server runs with authentication: then every command but
   * the handshake and SASL ones needs an authenticated connection (commands/auth.ts).
   */
  readonly users?: ReadonlyMap<string, UserRecord>;
  /**
   * A mongos: the commands it answers itself (routing to its shards, topology/mongos.ts), in
   * place of the shared handlers; absent on a mongod.
   */
  readonly router?: Readonly<Record<string, CommandHandler>>;
}

// ---------------------------------------------------------------- storage (storage.ts)

export interface CollectionOptions {
  /** `changeStreamPreAndPostImages: {enabled}` */
  changeStreamPreAndPostImages?: { enabled: boolean };
  viewOn?: string;
  pipeline?: Document[];
  capped?: boolean;
  size?: number;
  [key: string]: unknown;
}

export interface IndexSpec {
  v: number;
  key: Document;
  name: string;
  unique?: boolean;
  [key: string]: unknown;
}

/** One collection. Documents are owned copies: callers never see the stored objects. */
export interface CollectionApi {
  readonly db: string;
  readonly name: string;
  readonly uuid: UUID;
  readonly options: CollectionOptions;
  readonly indexes: IndexSpec[];
  /** Owned copies of every document in natural (insertion) order. */
  all(): Document[];
  findById(id: unknown): Document | undefined;
  readonly size: number;
}

export interface StorageApi {
  getCollection(db: string, coll: string): CollectionApi | undefined;
  listDatabases(): string[];
  listCollections(db: string): CollectionApi[];
}

// ---------------------------------------------------------------- oplog (oplog.ts)

/** The operations the oplog records; `noop` is the idle primary's periodic heartbeat write. */
export type OplogOp =
  | 'insert'
  | 'update'
  | 'replace'
  | 'delete'
  | 'create'
  | 'createIndexes'
  | 'dropIndexes'
  | 'modify'
  | 'drop'
  | 'rename'
  | 'dropDatabase'
  | 'applyOps'
  | 'noop'
  // Sharded clusters: the primary shard's no-op that announces a sharding DDL (expanded events).
  | 'shardCollection'
  | 'refineCollectionShardKey'
  | 'reshardCollection';

/**
 * One oplog entry as the storage layer appends it. It carries everything the change-stream
 * layer needs to build any event in any mode, as owned copies (never stored objects).
 */
export interface OplogEntryInput {
  op: OplogOp;
  db: string;
  /** Absent for dropDatabase and noop. */
  coll?: string;
  /** The collection's UUID (for rename: the renamed collection's). */
  uuid?: UUID;
  /** `{_id}` for document operations. */
  documentKey?: Document;
  /** insert/replace: the new document; update: the post-image (document after the write). */
  fullDocument?: Document;
  /**
   * update/replace/delete: the document before the write. Always captured by the storage layer;
   * the change-stream layer only exposes it when the collection had
   * `changeStreamPreAndPostImages.enabled` at the time of the write (see `imagesEnabled`).
   */
  preImage?: Document;
  /**
   * `fullDocument` and `preImage` as BSON, when the storage layer has them at hand (it serializes
   * every copy it makes): the change-event encoder copies these bytes instead of serializing the
   * documents again. Must hold exactly `serialize(fullDocument)` / `serialize(preImage)`.
   */
  fullDocumentBson?: Uint8Array;
  preImageBson?: Uint8Array;
  /** Whether pre-/post-images were enabled on the collection when this write happened. */
  imagesEnabled?: boolean;
  /** update: `{updatedFields, removedFields, truncatedArrays}` with dotted paths. */
  updateDescription?: {
    updatedFields: Document;
    removedFields: string[];
    truncatedArrays: { field: string; newSize: number }[];
  };
  /** rename: the target namespace; dropTarget: the UUID of the collection it replaced. */
  to?: { db: string; coll: string };
  dropTarget?: UUID;
  /** DDL details for expanded events: create/modify/createIndexes/dropIndexes. */
  operationDescription?: Document;
  /**
   * modify of a collection: the collMod entry's o2, as `{collectionOptions, indexOptions?}`
   * (`collectionOptions_old` / `indexOptions_old`): the event's `stateBeforeChange`.
   */
  stateBeforeChange?: Document;
  /**
   * Retryable writes / transactions: set on the inner operations of an `applyOps` written by a
   * transaction or a retryable vectored insert (the change event then carries both).
   */
  lsid?: Document;
  txnNumber?: Long;
  /**
   * applyOps: the operations it applies atomically, in order. They share the entry's cluster
   * time; each becomes one event whose token carries its `txnOpIndex`.
   */
  applyOps?: OplogEntryInput[];
  /** An inner operation of an applyOps: its position (the token's txnOpIndex). */
  txnOpIndex?: number;
  /**
   * A shard's write that is part of a migration or of a DDL another shard reports (sharded
   * clusters): change streams skip it (buildNotFromMigrateFilter, change_stream_filter_helpers.cpp).
   */
  fromMigrate?: boolean;
}

export interface OplogEntry extends OplogEntryInput {
  ts: Timestamp;
  wall: Date;
  /** applyOps: the inner operations, stamped with this entry's `ts` and `wall`. */
  applyOps?: OplogEntry[];
}

export interface OplogApi {
  /** Appends one entry, stamping it with the next cluster time; wakes waiting cursors. */
  append(entry: OplogEntryInput): OplogEntry;
  /** The newest cluster time (what `$clusterTime` / `operationTime` report). */
  readonly lastTimestamp: Timestamp;
  /** The oldest entry still held (bounded by `--oplog-size`), or undefined if empty. */
  readonly first: OplogEntry | undefined;
  /** Drops every entry older than `ts` (or all but the newest when omitted): a test handle. */
  truncate(before?: Timestamp): void;
}

// ---------------------------------------------------------------- cursors (commands/cursors.ts)

/** A server-side cursor: plain query cursors and change-stream cursors share the registry. */
export interface ServerCursor {
  readonly id: Long;
  /** `db.coll` as the reply's `cursor.ns` says it (`db.$cmd.aggregate` for db/cluster streams). */
  readonly ns: string;
  /** True for `$changeStream` cursors (fail points and error labels treat them differently). */
  readonly isChangeStream: boolean;
  /** Answers a getMore: returns the whole reply body (`{cursor: {nextBatch, id, ns, ...}, ok: 1}`). */
  getMore(cmd: Document, ctx: CommandContext): Promise<Document>;
  /** Releases resources; awaiting getMores return. */
  kill(): void;
}

export interface CursorRegistry {
  /** Allocates a fresh non-zero Int64 id. */
  nextId(): Long;
  add(cursor: ServerCursor): void;
  get(id: Long): ServerCursor | undefined;
  remove(id: Long): boolean;
}
