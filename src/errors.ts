// Typed errors and the exit-code table. `main` is the only place that turns an error into an
// exit code; everything below it throws one of these (never calls process.exit).

/** The documented exit codes (README "Exit codes" shows the same table). */
export const ExitCode = {
  /** Done as asked: --limit, --until, --idle-timeout reached, or stdout closed (EPIPE). */
  Ok: 0,
  /** An unexpected error: a bug or a server error we do not classify. */
  Unexpected: 1,
  /** Bad arguments, environment or token file. */
  Usage: 2,
  /** Cannot connect or authenticate, or the deployment cannot stream (standalone). */
  Connect: 3,
  /** Cannot resume from the given position (history lost, token not found, invalid token). */
  Resume: 4,
  /** The stream was invalidated and --exit-on-invalidate was given. */
  Invalidated: 5,
  /** Stopped by SIGHUP (the terminal went away): the token is saved as for SIGTERM. */
  Sighup: 129,
  /** Stopped by SIGINT. */
  Sigint: 130,
  /** Stopped by SIGTERM. */
  Sigterm: 143,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error meant for the user: printed as one line (plus an optional hint), no stack. */
export class TailError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint?: string;

  constructor(message: string, exitCode: ExitCodeValue, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** A bad flag, value, combination, environment variable or input file. */
export class UsageError extends TailError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.Usage, hint);
  }
}

/** Cannot reach, authenticate to, or stream from the deployment. */
export class ConnectError extends TailError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.Connect, hint);
  }
}

/** The requested position cannot be resumed from (codes 286, 280, 260). */
export class ResumeError extends TailError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.Resume, hint);
  }
}

/** The stream was invalidated and the user asked to exit on it. */
export class InvalidatedError extends TailError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.Invalidated, hint);
  }
}

/** A file-system error in words for messages: "no such file", "permission denied", … */
export function describeFsError(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = String(error.code);
    if (code === 'ENOENT') return 'no such file or directory';
    if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
    if (code === 'EISDIR') return 'it is a directory';
    if (code === 'ENOTDIR') return 'a parent is not a directory';
    if (code === 'ENOSPC') return 'no space left on device';
    if (code === 'EROFS') return 'read-only file system';
    if (code === 'EDQUOT') return 'disk quota exceeded';
    if (code === 'EFBIG') return 'file too large';
    if (code === 'ELOOP') return 'too many levels of symbolic links';
    if (code === 'ENAMETOOLONG') return 'file name too long';
    if (code === 'EIO') return 'input/output error';
    if (code === 'EMFILE' || code === 'ENFILE') return 'too many open files';
    return code;
  }
  return typeof error === 'object' && error !== null && 'message' in error
    ? String(error.message)
    : String(error);
}
