// What a secondary refuses, as mongod's command dispatch does (execCommandDatabase in
// src/mongo/db/service_entry_point_common.cpp): writes always (10107 NotWritablePrimary),
// reads unless the request allows secondaries (13435 NotPrimaryNoSecondaryOk). Everything else
// (hello, getMore, killCursors, ping, ...) runs on any member.
import type { Document } from 'bson';
import { fail } from '../errors.js';
import { topologyOf } from '../topology.js';
import type { ServerState } from '../types.js';

/** Commands that write: a secondary answers them with 10107. */
const WRITE_COMMANDS: ReadonlySet<string> = new Set([
  'insert',
  'update',
  'delete',
  'findAndModify',
  'findandmodify',
  'create',
  'collMod',
  'drop',
  'dropDatabase',
  'renameCollection',
  'createIndexes',
  'dropIndexes',
  'deleteIndexes',
  'commitTransaction',
  'abortTransaction',
]);

/** Reads that run on a secondary only when the client allows it (`secondaryOk`). */
const READ_COMMANDS: ReadonlySet<string> = new Set([
  'find',
  'aggregate',
  'count',
  'distinct',
  'listCollections',
  'listIndexes',
  'listDatabases',
]);

/**
 * Whether an OP_MSG request allows a secondary: a `$readPreference` other than `primary`
 * (drivers send `primaryPreferred` on a direct connection, and nothing for `primary`).
 */
function secondaryOk(body: Document): boolean {
  const pref: unknown = body.$readPreference;
  if (typeof pref !== 'object' || pref === null) return false;
  const mode: unknown = (pref as Document).mode;
  return typeof mode === 'string' && mode !== 'primary';
}

/** Throws what a secondary answers to `name`, if it refuses it; a primary runs everything. */
export function checkMemberRole(name: string, body: Document, server: ServerState): void {
  if (topologyOf(server).writable) return;
  if (WRITE_COMMANDS.has(name)) fail(10107, 'not primary');
  if (READ_COMMANDS.has(name) && !secondaryOk(body)) {
    fail(13435, 'not primary and secondaryOk=false');
  }
}
