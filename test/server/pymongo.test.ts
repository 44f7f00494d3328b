// A second real client: Debian's pymongo 3.11 (wire version <= 9) writes, reads and follows a
// change stream on the test server. Skipped, with the reason printed, where pymongo is missing.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type TestServer, startTestServer } from './index.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./pymongo_check.py', import.meta.url));

/** Why pymongo cannot run here, or undefined when it can. */
function pymongoMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import pymongo; print(pymongo.version)'], {
    encoding: 'utf8',
  });
  if (probe.error) return `${PYTHON} cannot run: ${probe.error.message}`;
  if (probe.status !== 0) {
    return `pymongo is not importable by ${PYTHON} (install it: apt-get install -y python3-pymongo)`;
  }
  return undefined;
}

const missing = pymongoMissing();
if (missing) console.warn(`pymongo test skipped: ${missing}`);
const testIfPymongo = missing ? test.skip : test;

type Line = Record<string, unknown> & { kind: string };

function runScript(uri: string): Promise<{ lines: Line[]; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT, uri], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        const lines = out
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Line);
        resolve({ lines, code, stderr: err });
      } catch (e) {
        reject(new Error(`unparsable output: ${out}\n${err}\n${String(e)}`));
      }
    });
  });
}

/** Runs a Python snippet; resolves with its whole stdout and stderr. */
function runPython(code: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', () => resolve({ stdout, stderr }));
  });
}

describe('pymongo 3.11 against the test server', () => {
  let server: TestServer | undefined;

  afterAll(async () => {
    await server?.stop();
  });

  testIfPymongo(
    'connects, writes, reads and follows a change stream',
    async () => {
      server = await startTestServer();
      const { lines, code, stderr } = await runScript(server.uri);
      expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
      const of = (kind: string): Line[] => lines.filter((l) => l.kind === kind);

      expect(of('server')).toEqual([
        { kind: 'server', version: '8.0.4', setName: 'rs0', maxWireVersion: 25 },
      ]);
      expect(of('find')[0]!.docs).toEqual([
        { _id: 1, name: 'uno', tags: ['a', 'b'], n: 1 },
        { _id: 2, name: 'dos' },
      ]);
      expect(of('count')[0]!.n).toBe(2);
      expect(of('findAndModify')[0]!.doc).toEqual({ _id: 1, name: 'uno', tags: ['a', 'b'], n: 1 });

      const events = of('event');
      expect(events.map((e) => e.operationType)).toEqual([
        'insert',
        'insert',
        'insert',
        'update',
        'replace',
        'delete',
        'update',
      ]);
      expect(events.every((e) => e.hasToken === true)).toBe(true);
      expect(
        events.every((e) => JSON.stringify(e.ns) === '{"db":"pymongo_check","coll":"items"}'),
      ).toBe(true);
      expect(events.map((e) => e.documentKey)).toEqual([
        { _id: 1 },
        { _id: 2 },
        { _id: 3 },
        { _id: 1 },
        { _id: 2 },
        { _id: 3 },
        { _id: 1 },
      ]);
      expect(events[0]!.fullDocument).toEqual({ _id: 1, name: 'one', tags: ['a'] });
      expect(events[3]!.updateDescription).toEqual({
        updatedFields: { name: 'uno', 'tags.1': 'b' },
        removedFields: [],
        truncatedArrays: [],
      });
      // updateLookup: the document as it is when the event is read (after the later $inc).
      expect(events[3]!.fullDocument).toEqual({ _id: 1, name: 'uno', tags: ['a', 'b'], n: 1 });
      expect(events[4]!.fullDocument).toEqual({ _id: 2, name: 'dos' });
      expect(events[5]!.fullDocument).toBeNull();
      expect(events[6]!.updateDescription).toEqual({
        updatedFields: { n: 1 },
        removedFields: [],
        truncatedArrays: [],
      });
      expect(of('resumeToken')[0]!.present).toBe(true);
      expect(lines.at(-1)).toEqual({ kind: 'done' });
    },
    30_000,
  );

  testIfPymongo(
    'authenticates with SCRAM-SHA-256 and SCRAM-SHA-1, and fails with a wrong password',
    async () => {
      const authServer = await startTestServer({ auth: [{ user: 'alice', password: 'secret' }] });
      try {
        const base = `${authServer.host}:${authServer.port}/?replicaSet=rs0&authSource=admin`;
        const probe = [
          'import sys',
          'from pymongo import MongoClient',
          'from pymongo.errors import OperationFailure',
          'for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1", None):',
          `    uri = "mongodb://alice:secret@${base}" + ("&authMechanism=" + mech if mech else "")`,
          '    c = MongoClient(uri, serverSelectionTimeoutMS=5000)',
          '    c.pyauth.items.insert_one({"m": mech})',
          '    print(mech, c.pyauth.items.count_documents({"m": mech}))',
          '    c.close()',
          `c = MongoClient("mongodb://alice:wrong@${base}", serverSelectionTimeoutMS=5000)`,
          'try:',
          '    c.pyauth.items.find_one()',
          'except OperationFailure as e:',
          '    print("failed", e.code)',
        ].join('\n');
        // Not spawnSync: the server runs in this process and must keep answering.
        const run = await runPython(probe);
        expect(run).toEqual({
          stdout: 'SCRAM-SHA-256 1\nSCRAM-SHA-1 1\nNone 1\nfailed 18\n',
          stderr: '',
        });
      } finally {
        await authServer.stop();
      }
    },
    30_000,
  );
});
