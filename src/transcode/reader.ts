// Little-endian integers read straight from the bytes (BSON is little-endian throughout).

/** Slicing methods every Node Buffer has (they back `buf.toString(encoding, start, end)` and
 * `buf.write`) but @types/node does not declare; calling them directly skips the argument checks. */
export interface SliceBuffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  base64Slice(start: number, end: number): string;
}

/** The signed 32-bit integer at `pos`. */
export function int32(buf: Uint8Array, pos: number): number {
  return buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24);
}

/** The unsigned 32-bit integer at `pos`. */
export function uint32(buf: Uint8Array, pos: number): number {
  return int32(buf, pos) >>> 0;
}
