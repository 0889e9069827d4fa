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
