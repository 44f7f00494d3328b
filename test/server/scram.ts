// The server side of SCRAM (RFC 5802; SHA-256 per RFC 7677) as MongoDB speaks it: the stored
// credential a user document holds, the server-first message, and the check of the client's
// proof. MongoDB's twist for SCRAM-SHA-1: the "password" is the hex MD5 of
// `user:mongo:password` (mongodb/specifications source/auth/auth.md, "SCRAM-SHA-1"); for
// SCRAM-SHA-256 it is the SASLprep'd password (auth.md, "SCRAM-SHA-256").
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export type ScramMechanism = 'SCRAM-SHA-1' | 'SCRAM-SHA-256';
export const SCRAM_MECHANISMS: readonly ScramMechanism[] = ['SCRAM-SHA-1', 'SCRAM-SHA-256'];

/** What a server keeps for one user and mechanism (RFC 5802 §3): never the password itself. */
export interface ScramCredential {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

interface Params {
  hash: 'sha1' | 'sha256';
  keyLength: number;
  saltLength: number;
  /** mongod's defaults: `scramIterationCount` 10000, `scramSHA256IterationCount` 15000. */
  iterations: number;
}

const PARAMS: Readonly<Record<ScramMechanism, Params>> = {
  'SCRAM-SHA-1': { hash: 'sha1', keyLength: 20, saltLength: 16, iterations: 10_000 },
  'SCRAM-SHA-256': { hash: 'sha256', keyLength: 32, saltLength: 28, iterations: 15_000 },
};

/**
 * The password SCRAM hashes. For SHA-256, NFKC normalization stands in for SASLprep (RFC 4013):
 * identical for the printable passwords tests use.
 */
function scramPassword(mechanism: ScramMechanism, user: string, password: string): string {
  if (mechanism === 'SCRAM-SHA-1') {
    return createHash('md5').update(`${user}:mongo:${password}`, 'utf8').digest('hex');
  }
  return password.normalize('NFKC');
}

/** Derives the stored credential for `user`/`password` with a fresh salt. */
export function scramCredential(
  mechanism: ScramMechanism,
  user: string,
  password: string,
): ScramCredential {
  const p = PARAMS[mechanism];
  const salt = randomBytes(p.saltLength);
  const salted = pbkdf2Sync(
    scramPassword(mechanism, user, password),
    salt,
    p.iterations,
    p.keyLength,
    p.hash,
  );
  const clientKey = hmac(p.hash, salted, 'Client Key');
  return {
    salt,
    iterations: p.iterations,
    storedKey: createHash(p.hash).update(clientKey).digest(),
    serverKey: hmac(p.hash, salted, 'Server Key'),
  };
}

function hmac(hash: string, key: Buffer, text: string): Buffer {
  return createHmac(hash, key).update(text, 'utf8').digest();
}

/** `a=1,b=2` → {a: '1', b: '2'}: a SCRAM message's attributes (values may contain `=`). */
export function parseAttributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

/** A SCRAM `saslname` decoded (RFC 5802 §5.1: `=2C` is `,` and `=3D` is `=`). */
export function decodeSaslName(name: string): string {
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** The server's nonce part: 24 random bytes in base64, appended to the client's nonce. */
export function serverNonce(): string {
  return randomBytes(24).toString('base64');
}

/**
 * Checks `ClientProof` (base64) against the stored key for `authMessage` (RFC 5802 §3):
 * ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and H(ClientKey) must be StoredKey.
 */
export function proofMatches(
  mechanism: ScramMechanism,
  cred: ScramCredential,
  authMessage: string,
  proofBase64: string,
): boolean {
  const { hash } = PARAMS[mechanism];
  const proof = Buffer.from(proofBase64, 'base64');
  const signature = hmac(hash, cred.storedKey, authMessage);
  if (proof.length !== signature.length) return false;
  const clientKey = Buffer.alloc(proof.length);
  for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ signature[i]!;
  return timingSafeEqual(createHash(hash).update(clientKey).digest(), cred.storedKey);
}

/** `ServerSignature = HMAC(ServerKey, AuthMessage)` in base64: the `v=` of server-final. */
export function serverSignature(
  mechanism: ScramMechanism,
  cred: ScramCredential,
  authMessage: string,
): string {
  return hmac(PARAMS[mechanism].hash, cred.serverKey, authMessage).toString('base64');
}
