// The parts of the unified test format (schema 1.7) this runner reads. Files are parsed as
// canonical Extended JSON, so numbers arrive as Int32/Double/Long values (see `num`).
import type { Document } from 'bson';
import { numericValue } from './matcher.js';
import type { RunOnRequirement } from './requirements.js';

export interface TestFile {
  description: string;
  schemaVersion: string;
  runOnRequirements?: RunOnRequirement[];
  createEntities?: EntityDescription[];
  initialData?: CollectionData[];
  tests: TestCase[];
}

export interface CollectionData {
  collectionName: string;
  databaseName: string;
  createOptions?: Document;
  documents: Document[];
}

export interface TestCase {
  description: string;
  runOnRequirements?: RunOnRequirement[];
  skipReason?: string;
  operations: Operation[];
  expectEvents?: ExpectedEventsForClient[];
  outcome?: CollectionData[];
}

export interface Operation {
  name: string;
  object: string;
  arguments?: Document;
  expectResult?: unknown;
  expectError?: ExpectedError;
  saveResultAsEntity?: string;
  ignoreResultAndError?: boolean;
}

export interface ExpectedError {
  isError?: boolean;
  isClientError?: boolean;
  isTimeoutError?: boolean;
  errorContains?: string;
  errorCode?: unknown;
  errorCodeName?: string;
  errorLabelsContain?: string[];
  errorLabelsOmit?: string[];
  errorResponse?: Document;
  expectResult?: unknown;
  [key: string]: unknown;
}

export interface ExpectedEventsForClient {
  client: string;
  eventType?: 'command' | 'cmap' | 'sdam';
  events: Document[];
  ignoreExtraEvents?: boolean;
}

export interface ClientDescription {
  id: string;
  uriOptions?: Document;
  useMultipleMongoses?: boolean;
  observeEvents?: string[];
  ignoreCommandMonitoringEvents?: string[];
  observeSensitiveCommands?: boolean;
  [key: string]: unknown;
}

export interface DatabaseDescription {
  id: string;
  client: string;
  databaseName: string;
  databaseOptions?: Document;
}

export interface CollectionDescription {
  id: string;
  database: string;
  collectionName: string;
  collectionOptions?: Document;
}

export interface EntityDescription {
  client?: ClientDescription;
  database?: DatabaseDescription;
  collection?: CollectionDescription;
  [key: string]: unknown;
}

/** A number from the file (Int32/Double/Long after canonical parsing) as a JS number. */
export function num(value: unknown): number | undefined {
  const n = numericValue(value);
  return n === undefined ? undefined : Number(n);
}

/**
 * Driver options want plain JS numbers (`batchSize`, `maxAwaitTimeMS`, …): converts top-level
 * Int32/Double/Long values; documents inside options keep their BSON types.
 */
export function nativeOptions(options: Document): Document {
  const out: Document = {};
  for (const [key, value] of Object.entries(options)) {
    const n = typeof value === 'object' && value !== null ? numericValue(value) : undefined;
    out[key] = n === undefined ? value : Number(n);
  }
  return out;
}
