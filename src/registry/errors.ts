import { TbuildError, errnoCode, type ErrorCategory } from "../errors.js";

/** One entry of the distribution spec's error body: `{"errors":[{code,message,detail}]}`. */
export interface RegistryDiagnostic {
  code: string;
  message: string;
}

/**
 * A failed registry call. `temporary` drives retries (network trouble, 408, 429, 5xx,
 * a blob whose bytes did not match its digest); everything else is final.
 */
export class RegistryError extends TbuildError {
  readonly status: number | undefined;
  readonly diagnostics: readonly RegistryDiagnostic[];
  readonly temporary: boolean;
  /** Seconds from a 429/503 `Retry-After`, when the registry said how long to wait. */
  readonly retryAfter: number | undefined;

  constructor(
    category: ErrorCategory,
    message: string,
    o: { status?: number; diagnostics?: RegistryDiagnostic[]; temporary?: boolean; retryAfter?: number; hint?: string } = {},
  ) {
    super(category, message, o.hint === undefined ? {} : { hint: o.hint });
    this.name = "RegistryError";
    this.status = o.status;
    this.diagnostics = o.diagnostics ?? [];
    this.temporary = o.temporary ?? false;
    this.retryAfter = o.retryAfter;
  }
}

/**
 * A URL as it may appear in messages: no userinfo, no query (upload locations and
 * storage redirects carry signed state there) and no fragment.
 */
export function displayUrl(url: string | URL): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "<invalid url>";
  }
}

/** host:port of a URL, the port spelled out even when it is the scheme's default. */
function hostOf(url: string | URL): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port !== "" ? u.port : u.protocol === "http:" ? "80" : "443"}`;
  } catch {
    return "<invalid url>";
  }
}

/** Parses the distribution error body; anything else yields no diagnostics. */
export function parseDiagnostics(body: Uint8Array | undefined): RegistryDiagnostic[] {
  if (body === undefined || body.length === 0) return [];
  try {
    const parsed: unknown = JSON.parse(Buffer.from(body).toString("utf8"));
    const errors = (parsed as { errors?: unknown }).errors;
    if (!Array.isArray(errors)) return [];
    return errors.flatMap((e: unknown) => {
      if (typeof e !== "object" || e === null) return [];
      const { code, message } = e as { code?: unknown; message?: unknown };
      // Messages are capped: a hostile registry must not flood the terminal.
      return [{ code: typeof code === "string" ? code : "UNKNOWN", message: typeof message === "string" ? message.slice(0, 200) : "" }];
    });
  } catch {
    return [];
  }
}

const TEMPORARY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export function isTemporaryStatus(status: number): boolean {
  return TEMPORARY_STATUS.has(status);
}

function categoryOf(status: number): ErrorCategory {
  if (status === 401 || status === 403) return "permission-denied";
  if (status === 404) return "not-found";
  if (status === 409) return "already-exists";
  if (isTemporaryStatus(status)) return "unavailable";
  if (status === 400 || status === 405 || status === 413 || status === 415) return "failed-precondition";
  return "internal";
}

function hintFor(status: number, what: string): string | undefined {
  if (status === 401) return "log in with 'tbuild login <registry>' or check the credentials in your docker config";
  if (status === 403) return `the credentials in use may not ${what.startsWith("push") ? "push to" : "read"} this repository`;
  if (status === 404) return "check the repository name and tag";
  if (status === 429) return "the registry is rate limiting; try again later or log in for a higher limit";
  return undefined;
}

/** The error for a registry's non-success reply, naming the call, URL, status and codes. */
export function httpError(what: string, url: string | URL, status: number, body?: Uint8Array, retryAfterHeader?: string): RegistryError {
  const diagnostics = parseDiagnostics(body);
  const detail = diagnostics.length > 0 ? `: ${diagnostics.map((d) => (d.message === "" ? d.code : `${d.code}: ${d.message}`)).join("; ")}` : "";
  const retryAfter = retryAfterHeader !== undefined && /^\d+$/.test(retryAfterHeader) ? Number(retryAfterHeader) : undefined;
  const hint = hintFor(status, what);
  return new RegistryError(categoryOf(status), `${what}: ${displayUrl(url)} answered ${status}${detail}`, {
    status,
    diagnostics,
    temporary: isTemporaryStatus(status),
    ...(retryAfter === undefined ? {} : { retryAfter }),
    ...(hint === undefined ? {} : { hint }),
  });
}

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** True when TLS failed because the server speaks plain HTTP on that port. */
export function isPlainHttpServer(e: unknown): boolean {
  const code = errnoCode(e);
  const message = e instanceof Error ? e.message : "";
  return code === "ERR_SSL_WRONG_VERSION_NUMBER" || (code === "EPROTO" && /wrong version number|packet length too long/i.test(message));
}

/**
 * The error for a request that got no HTTP answer. Only the error code and the URL
 * without credentials are kept: the underlying error holds request headers.
 */
export function networkError(what: string, url: string | URL, e: unknown): RegistryError {
  if (e instanceof RegistryError) return e;
  const code = errnoCode(e) ?? "ERROR";
  const where = displayUrl(url);
  if (TLS_CODES.has(code)) {
    return new RegistryError("permission-denied", `${what}: TLS certificate of ${where} not trusted (${code})`, {
      hint: "pass the registry's CA with --ca-cert FILE (or SSL_CERT_FILE), or --insecure-registry HOST to skip verification",
    });
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return new RegistryError("unavailable", `${what}: cannot resolve the host of ${where} (${code})`, {
      temporary: code === "EAI_AGAIN",
      hint: "check the registry name and your DNS",
    });
  }
  if (code === "ECONNREFUSED") {
    // Nothing listens there: absent, not flaky, so it is final at once rather than after
    // a quarter of a minute of retries.
    const host = hostOf(url);
    return new RegistryError("unavailable", `${what}: connection refused: nothing is listening on ${host}`, {
      hint: `check that the registry is running and that the host and port (${host}) are right`,
    });
  }
  return new RegistryError("unavailable", `${what}: no answer from ${where} (${code})`, {
    temporary: true,
    hint: "check the network; tbuild retried before giving up",
  });
}
