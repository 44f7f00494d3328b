// The awaitable hello of MongoDB 4.4+ and the exhaust stream built on it. A hello that carries
// the `topologyVersion` the client last saw and `maxAwaitTimeMS` is held until the topology
// changes or the time is up; sent with OP_MSG `exhaustAllowed`, its reply has `moreToCome` and
// the server keeps answering, unasked, on that connection until it closes. See
// mongodb/specifications source/server-discovery-and-monitoring/server-monitoring.md
// ("Streaming protocol", "Server-side awaitable hello"), mongod's CmdHello
// (src/mongo/db/repl/replication_info.cpp) and jstests/noPassthrough/awaitable_hello.js, whose
// error codes (for a mongod, not a mongos) are the ones below.
import { type Document, Double, Int32, Long, ObjectId } from 'bson';
import { fail } from './errors.js';
import { topologyOf } from './topology.js';
import type { CommandContext } from './types.js';

const HELLO_NAMES: ReadonlySet<string> = new Set(['hello', 'isMaster', 'ismaster']);
/** setTimeout's ceiling; a longer wait would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface TopologyVersion {
  readonly processId: ObjectId;
  readonly counter: Long;
}

/**
 * Holds an awaitable hello until the server's topology moves past the client's, `maxAwaitTimeMS`
 * passes or the connection closes; returns at once for a plain hello. Throws mongod's errors for
 * a malformed request.
 */
export async function awaitHello(cmd: Document, ctx: CommandContext): Promise<void> {
  const request = awaitableRequest(cmd);
  if (!request) return;
  const topo = topologyOf(ctx.server);
  const { processId, counter } = request.topologyVersion;
  // Another process's version (a restarted server) or an older one: answer now.
  if (!processId.equals(topo.processId) || counter.lessThan(topo.counter)) return;
  if (counter.greaterThan(topo.counter)) {
    fail(
      31382,
      `Received a topology version with counter: ${counter.toString()} which is greater than ` +
        `the server topology version counter: ${topo.counter.toString()}`,
    );
  }
  await topo.waitForChange(Math.min(request.maxAwaitTimeMS, MAX_TIMER_MS), ctx.connection);
}

/**
 * The request the server answers next on an exhaust hello stream, or `undefined` when `reply`
 * ends it. Like mongod's synthetic exhaust request it is the last one with the reply's
 * topologyVersion in place of the client's; a failed hello ends the stream.
 */
export function nextExhaustHello(request: Document, reply: Document): Document | undefined {
  if (!isAwaitableHello(request)) return undefined;
  if (Number(reply.ok) !== 1 || reply.topologyVersion === undefined) return undefined;
  return { ...request, topologyVersion: reply.topologyVersion as Document };
}

/** Whether `cmd` asks for an awaitable hello (it may still be malformed). */
export function isAwaitableHello(cmd: Document): boolean {
  return HELLO_NAMES.has(Object.keys(cmd)[0] ?? '') && cmd.maxAwaitTimeMS !== undefined;
}

interface AwaitableRequest {
  readonly topologyVersion: TopologyVersion;
  readonly maxAwaitTimeMS: number;
}

/** The awaitable part of a hello, validated; `undefined` for a plain hello. */
function awaitableRequest(cmd: Document): AwaitableRequest | undefined {
  const tv: unknown = cmd.topologyVersion;
  const max: unknown = cmd.maxAwaitTimeMS;
  if (tv === undefined && max === undefined) return undefined;
  // A client sends topologyVersion if and only if it sends maxAwaitTimeMS.
  if (tv === undefined)
    fail(31368, "A request with 'maxAwaitTimeMS' must include a 'topologyVersion'");
  if (max === undefined)
    fail(31368, "A request with a 'topologyVersion' must include 'maxAwaitTimeMS'");
  const ms = integer(max);
  if (ms === undefined)
    fail(14, "BSON field 'maxAwaitTimeMS' is the wrong type, expected a number");
  if (ms < 0) fail(31373, 'maxAwaitTimeMS must be a non-negative integer');
  if (typeof tv !== 'object' || tv === null || Array.isArray(tv)) {
    fail(10065, "BSON field 'topologyVersion' is the wrong type, expected an object");
  }
  const { processId, counter, ...extra } = tv as Document;
  const unknown = Object.keys(extra)[0];
  if (unknown !== undefined)
    fail(40415, `BSON field 'TopologyVersion.${unknown}' is an unknown field.`);
  if (processId === undefined || counter === undefined) {
    fail(40414, "BSON field 'TopologyVersion.processId' and 'counter' are required");
  }
  if (!(processId instanceof ObjectId))
    fail(14, "BSON field 'TopologyVersion.processId' is the wrong type");
  if (!(counter instanceof Long))
    fail(14, "BSON field 'TopologyVersion.counter' is the wrong type");
  if (counter.isNegative()) fail(31372, 'topologyVersion must have a non-negative counter');
  return { topologyVersion: { processId, counter }, maxAwaitTimeMS: ms };
}

function integer(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (value instanceof Int32) return value.value;
  if (value instanceof Double) return Number.isInteger(value.value) ? value.value : undefined;
  if (value instanceof Long) return value.toNumber();
  return undefined;
}
