// MongoDB's error codes, names and labels as a real server writes them. Handlers throw
// `ServerError`; the dispatcher turns it into `{ok: 0, errmsg, code, codeName, errorLabels?}`.
import type { Document } from 'bson';

/** Code → codeName, for the codes this server produces (from MongoDB's error_codes.yml). */
export const CODE_NAMES: Readonly<Record<number, string>> = {
  1: 'InternalError',
  2: 'BadValue',
  9: 'FailedToParse',
  11: 'UserNotFound',
  13: 'Unauthorized',
  14: 'TypeMismatch',
  18: 'AuthenticationFailed',
  16: 'InvalidLength',
  17: 'ProtocolError',
  20: 'IllegalOperation',
  26: 'NamespaceNotFound',
  27: 'IndexNotFound',
  28: 'PathNotViable',
  40: 'ConflictingUpdateOperators',
  43: 'CursorNotFound',
  47: 'NoMatchingDocument',
  48: 'NamespaceExists',
  50: 'MaxTimeMSExpired',
  52: 'DollarPrefixedFieldName',
  56: 'EmptyFieldName',
  59: 'CommandNotFound',
  66: 'ImmutableField',
  67: 'CannotCreateIndex',
  72: 'InvalidOptions',
  73: 'InvalidNamespace',
  76: 'NoReplicationEnabled',
  85: 'IndexOptionsConflict',
  86: 'IndexKeySpecsConflict',
  89: 'NetworkTimeout',
  91: 'ShutdownInProgress',
  96: 'OperationFailed',
  112: 'WriteConflict',
  118: 'NamespaceNotSharded',
  133: 'FailedToSatisfyReadPreference',
  136: 'CappedPositionLost',
  166: 'CommandNotSupportedOnView',
  189: 'PrimarySteppedDown',
  234: 'RetryChangeStream',
  237: 'CursorKilled',
  260: 'InvalidResumeToken',
  262: 'ExceededTimeLimit',
  280: 'ChangeStreamFatalError',
  286: 'ChangeStreamHistoryLost',
  334: 'MechanismUnavailable',
  10107: 'NotWritablePrimary',
  10334: 'BSONObjectTooLarge',
  11000: 'DuplicateKey',
  11600: 'InterruptedAtShutdown',
  11601: 'Interrupted',
  11602: 'InterruptedDueToReplStateChange',
  13388: 'StaleConfig',
  13435: 'NotPrimaryNoSecondaryOk',
  13436: 'NotPrimaryOrSecondary',
  40573: 'Location40573',
  40324: 'Location40324',
  40602: 'Location40602',
  40674: 'Location40674',
  50865: 'Location50865',
};

/** Codes after which a change-stream error carries `ResumableChangeStreamError` (see reference). */
export const RESUMABLE_CHANGE_STREAM_CODES: ReadonlySet<number> = new Set([
  6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150, 13388, 234, 133,
]);

/** A command failure with MongoDB's code, name and labels. */
export class ServerError extends Error {
  readonly code: number;
  readonly codeName: string;
  readonly errorLabels: string[];

  constructor(code: number, message: string, errorLabels: string[] = []) {
    super(message);
    this.code = code;
    this.codeName = CODE_NAMES[code] ?? `Location${code}`;
    this.errorLabels = errorLabels;
  }

  /** The reply body a real server sends for this error. */
  toReply(): Document {
    const reply: Document = {
      ok: 0,
      errmsg: this.message,
      code: this.code,
      codeName: this.codeName,
    };
    if (this.errorLabels.length > 0) reply.errorLabels = [...this.errorLabels];
    return reply;
  }
}

/** Throws a `ServerError`; reads well in handlers: `fail(26, 'ns does not exist')`. */
export function fail(code: number, message: string, labels?: string[]): never {
  throw new ServerError(code, message, labels);
}

/**
 * The error with `context` in front of its message, as mongod's `DBException::addContext`
 * writes it (`"<context> :: caused by :: <message>"`); code and labels stay.
 */
export function withContext(err: ServerError, context: string): ServerError {
  return new ServerError(err.code, `${context} :: caused by :: ${err.message}`, err.errorLabels);
}
