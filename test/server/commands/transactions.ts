// Multi-document transactions: the statements of a session's transaction (`autocommit: false`,
// `startTransaction: true` on the first), `commitTransaction` and `abortTransaction`.
//
// Isolation, simplified: a transaction works on a fork of the storage (Storage.fork) that copies
// each collection the first time the transaction touches it, so it reads its own writes and no
// one else's later ones (snapshot per collection, taken at first use rather than at the first
// statement). Other clients never see its writes before the commit. Writing a document another
// open transaction wrote, or one written by anyone since the fork copied its collection, fails
// with 112 WriteConflict + TransientTransactionError and aborts the transaction. A
// non-transactional write to a document a transaction holds is not blocked (a real server makes
// it wait); the transaction then fails with 112 at its commit.
//
// The commit writes the transaction's operations as one applyOps entry with the session's lsid
// and txnNumber: its events share one cluster time and count up txnOpIndex
// (jstests/change_streams/apply_ops.js, apply_ops_resumability.js). A read-only or aborted
// transaction writes nothing.
import type { Document, Long } from 'bson';
import { fail } from '../errors.js';
import type { Storage } from '../storage.js';
import type { CommandContext, CommandHandler, ServerState } from '../types.js';
import { idKey, isDocument } from '../values.js';
import { fullLsid, storageOf, txnNumberOf } from './crud.js';

type TxnState = 'inProgress' | 'committed' | 'aborted';

interface Txn {
  txnNumber: Long;
  state: TxnState;
  lsid: Document;
  fork: Storage;
}

/** Each server's sessions with a transaction: lsid.id key → its newest transaction. */
const SESSIONS = new WeakMap<ServerState, Map<string, Txn>>();

function sessionsOf(server: ServerState): Map<string, Txn> {
  let map = SESSIONS.get(server);
  if (!map) {
    map = new Map();
    SESSIONS.set(server, map);
  }
  return map;
}

/** Commands a transaction may run (the rest: 263, as in the server's command allow-list). */
const ALLOWED_IN_TXN: ReadonlySet<string> = new Set([
  'insert',
  'update',
  'delete',
  'findAndModify',
  'findandmodify',
  'find',
  'getMore',
  'killCursors',
  'distinct',
  'aggregate',
  'commitTransaction',
  'abortTransaction',
]);

const TRANSIENT = ['TransientTransactionError'];

/** True when a command belongs to a multi-document transaction and goes through `runInTransaction`. */
export function isTransactionCommand(name: string, body: Document): boolean {
  return (
    body.autocommit !== undefined ||
    body.startTransaction !== undefined ||
    name === 'commitTransaction' ||
    name === 'abortTransaction'
  );
}

function noSuchTransaction(txnNumber: Long, active?: Txn): never {
  const activeText = active
    ? ` The active transaction number is ${active.txnNumber.toString()}`
    : '';
  fail(
    251,
    `Given transaction number ${txnNumber.toString()} does not match any in-progress transactions.${activeText}`,
    TRANSIENT,
  );
}

function abort(txn: Txn, parent: Storage): void {
  if (txn.state !== 'inProgress') return;
  txn.state = 'aborted';
  parent.release(txn.fork);
}

/**
 * Runs one command of a transaction: checks the session's transaction state, then runs
 * `handler` against the transaction's storage fork. A failed statement aborts the transaction.
 */
export async function runInTransaction(
  name: string,
  body: Document,
  ctx: CommandContext,
  handler: CommandHandler,
): Promise<Document> {
  if (ctx.server.topology !== 'replset') {
    fail(20, 'Transaction numbers are only allowed on a replica set member or mongos');
  }
  const lsid: unknown = body.lsid;
  if (!isDocument(lsid) || lsid.id === undefined) {
    fail(50768, 'Transactions require a session ID (lsid)');
  }
  if (body.txnNumber === undefined)
    fail(50768, 'txnNumber may only be provided for multi-document transactions');
  if (body.autocommit !== false && name !== 'commitTransaction' && name !== 'abortTransaction') {
    fail(50768, 'Specifying autocommit=true is not allowed.');
  }
  if (!ALLOWED_IN_TXN.has(name)) {
    fail(263, `Cannot run '${name}' in a multi-document transaction.`);
  }
  const parent = storageOf(ctx);
  const sessions = sessionsOf(ctx.server);
  const key = idKey(lsid.id);
  const txnNumber = txnNumberOf(body.txnNumber);
  let txn = sessions.get(key);

  if (body.startTransaction === true) {
    if (txn && txn.txnNumber.greaterThan(txnNumber)) {
      fail(
        225,
        `Cannot start transaction ${txnNumber.toString()} on session ${key} because a newer transaction ${txn.txnNumber.toString()} has already started.`,
      );
    }
    if (txn?.txnNumber.equals(txnNumber)) {
      fail(
        251,
        `Transaction with { txnNumber: ${txnNumber.toString()} } has been already started`,
        TRANSIENT,
      );
    }
    if (txn) abort(txn, parent);
    txn = { txnNumber, state: 'inProgress', lsid: fullLsid(lsid), fork: parent.fork() };
    sessions.set(key, txn);
  } else if (!txn || !txn.txnNumber.equals(txnNumber)) {
    noSuchTransaction(txnNumber, txn);
  }

  if (name === 'commitTransaction') {
    if (txn.state === 'committed') return { ok: 1 }; // a retried commit
    if (txn.state === 'aborted') noSuchTransaction(txnNumber);
    txn.state = 'committed';
    try {
      parent.commitFork(txn.fork, { lsid: txn.lsid, txnNumber });
    } catch (e) {
      txn.state = 'aborted';
      throw e;
    }
    return { ok: 1 };
  }
  if (name === 'abortTransaction') {
    if (txn.state === 'committed') {
      fail(256, 'Transaction has been committed.');
    }
    if (txn.state === 'aborted') noSuchTransaction(txnNumber);
    abort(txn, parent);
    return { ok: 1 };
  }
  if (txn.state === 'committed') {
    fail(256, `Transaction ${txnNumber.toString()} has been committed.`);
  }
  if (txn.state === 'aborted') noSuchTransaction(txnNumber);

  const inTxn: CommandContext = { ...ctx, server: { ...ctx.server, storage: txn.fork } };
  const current = txn;
  try {
    const reply = await handler(body, inTxn);
    // A write error inside a transaction aborts it, as a thrown error does.
    if (Array.isArray(reply.writeErrors) && reply.writeErrors.length > 0) abort(current, parent);
    return reply;
  } catch (e) {
    abort(current, parent);
    throw e;
  }
}

/** The transaction commands proper (statements are routed by dispatch.ts). */
export const transactionCommands: Record<string, CommandHandler> = {
  // Reached only without autocommit/txnNumber: not part of any transaction.
  commitTransaction: () =>
    fail(50768, 'txnNumber may only be provided for multi-document transactions'),
  abortTransaction: () =>
    fail(50768, 'txnNumber may only be provided for multi-document transactions'),
};
