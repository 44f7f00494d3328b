// Runs unified-format test files against one deployment with the official driver: per test a
// fresh initialData, fresh entities, the operations with their assertions, the expected command
// events, fail points turned off, and every entity closed — under a hard time limit.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EJSON } from 'bson';
import { MongoClient, MongoOperationTimeoutError, MongoServerError } from 'mongodb';
import type { Document } from 'mongodb';
import { EntityMap } from './entities.js';
import type { ObservedEvent } from './entities.js';
import type {
  CollectionData,
  ExpectedError,
  ExpectedEventsForClient,
  Operation,
  TestCase,
  TestFile,
} from './format.js';
import { num } from './format.js';
import { isDocument, match, show } from './matcher.js';
import { RunnerError, runOperation, withTimeout } from './operations.js';
import type { FailPointRecord, OperationContext } from './operations.js';
import { checkRunOn, parseVersion, schemaSupported } from './requirements.js';
import type { ServerFacts, Topology } from './requirements.js';

export type Status = 'pass' | 'fail' | 'skip';

export interface TestResult {
  file: string;
  description: string;
  status: Status;
  reason?: string;
}

export interface RunnerOptions {
  uri: string;
  /** Only tests whose `file: description` contains this (case-insensitive) run. */
  filter?: string;
  testTimeoutMs?: number;
  iterateTimeoutMs?: number;
  /** Whether the deployment is Atlas Serverless (cannot be detected; default false). */
  serverless?: boolean;
  /** Called once per finished test (for live output). */
  onResult?: (result: TestResult) => void;
}

const MAJORITY = { writeConcern: { w: 'majority' as const } };

/** Reads version (buildInfo.versionArray) and topology (hello) from the server itself. */
export async function serverFacts(
  client: MongoClient,
  uri: string,
  serverless = false,
): Promise<ServerFacts> {
  const admin = client.db('admin');
  const build = await admin.command({ buildInfo: 1 });
  const hello = await admin.command({ hello: 1 });
  const array = build['versionArray'] as unknown[] | undefined;
  const version: ServerFacts['version'] = Array.isArray(array)
    ? [num(array[0]) ?? 0, num(array[1]) ?? 0, num(array[2]) ?? 0]
    : parseVersion(String(build['version']));
  let topology: Topology = 'single';
  if (/[?&]loadBalanced=true/i.test(uri)) topology = 'load-balanced';
  else if (hello['msg'] === 'isdbgrid') topology = 'sharded';
  else if (typeof hello['setName'] === 'string') topology = 'replicaset';
  const auth = /^mongodb(\+srv)?:\/\/[^/@]+@/i.test(uri);
  return { version, topology, serverless, auth };
}

/** The test files of a directory, by name; other files (LICENSE.md) are ignored. */
export function listTestFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Parses a test file as canonical Extended JSON (numbers keep their BSON types). */
export function loadTestFile(file: string): TestFile {
  return EJSON.parse(readFileSync(file, 'utf8'), { relaxed: false }) as unknown as TestFile;
}

/** Runs every selected test of every file in `dir`. */
export async function runDirectory(dir: string, options: RunnerOptions): Promise<TestResult[]> {
  const internal = new MongoClient(options.uri, { serverSelectionTimeoutMS: 10_000 });
  try {
    await internal.connect();
    const facts = await serverFacts(internal, options.uri, options.serverless);
    const results: TestResult[] = [];
    for (const file of listTestFiles(dir)) {
      results.push(...(await runFile(file, internal, facts, options)));
    }
    return results;
  } finally {
    await internal.close();
  }
}

function selected(fileName: string, description: string, filter: string | undefined): boolean {
  if (!filter) return true;
  return `${fileName}: ${description}`.toLowerCase().includes(filter.toLowerCase());
}

/** Runs one file's tests; a file that cannot be read counts as one failure. */
export async function runFile(
  file: string,
  internal: MongoClient,
  facts: ServerFacts,
  options: RunnerOptions,
): Promise<TestResult[]> {
  const name = path.basename(file, '.json');
  const results: TestResult[] = [];
  const report = (description: string, status: Status, reason?: string) => {
    const result: TestResult = { file: name, description, status, ...(reason ? { reason } : {}) };
    results.push(result);
    options.onResult?.(result);
  };
  let data: TestFile;
  try {
    data = loadTestFile(file);
    if (!Array.isArray(data.tests)) throw new Error('no "tests" array');
  } catch (error) {
    // Reported as one failure (its tests cannot be counted), unless the filter excludes it.
    if (selected(name, '(file)', options.filter)) {
      report('(file)', 'fail', `cannot load: ${(error as Error).message}`);
    }
    return results;
  }
  const tests = data.tests.filter((t) => selected(name, t.description, options.filter));
  if (!schemaSupported(String(data.schemaVersion))) {
    for (const t of tests) {
      report(t.description, 'fail', `schemaVersion ${data.schemaVersion} is newer than supported`);
    }
    return results;
  }
  const fileVerdict = checkRunOn(data.runOnRequirements, facts);
  for (const test of tests) {
    if (!fileVerdict.ok) {
      report(test.description, 'skip', fileVerdict.reason);
      continue;
    }
    if (test.skipReason !== undefined) {
      report(test.description, 'skip', test.skipReason);
      continue;
    }
    const verdict = checkRunOn(test.runOnRequirements, facts);
    if (!verdict.ok) {
      report(test.description, 'skip', verdict.reason);
      continue;
    }
    const failure = await runTest(data, test, internal, options);
    report(test.description, failure ? 'fail' : 'pass', failure);
  }
  return results;
}

/** Runs one test; returns the reason it failed, or undefined when it passed. */
export async function runTest(
  data: TestFile,
  test: TestCase,
  internal: MongoClient,
  options: RunnerOptions,
): Promise<string | undefined> {
  const entities = new EntityMap(options.uri);
  const failPoints: FailPointRecord[] = [];
  const ctx: OperationContext = {
    entities,
    failPoints,
    iterateTimeoutMs: options.iterateTimeoutMs ?? 10_000,
  };
  let failure: string | undefined;
  try {
    await withTimeout(
      (async () => {
        await step('initialData', () => setUpData(internal, data.initialData ?? []));
        await step('createEntities', async () => {
          for (const description of data.createEntities ?? []) await entities.create(description);
        });
        for (const [i, op] of test.operations.entries()) {
          try {
            await executeAndCheck(op, ctx);
          } catch (error) {
            throw new Error(`operation ${i} (${op.name} on ${op.object}): ${message(error)}`);
          }
        }
        entities.stopRecording();
        await step('disabling fail points', () => disableFailPoints(failPoints));
        for (const expected of test.expectEvents ?? []) checkEvents(expected, entities);
        for (const expected of test.outcome ?? []) await checkOutcome(internal, expected);
      })(),
      options.testTimeoutMs ?? 30_000,
      'test',
    );
  } catch (error) {
    failure = message(error);
  } finally {
    entities.stopRecording();
    // Cleanup has its own limit: a stuck close must not hang the whole run.
    const cleanup = (async () => {
      await disableFailPoints(failPoints);
      return entities.closeAll();
    })();
    const problems = await withTimeout(cleanup, 10_000, 'cleanup').catch((e: unknown) => [
      message(e),
    ]);
    if (problems.length && !failure) failure = `cleanup: ${problems.join('; ')}`;
  }
  return failure;
}

/** Runs a setup step, naming it in any error. */
async function step(name: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    throw new Error(`${name}: ${message(error)}`);
  }
}

function message(error: unknown): string {
  if (error instanceof MongoServerError) {
    return `${error.name} ${String(error.code)} (${error.codeName ?? '?'}): ${error.message}`;
  }
  if (!(error instanceof Error)) return String(error);
  return error.name === 'Error' ? error.message : `${error.name}: ${error.message}`;
}

/** initialData: drop, (create), insert — through the internal client, majority writes. */
async function setUpData(internal: MongoClient, collections: CollectionData[]): Promise<void> {
  for (const data of collections) {
    const db = internal.db(data.databaseName);
    for (const name of [
      data.collectionName,
      `enxcol_.${data.collectionName}.esc`,
      `enxcol_.${data.collectionName}.ecoc`,
    ]) {
      await db.dropCollection(name, MAJORITY);
    }
    if (data.createOptions || data.documents.length === 0) {
      await db.createCollection(data.collectionName, { ...data.createOptions, ...MAJORITY });
    }
    if (data.documents.length > 0) {
      await db.collection(data.collectionName).insertMany(data.documents, MAJORITY);
    }
  }
}

async function disableFailPoints(failPoints: FailPointRecord[]): Promise<void> {
  while (failPoints.length > 0) {
    const fp = failPoints.shift()!;
    await fp.client.db('admin').command({ configureFailPoint: fp.name, mode: 'off' });
  }
}

/** Runs one operation and applies expectError / expectResult / saveResultAsEntity. */
async function executeAndCheck(op: Operation, ctx: OperationContext): Promise<void> {
  let result: unknown;
  let error: unknown;
  let failed = false;
  try {
    result = await runOperation(op, ctx);
  } catch (e) {
    if (e instanceof RunnerError) throw e;
    error = e;
    failed = true;
  }
  if (op.ignoreResultAndError) return;
  if (op.expectError) {
    if (!failed) throw new Error(`expected an error, got result ${show(result)}`);
    const problems = checkError(op.expectError, error);
    if (problems.length) throw new Error(`${problems.join('; ')} — error was ${message(error)}`);
    return;
  }
  if (failed) throw error;
  if (op.expectResult !== undefined) {
    const problems = match(op.expectResult, toDocument(result), {
      entities: (id) => ctx.entities.valueOf(id),
    });
    if (problems.length) {
      throw new Error(`result mismatch: ${problems.slice(0, 5).join('; ')} (got ${show(result)})`);
    }
  }
  if (op.saveResultAsEntity) {
    if (result === undefined) throw new Error(`nothing to save as ${op.saveResultAsEntity}`);
    const isStream = op.name === 'createChangeStream';
    ctx.entities.add(
      op.saveResultAsEntity,
      isStream
        ? { kind: 'changeStream', stream: result as never }
        : { kind: 'value', value: result },
    );
  }
}

/** Model objects become documents (own enumerable fields) before matching. */
function toDocument(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || isDocument(value)) return value;
  if (Array.isArray(value) || '_bsontype' in value || value instanceof Date) return value;
  return { ...(value as Document) };
}

/** The `expectError` assertions; returns what did not hold. */
export function checkError(expected: ExpectedError, error: unknown): string[] {
  const problems: string[] = [];
  const known = [
    'isError',
    'isClientError',
    'isTimeoutError',
    'errorContains',
    'errorCode',
    'errorCodeName',
    'errorLabelsContain',
    'errorLabelsOmit',
    'errorResponse',
  ];
  for (const key of Object.keys(expected)) {
    if (!known.includes(key)) problems.push(`expectError.${key} is not supported by this runner`);
  }
  const server = error instanceof MongoServerError ? error : undefined;
  const err = error as {
    message?: string;
    code?: unknown;
    codeName?: string;
    hasErrorLabel?: (label: string) => boolean;
    errorLabels?: string[];
  };
  if (expected.isClientError !== undefined && expected.isClientError !== !server) {
    problems.push(expected.isClientError ? 'expected a client error' : 'expected a server error');
  }
  if (expected.isTimeoutError !== undefined) {
    const timeout = error instanceof MongoOperationTimeoutError;
    if (timeout !== expected.isTimeoutError) problems.push(`expected isTimeoutError ${!timeout}`);
  }
  if (expected.errorContains !== undefined) {
    const text = String(err?.message ?? '').toLowerCase();
    if (!text.includes(expected.errorContains.toLowerCase())) {
      problems.push(`message does not contain "${expected.errorContains}"`);
    }
  }
  if (expected.errorCode !== undefined) {
    const want = num(expected.errorCode);
    if (!server || num(server.code) !== want) {
      problems.push(
        `expected code ${want}, got ${server ? String(server.code) : 'no server error'}`,
      );
    }
  }
  if (expected.errorCodeName !== undefined) {
    const got = server?.codeName;
    if (!got || got.toLowerCase() !== expected.errorCodeName.toLowerCase()) {
      problems.push(`expected codeName ${expected.errorCodeName}, got ${got ?? 'none'}`);
    }
  }
  const hasLabel = (label: string) =>
    typeof err?.hasErrorLabel === 'function' ? err.hasErrorLabel(label) : false;
  for (const label of expected.errorLabelsContain ?? []) {
    if (!hasLabel(label)) problems.push(`expected label ${label} (labels: ${labelsOf(error)})`);
  }
  for (const label of expected.errorLabelsOmit ?? []) {
    if (hasLabel(label)) problems.push(`unexpected label ${label}`);
  }
  if (expected.errorResponse !== undefined) {
    const response = server?.errorResponse;
    const mismatches = response ? match(expected.errorResponse, response) : ['no server response'];
    problems.push(...mismatches.map((m) => `errorResponse ${m}`));
  }
  return problems;
}

function labelsOf(error: unknown): string {
  const labels = (error as { errorLabels?: unknown }).errorLabels;
  return Array.isArray(labels) && labels.length ? labels.join(',') : 'none';
}

/** The observed events of one client as readable lines, for failure messages. */
function describeEvents(events: ObservedEvent[]): string {
  return events
    .map((e) => {
      const cmd = e.type === 'commandStartedEvent' ? ` ${show(e.event.command)}` : '';
      return `${e.type}(${e.event.commandName}@${e.event.databaseName})${cmd}`;
    })
    .join(', ');
}

/** Asserts the number, order and contents of one client's observed command events. */
export function checkEvents(expected: ExpectedEventsForClient, entities: EntityMap): void {
  const eventType = expected.eventType ?? 'command';
  if (eventType !== 'command') throw new RunnerError(`${eventType} events are not supported`);
  const actual = entities.get(expected.client, 'client').events;
  const problems = matchEvents(expected.events, actual, expected.ignoreExtraEvents ?? false);
  if (problems.length) {
    throw new Error(
      `events of ${expected.client}: ${problems.slice(0, 5).join('; ')} — observed: ` +
        (describeEvents(actual) || 'none'),
    );
  }
}

/** Matches expected command events against observed ones (pure; exported for tests). */
export function matchEvents(
  expected: Document[],
  actual: ObservedEvent[],
  ignoreExtra: boolean,
): string[] {
  const problems: string[] = [];
  if (ignoreExtra ? actual.length < expected.length : actual.length !== expected.length) {
    problems.push(
      `expected ${ignoreExtra ? 'at least ' : ''}${expected.length} events, got ${actual.length}`,
    );
    if (actual.length < expected.length) return problems;
  }
  expected.forEach((want, i) => {
    const got = actual[i]!;
    const keys = Object.keys(want);
    const type = keys[0];
    if (keys.length !== 1 || !type) {
      problems.push(`event ${i}: expected event must have exactly one key`);
      return;
    }
    if (type !== got.type) {
      problems.push(`event ${i}: expected ${type}, got ${got.type} (${got.event.commandName})`);
      return;
    }
    const fields = want[type] as Document;
    for (const [key, value] of Object.entries(fields)) {
      const at = `event ${i} (${got.event.commandName})`;
      if (key === 'command' || key === 'reply') {
        const doc = key === 'command' ? commandOf(got) : replyOf(got);
        problems.push(...match(value, doc).map((m) => `${at} ${key}${m.slice(1)}`));
      } else if (key === 'commandName' || key === 'databaseName') {
        if (got.event[key] !== value) {
          problems.push(`${at} ${key}: expected ${String(value)}, got ${got.event[key]}`);
        }
      } else if (key === 'hasServiceId') {
        if ((got.event.serviceId !== undefined) !== value) problems.push(`${at} hasServiceId`);
      } else if (key === 'hasServerConnectionId') {
        const has = got.event.serverConnectionId != null;
        if (has !== value) problems.push(`${at} hasServerConnectionId`);
      } else {
        problems.push(`${at}: assertion "${key}" is not supported by this runner`);
      }
    }
  });
  return problems;
}

function commandOf(e: ObservedEvent): Document | undefined {
  return e.type === 'commandStartedEvent' ? e.event.command : undefined;
}

function replyOf(e: ObservedEvent): Document | undefined {
  return e.type === 'commandSucceededEvent' ? (e.event.reply as Document) : undefined;
}

/** `outcome`: the collection holds exactly these documents (by `_id`; key order free). */
async function checkOutcome(internal: MongoClient, expected: CollectionData): Promise<void> {
  const docs = await internal
    .db(expected.databaseName)
    .collection(expected.collectionName)
    .find({}, { sort: { _id: 1 }, readPreference: 'primary', readConcern: { level: 'local' } })
    .toArray();
  // Exact match: every document matched as a nested (non-root) document.
  const problems = match(expected.documents, docs, { root: false });
  if (problems.length) {
    throw new Error(
      `outcome of ${expected.databaseName}.${expected.collectionName}: ${problems.join('; ')}`,
    );
  }
}
