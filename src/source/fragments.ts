// Events over 16 MB arrive in fragments when the stream ends with
// `$changeStreamSplitLargeEvent` (MongoDB 6.0.9+): each fragment carries its own `_id` (the
// event's token plus a fragment number), `splitEvent: {fragment, of}` and some of the event's
// top-level fields. The reassembled event holds every field once, in fragment order, under the
// LAST fragment's `_id`: resuming after it continues after the whole event, while a position
// inside the sequence would replay part of an event (so the loop never checkpoints there:
// a token saved mid-split has wedged connectors, estuary/connectors#5136).
import { ExitCode, TailError } from '../errors.js';
import { documentEnd, elementsOf } from './batch.js';

/** Collects the fragments of one split event; yields the whole event's BSON when complete. */
export class Reassembler {
  private parts: Buffer[] = [];
  private expected = 0;
  private received = 0;

  /** True while a sequence has started and not ended. */
  get pending(): boolean {
    return this.received > 0;
  }

  /** Takes fragment `split.fragment` of `split.of` (the document at `start`). */
  add(bytes: Buffer, start: number, split: { fragment: number; of: number }): Buffer | undefined {
    if (split.fragment !== this.received + 1 || (this.received > 0 && split.of !== this.expected)) {
      throw new TailError(
        `fragment ${split.fragment} of ${split.of} of a split event came after fragment ` +
          `${this.received}${this.received > 0 ? ` of ${this.expected}` : ''}`,
        ExitCode.Unexpected,
      );
    }
    this.expected = split.of;
    this.received += 1;
    let id: Buffer | undefined;
    for (const element of elementsOf(bytes, start)) {
      if (element.name === 'splitEvent') continue;
      const part = bytes.subarray(element.from, element.to);
      if (element.name === '_id') id = part;
      // Copied: the batch buffer these bytes live in is let go of after its batch.
      else this.parts.push(Buffer.from(part));
    }
    if (this.received < this.expected) {
      return undefined;
    }
    const body = id === undefined ? this.parts : [id, ...this.parts];
    this.parts = [];
    this.received = 0;
    this.expected = 0;
    return frame(body);
  }
}

/** A BSON document made of these elements. */
function frame(elements: Buffer[]): Buffer {
  const length = 4 + elements.reduce((sum, e) => sum + e.length, 0) + 1;
  const out = Buffer.allocUnsafe(length);
  out.writeInt32LE(length, 0);
  let at = 4;
  for (const element of elements) at += element.copy(out, at);
  out[at] = 0;
  documentEnd(out, 0); // a check of our own framing
  return out;
}
