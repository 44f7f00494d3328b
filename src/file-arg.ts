// Reading a file named on the command line (`--pipeline @file`, `--resume-after @file`, the
// token file, `mongo-tail token <file>`) with a size cap: `@/dev/zero` once grew to 5.6 GB
// (issue 8). The file is read in chunks and the read stops one byte past the cap.
import { closeSync, openSync, readSync } from 'node:fs';

/** The most an argument file may hold: far above any pipeline or token, far below memory. */
export const MAX_ARG_FILE_BYTES = 16 * 1024 * 1024;

/** A file over the cap; `limitText` is the cap for messages ("16 MiB"). */
export class FileTooLargeError extends Error {
  readonly limitText: string;

  constructor(readonly limit: number) {
    const limitText = limit % (1024 * 1024) === 0 ? `${limit / 1024 / 1024} MiB` : `${limit} bytes`;
    super(`larger than ${limitText}`);
    this.name = 'FileTooLargeError';
    this.limitText = limitText;
  }
}

/** Reads a whole file as UTF-8, at most `limit` bytes; FileTooLargeError past that. */
export function readFileCapped(path: string, limit = MAX_ARG_FILE_BYTES): string {
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, limit + 1 - total));
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      total += read;
      chunks.push(chunk.subarray(0, read));
      if (total > limit) throw new FileTooLargeError(limit);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
