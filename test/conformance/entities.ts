// The entity map of one test: clients (with their observed command events), databases,
// collections, change streams and saved values. Everything in it is closed after the test.
import { MongoClient, ReadConcern, ReadPreference, WriteConcern } from 'mongodb';
import type {
  ChangeStream,
  Collection,
  CommandFailedEvent,
  CommandStartedEvent,
  CommandSucceededEvent,
  Db,
  Document,
} from 'mongodb';
import type { EntityDescription } from './format.js';
import { nativeOptions } from './format.js';

export type CommandEventType =
  'commandStartedEvent' | 'commandSucceededEvent' | 'commandFailedEvent';

export type ObservedEvent =
  | { type: 'commandStartedEvent'; event: CommandStartedEvent }
  | { type: 'commandSucceededEvent'; event: CommandSucceededEvent }
  | { type: 'commandFailedEvent'; event: CommandFailedEvent };

export interface ClientEntity {
  kind: 'client';
  client: MongoClient;
  /** Command events kept per the entity's observeEvents / ignore rules, in order. */
  events: ObservedEvent[];
  recording: boolean;
}
export interface DatabaseEntity {
  kind: 'database';
  db: Db;
}
export interface CollectionEntity {
  kind: 'collection';
  collection: Collection;
}
export interface ChangeStreamEntity {
  kind: 'changeStream';
  stream: ChangeStream;
}
export interface ValueEntity {
  kind: 'value';
  value: unknown;
}
export type Entity =
  ClientEntity | DatabaseEntity | CollectionEntity | ChangeStreamEntity | ValueEntity;

/**
 * Commands whose events a unified runner never records (Command Logging and Monitoring spec,
 * "security"), unless observeSensitiveCommands is set.
 */
const SENSITIVE_COMMANDS = new Set([
  'authenticate',
  'saslstart',
  'saslcontinue',
  'getnonce',
  'createuser',
  'updateuser',
  'copydbgetnonce',
  'copydbsaslstart',
  'copydb',
]);
const HELLO_COMMANDS = new Set(['hello', 'ismaster']);

/** Whether a command event must be dropped for a client entity. */
export function ignoredCommand(
  commandName: string,
  command: Document | undefined,
  ignore: ReadonlySet<string>,
  observeSensitive: boolean,
): boolean {
  if (ignore.has(commandName) || commandName === 'configureFailPoint') return true;
  if (observeSensitive) return false;
  const lower = commandName.toLowerCase();
  if (SENSITIVE_COMMANDS.has(lower)) return true;
  // A hello carrying speculativeAuthenticate is sensitive; the driver redacts it to `{}`.
  return HELLO_COMMANDS.has(lower) && (!command || Object.keys(command).length === 0);
}

/** Applies a test's `uriOptions` to the suite's connection string (they override it). */
export function withUriOptions(uri: string, options: Document | undefined): string {
  if (!options || Object.keys(options).length === 0) return uri;
  const q = uri.indexOf('?');
  let base = q < 0 ? uri : uri.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : uri.slice(q + 1));
  if (!/^mongodb(\+srv)?:\/\/[^/]*\//.test(base)) base += '/';
  for (const [key, value] of Object.entries(nativeOptions(options))) {
    for (const existing of [...params.keys()]) {
      if (existing.toLowerCase() === key.toLowerCase()) params.delete(existing);
    }
    if (Array.isArray(value)) {
      for (const item of value) params.append(key, String(item));
    } else if (typeof value === 'object' && value !== null) {
      const pairs = Object.entries(value as Document).map(([k, v]) => `${k}:${String(v)}`);
      params.set(key, pairs.join(','));
    } else {
      params.set(key, String(value));
    }
  }
  return `${base}?${params.toString()}`;
}

/** readConcern / readPreference / writeConcern from the format's shapes to driver objects. */
export function commonOptions(options: Document | undefined): Document {
  const out: Document = {};
  if (!options) return out;
  for (const [key, value] of Object.entries(nativeOptions(options))) {
    if (key === 'readConcern') out[key] = ReadConcern.fromOptions({ readConcern: value });
    else if (key === 'writeConcern') out[key] = WriteConcern.fromOptions({ writeConcern: value });
    else if (key === 'readPreference') {
      const rp = value as { mode: string; tagSets?: Document[]; maxStalenessSeconds?: number };
      out[key] = new ReadPreference(rp.mode as never, rp.tagSets, {
        maxStalenessSeconds: rp.maxStalenessSeconds,
      });
    } else out[key] = value;
  }
  return out;
}

export class EntityMap {
  private readonly entities = new Map<string, Entity>();
  /** Set once cleanup began: a test body still running after its time limit adds nothing. */
  private closed = false;

  constructor(private readonly uri: string) {}

  /** Creates one `createEntities` element (clients connect before the test starts). */
  async create(description: EntityDescription): Promise<void> {
    const kinds = Object.keys(description);
    if (kinds.length !== 1) throw new Error(`entity must have exactly one key: ${kinds.join()}`);
    if (description.client) {
      const d = description.client;
      const supported = [
        'id',
        'uriOptions',
        'useMultipleMongoses',
        'observeEvents',
        'ignoreCommandMonitoringEvents',
        'observeSensitiveCommands',
      ];
      const unsupported = Object.keys(d).filter((k) => !supported.includes(k));
      if (unsupported.length) throw new Error(`client option(s) not supported: ${unsupported}`);
      const observe = new Set(d.observeEvents ?? []);
      for (const type of observe) {
        if (
          !['commandStartedEvent', 'commandSucceededEvent', 'commandFailedEvent'].includes(type)
        ) {
          throw new Error(`observing ${type} is not supported by this runner`);
        }
      }
      const ignore = new Set(d.ignoreCommandMonitoringEvents ?? []);
      const sensitive = d.observeSensitiveCommands === true;
      const client = new MongoClient(withUriOptions(this.uri, d.uriOptions), {
        monitorCommands: true,
        serverSelectionTimeoutMS: 10_000,
      });
      const entity: ClientEntity = { kind: 'client', client, events: [], recording: true };
      const keep = (type: CommandEventType, event: ObservedEvent['event'], command?: Document) => {
        if (!entity.recording || !observe.has(type)) return;
        if (ignoredCommand(event.commandName, command, ignore, sensitive)) return;
        entity.events.push({ type, event } as ObservedEvent);
      };
      client.on('commandStarted', (e) => keep('commandStartedEvent', e, e.command));
      client.on('commandSucceeded', (e) => keep('commandSucceededEvent', e));
      client.on('commandFailed', (e) => keep('commandFailedEvent', e));
      this.add(d.id, entity);
      await client.connect();
    } else if (description.database) {
      const d = description.database;
      const client = this.get(d.client, 'client').client;
      this.add(d.id, {
        kind: 'database',
        db: client.db(d.databaseName, commonOptions(d.databaseOptions)),
      });
    } else if (description.collection) {
      const d = description.collection;
      const db = this.get(d.database, 'database').db;
      const collection = db.collection(d.collectionName, commonOptions(d.collectionOptions));
      this.add(d.id, { kind: 'collection', collection });
    } else {
      throw new Error(`entity type "${kinds[0]}" is not supported by this runner`);
    }
  }

  add(id: string, entity: Entity): void {
    if (this.closed) throw new Error(`entity "${id}" created after the test was cleaned up`);
    if (this.entities.has(id)) throw new Error(`entity "${id}" already exists`);
    this.entities.set(id, entity);
  }

  has(id: string): boolean {
    return this.entities.has(id);
  }

  /** The entity `id`, checked to be of `kind`. */
  get<K extends Entity['kind']>(id: string, kind: K): Extract<Entity, { kind: K }>;
  get(id: string): Entity;
  get(id: string, kind?: Entity['kind']): Entity {
    const entity = this.entities.get(id);
    if (!entity) throw new Error(`no entity "${id}"`);
    if (kind && entity.kind !== kind)
      throw new Error(`entity "${id}" is a ${entity.kind}, not a ${kind}`);
    return entity;
  }

  /** The value `$$matchesEntity` compares with. */
  valueOf(id: string): unknown {
    const entity = this.get(id);
    return entity.kind === 'value' ? entity.value : entity;
  }

  clients(): [string, ClientEntity][] {
    return [...this.entities].filter((e): e is [string, ClientEntity] => e[1].kind === 'client');
  }

  stopRecording(): void {
    for (const [, entity] of this.clients()) entity.recording = false;
  }

  /** Closes change streams, then clients; never throws (a test's cleanup must not hang or fail). */
  async closeAll(): Promise<string[]> {
    this.closed = true;
    const problems: string[] = [];
    for (const [id, entity] of this.entities) {
      if (entity.kind !== 'changeStream') continue;
      await entity.stream.close().catch((e: unknown) => problems.push(`${id}: ${String(e)}`));
    }
    for (const [id, entity] of this.clients()) {
      await entity.client.close().catch((e: unknown) => problems.push(`${id}: ${String(e)}`));
    }
    this.entities.clear();
    return problems;
  }
}
