// `runOnRequirements` of the unified test format, evaluated against what the server under test
// really reports (buildInfo.versionArray, hello), never against what it claims to emulate.

export type Topology = 'single' | 'replicaset' | 'sharded' | 'load-balanced';
export type Version = [number, number, number];

/** What the runner learned about the deployment before running any test. */
export interface ServerFacts {
  version: Version;
  topology: Topology;
  /** Atlas Serverless; only known from configuration (MONGO_TAIL_CONFORMANCE_SERVERLESS). */
  serverless: boolean;
  /** Whether the connection string carries credentials. */
  auth: boolean;
}

export interface RunOnRequirement {
  minServerVersion?: string;
  maxServerVersion?: string;
  topologies?: string[];
  serverless?: 'require' | 'forbid' | 'allow';
  auth?: boolean;
  [key: string]: unknown;
}

export type RunOnVerdict = { ok: true } | { ok: false; reason: string };

/** Parses `major[.minor[.patch]]`, dropping any pre-release suffix (`4.9.0-alpha4` → 4.9.0). */
export function parseVersion(text: string): Version {
  const parts = text.split('.').slice(0, 3);
  const numbers = parts.map((part) => {
    const digits = /^\d+/.exec(part);
    if (!digits) throw new Error(`invalid version string "${text}"`);
    return Number(digits[0]);
  });
  return [numbers[0] ?? 0, numbers[1] ?? 0, numbers[2] ?? 0];
}

/** Compares component by component, numerically (4.0.10 > 4.0.9). */
export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

export function formatVersion(v: Version): string {
  return v.join('.');
}

/** Why `req` is not met by `facts`, or undefined when it is met. */
export function unmetReason(req: RunOnRequirement, facts: ServerFacts): string | undefined {
  const server = formatVersion(facts.version);
  if (req.minServerVersion !== undefined) {
    if (compareVersions(facts.version, parseVersion(req.minServerVersion)) < 0) {
      return `needs server >= ${req.minServerVersion} (server is ${server})`;
    }
  }
  if (req.maxServerVersion !== undefined) {
    if (compareVersions(facts.version, parseVersion(req.maxServerVersion)) > 0) {
      return `needs server <= ${req.maxServerVersion} (server is ${server})`;
    }
  }
  if (req.topologies !== undefined) {
    // "sharded" accepts any sharded cluster; "sharded-replicaset" is its deprecated alias here.
    const wanted = req.topologies.map((t) => (t === 'sharded-replicaset' ? 'sharded' : t));
    if (!wanted.includes(facts.topology)) {
      return `needs topology ${req.topologies.join('|')} (server is ${facts.topology})`;
    }
  }
  if (req.serverless === 'require' && !facts.serverless) return 'needs Atlas Serverless';
  if (req.serverless === 'forbid' && facts.serverless) return 'not for Atlas Serverless';
  if (req.auth !== undefined && req.auth !== facts.auth) {
    return req.auth ? 'needs authentication' : 'needs authentication off';
  }
  // Requirements this runner cannot evaluate are treated as unmet: skipping is honest, running a
  // test whose precondition is unknown is not.
  const known = ['minServerVersion', 'maxServerVersion', 'topologies', 'serverless', 'auth'];
  for (const key of Object.keys(req)) {
    if (known.includes(key)) continue;
    if (key === 'csfle' && req[key] === false) continue;
    return `requirement "${key}" is not supported by this runner`;
  }
  return undefined;
}

/** A list of requirements is met when any one of them is; absent means no requirement. */
export function checkRunOn(reqs: RunOnRequirement[] | undefined, facts: ServerFacts): RunOnVerdict {
  if (reqs === undefined || reqs.length === 0) return { ok: true };
  const reasons: string[] = [];
  for (const req of reqs) {
    const reason = unmetReason(req, facts);
    if (reason === undefined) return { ok: true };
    reasons.push(reason);
  }
  return { ok: false, reason: [...new Set(reasons)].join('; or ') };
}

/** The newest schema version whose features this runner implements (the bundled schema's). */
export const SUPPORTED_SCHEMA: Version = [1, 7, 0];

/**
 * Whether a file's `schemaVersion` can be processed: same major, minor not newer than supported
 * (patch levels never change the format's structure).
 */
export function schemaSupported(schemaVersion: string): boolean {
  const [major, minor] = parseVersion(schemaVersion);
  return major === SUPPORTED_SCHEMA[0] && minor <= SUPPORTED_SCHEMA[1];
}
