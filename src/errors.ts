/**
 * Error categories, in the manner of containerd's errdefs: callers branch on
 * `category`, never on message text. Every error a user can meet is a TbuildError
 * so the CLI can print `message` (and `hint`) without a stack trace.
 */
export type ErrorCategory =
  | "invalid-argument"
  | "not-found"
  | "already-exists"
  | "failed-precondition"
  | "unavailable"
  | "permission-denied"
  | "not-implemented"
  | "internal";

export class TbuildError extends Error {
  readonly category: ErrorCategory;
  readonly hint: string | undefined;

  constructor(category: ErrorCategory, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TbuildError";
    this.category = category;
    this.hint = options.hint;
  }
}

export function isTbuildError(e: unknown, category?: ErrorCategory): e is TbuildError {
  return e instanceof TbuildError && (category === undefined || e.category === category);
}

/** Node system errors carry `code` (ENOENT, EACCES, ...); this reads it without `any`. */
export function errnoCode(e: unknown): string | undefined {
  if (typeof e === "object" && e !== null && "code" in e && typeof (e as { code: unknown }).code === "string") {
    return (e as { code: string }).code;
  }
  return undefined;
}

/** Turns an fs failure into a message naming the operation and the errno in words. */
export function ioError(e: unknown, doing: string, hint?: string): TbuildError {
  const code = errnoCode(e);
  const reason: Record<string, string> = {
    ENOSPC: "the disk is full",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EROFS: "the filesystem is read-only",
    ENOENT: "a file or directory is missing",
    EISDIR: "it is a directory",
    ENOTDIR: "a part of the path is not a directory",
    ELOOP: "too many symlinks",
    EXDEV: "the two directories are on different filesystems",
  };
  const why = (code !== undefined ? reason[code] : undefined) ?? (e instanceof Error ? e.message : String(e));
  const category = code === "EACCES" || code === "EPERM" ? "permission-denied" : code === "ENOENT" ? "not-found" : "unavailable";
  return new TbuildError(category, `${doing}: ${why}`, {
    cause: e,
    hint: hint ?? (code === "EACCES" || code === "EPERM" ? "check ownership of the directory, or choose another with --root or TBUILD_ROOT" : undefined),
  });
}

/**
 * A build stopped through its AbortSignal (`build({ signal })`, or Ctrl-C in the CLI).
 * Named "AbortError", as fetch and Node's own cancellable APIs name theirs, so
 * `e.name === "AbortError"` tells a cancellation from a failure.
 */
export class AbortError extends Error {
  readonly code = "ABORT_ERR";

  constructor(message = "the build was cancelled", options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AbortError";
  }
}

export function isAbortError(e: unknown): e is Error {
  return e instanceof Error && e.name === "AbortError";
}
