import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTooLargeError, MAX_ARG_FILE_BYTES, readFileCapped } from './file-arg.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-arg-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('reads a whole file as UTF-8, up to and including the cap', async () => {
  const path = join(dir, 'a.json');
  await writeFile(path, 'é'.repeat(50_000)); // 100,000 bytes: several chunks
  expect(readFileCapped(path)).toBe('é'.repeat(50_000));
  expect(readFileCapped(path, 100_000)).toBe('é'.repeat(50_000));
  expect(() => readFileCapped(path, 99_999)).toThrow(FileTooLargeError);
});

test('a file one byte over 16 MiB is refused', async () => {
  const path = join(dir, 'big.json');
  await writeFile(path, '');
  await truncate(path, MAX_ARG_FILE_BYTES + 1); // sparse: no disk used
  const error = (() => {
    try {
      return readFileCapped(path);
    } catch (e) {
      return e;
    }
  })();
  expect(error).toBeInstanceOf(FileTooLargeError);
  expect((error as FileTooLargeError).message).toBe('larger than 16 MiB');
});

test('an endless file (/dev/zero) stops one byte past the cap', () => {
  expect(() => readFileCapped('/dev/zero', 1000)).toThrow('larger than 1000 bytes');
});
