// Where a re-opened change stream continues: the drivers' change-stream spec (resume from the
// last event's `_id`, else the post-batch resume token; `startAfter` only until the first event
// came), kept as plain bookkeeping so it can be tested without a server.
import { Timestamp } from 'bson';
import type { ResumeToken, StartPosition } from '../options.js';

/** The position a stream would be re-opened from. */
export class ResumePosition {
  private position: StartPosition;
  private openedWith: StartPosition['kind'];
  private received = false;

  constructor(start: StartPosition) {
    this.position = start;
    this.openedWith = start.kind;
  }

  /** Where a new cursor would start now. */
  get current(): StartPosition {
    return this.position;
  }

  /** A cursor was opened from the current position. */
  opened(): void {
    this.openedWith = this.position.kind;
    this.received = false;
  }

  /** Events were handed over; `end` is the position after the last of them. */
  consumed(end: ResumeToken): void {
    this.received = true;
    this.position = { kind: 'resumeAfter', token: end };
  }

  /** An empty batch said where the stream stands (its post-batch resume token). */
  caughtUp(pbrt: ResumeToken): void {
    // Like the drivers: a stream started with startAfter keeps using it until an event came
    // (resumeAfter an invalidate token would fail).
    const kind = this.openedWith === 'startAfter' && !this.received ? 'startAfter' : 'resumeAfter';
    this.position = { kind, token: pbrt };
  }

  /** After an invalidate the next stream starts after its token. */
  invalidated(token: ResumeToken): void {
    this.position = { kind: 'startAfter', token };
  }
}

/**
 * The cluster time in a resume token: KeyString type byte 0x82 (Timestamp) then seconds and
 * increment as big-endian uint32s. Undefined when the token does not start that way.
 */
export function tokenTime(token: ResumeToken): Timestamp | undefined {
  const hex = token._data;
  if (!/^82[0-9a-f]{16}/i.test(hex)) return undefined;
  const t = Number.parseInt(hex.slice(2, 10), 16);
  const i = Number.parseInt(hex.slice(10, 18), 16);
  return new Timestamp({ t, i });
}
