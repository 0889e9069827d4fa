import { readFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { isIP } from "node:net";
import { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import got from "got";
import { TbuildError, errnoCode } from "../errors.js";
import { Authenticator, type TokenFetcher } from "./auth.js";
import { dockerCredentials, type CredentialSource } from "./credentials.js";
import { displayUrl, httpError, isPlainHttpServer, networkError } from "./errors.js";
import { withRetry, type RetryOptions } from "./retry.js";

/** Settings shared by every registry call. All optional; defaults suit a laptop and CI. */
export interface RegistryOptions extends RetryOptions {
  /** Where logins come from; default: the docker config ($DOCKER_CONFIG or ~/.docker). */
  credentials?: CredentialSource;
  /** Hosts (host[:port]) reached over plain HTTP or HTTPS without certificate checks. */
  insecureRegistries?: string[];
  /** Extra PEM CA bundles to trust; SSL_CERT_FILE is added when set. */
  caCertFiles?: string[];
  /** A request with no progress for this long is abandoned and retried (default 60 s). */
  timeoutMs?: number;
}

export interface Request {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** A path under the registry (`/v2/...`) or an absolute URL (an upload Location). */
  url: string;
  /** Token scopes the call needs, e.g. `repository:app:pull,push`. */
  scopes: readonly string[];
  /** Statuses the caller handles; anything else (after auth) becomes a RegistryError. */
  ok: readonly number[];
  /** What is being done, for messages: "pull manifest app:1". */
  what: string;
  headers?: Record<string, string>;
  /** Body, as a factory: a stream cannot be replayed after an auth challenge. */
  body?: () => Readable | Buffer;
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  /** The final URL, after redirects; relative Location headers resolve against it. */
  url: string;
  body: Readable;
}

export interface BufferedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  url: string;
  body: Buffer;
}

const ERROR_BODY_LIMIT = 64 * 1024;
const DOCKER_HUB_API = "registry-1.docker.io";

/** Docker's default: registries on loopback addresses may speak plain HTTP. */
export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (name === "localhost" || name === "::1") return true;
  return isIP(name) === 4 && name.startsWith("127.");
}

/** Reads at most `max` bytes; more is an error (a hostile server must not exhaust memory). */
export async function readCapped(body: Readable, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      body.destroy();
      throw new TbuildError("failed-precondition", `${what}: the reply is larger than ${max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function loadCaCerts(files: readonly string[]): string[] | undefined {
  if (files.length === 0) return undefined;
  const extra = files.map((f) => {
    try {
      return readFileSync(f, "utf8");
    } catch (e) {
      throw new TbuildError("invalid-argument", `cannot read CA certificate file ${f} (${errnoCode(e) ?? "error"})`);
    }
  });
  // Node's `ca` replaces the default roots; keep them so public registries still verify.
  return [...rootCertificates, ...extra];
}

/**
 * Speaks HTTP to one registry host: picks the scheme, answers auth challenges and
 * turns failures into RegistryErrors that never contain credentials.
 */
export class RegistryTransport {
  readonly auth: Authenticator;
  private base: Promise<string> | undefined;
  private readonly insecure: boolean;
  private readonly ca: string[] | undefined;

  constructor(
    /** The registry as written in image names (`docker.io`, `localhost:5000`). */
    readonly registry: string,
    readonly options: RegistryOptions = {},
  ) {
    this.insecure = (options.insecureRegistries ?? []).some((h) => h.toLowerCase() === registry.toLowerCase());
    const sslCertFile = process.env["SSL_CERT_FILE"];
    this.ca = loadCaCerts([...(options.caCertFiles ?? []), ...(sslCertFile !== undefined && sslCertFile !== "" ? [sslCertFile] : [])]);
    this.auth = new Authenticator(registry, options.credentials ?? dockerCredentials(), this.tokenFetcher());
  }

  /** One attempt at a request, including one round of answering an auth challenge. */
  async open(req: Request): Promise<Response> {
    const base = await this.endpoint();
    const url = new URL(req.url, base).toString();
    for (let round = 0; ; round++) {
      const authorization = await this.auth.authorization(req.scopes);
      const res = await this.send(req, url, authorization).catch((e: unknown) => {
        throw networkError(req.what, url, e);
      });
      if (res.status === 401 && round === 0) {
        res.body.resume();
        this.auth.setChallenge(headerValue(res.headers["www-authenticate"]), req.scopes);
        continue;
      }
      if (req.ok.includes(res.status)) return res;
      const body = await readCapped(res.body, ERROR_BODY_LIMIT, req.what).catch(() => undefined);
      throw httpError(req.what, res.url, res.status, body, headerValue(res.headers["retry-after"]));
    }
  }

  /** A small request with a buffered reply, one attempt (for callers that retry a whole sequence). */
  async once(req: Request, maxBytes = 4 * 1024 * 1024): Promise<BufferedResponse> {
    const res = await this.open(req);
    const body = await readCapped(res.body, maxBytes, req.what).catch((e: unknown) => {
      throw e instanceof TbuildError ? e : networkError(req.what, res.url, e);
    });
    return { status: res.status, headers: res.headers, url: res.url, body };
  }

  /** A small request with a buffered reply, retried on temporary failures. */
  call(req: Request, maxBytes?: number): Promise<BufferedResponse> {
    return withRetry(() => this.once(req, maxBytes), this.options);
  }

  /** Checks the registry answers and the stored login works (for `tbuild login`). */
  async verifyLogin(): Promise<void> {
    await this.endpoint();
    await this.auth.verifyLogin();
    await this.call({ method: "GET", url: "/v2/", scopes: [], ok: [200], what: `log in to ${this.registry}` });
  }

  /**
   * The base URL, found once per host by asking `/v2/` as Docker does: HTTPS, or plain
   * HTTP for loopback and --insecure-registry hosts when the server does not speak TLS.
   * The 401 of that ping also tells us how to authenticate.
   */
  endpoint(): Promise<string> {
    // Not retried here: every caller runs inside a retry loop, and nesting loops multiplies waits.
    this.base ??= this.ping().catch((e: unknown) => {
      this.base = undefined;
      throw e;
    });
    return this.base;
  }

  private async ping(): Promise<string> {
    const host = this.registry === "docker.io" ? DOCKER_HUB_API : this.registry;
    const mayUseHttp = this.insecure || isLoopback(host);
    const ping: Request = { method: "GET", url: "/v2/", scopes: [], ok: [], what: `connect to ${this.registry}` };
    let res: Response;
    let base = `https://${host}`;
    try {
      res = await this.send(ping, `${base}/v2/`, undefined);
    } catch (e) {
      if (!mayUseHttp || !isPlainHttpServer(e)) throw networkError(ping.what, `${base}/v2/`, e);
      base = `http://${host}`;
      res = await this.send(ping, `${base}/v2/`, undefined).catch((e2: unknown) => {
        throw networkError(ping.what, `${base}/v2/`, e2);
      });
    }
    res.body.resume();
    if (res.status === 401) this.auth.setChallenge(headerValue(res.headers["www-authenticate"]), []);
    else if (res.status !== 200) {
      throw httpError(`${ping.what} (is it a container registry?)`, `${base}/v2/`, res.status, undefined, headerValue(res.headers["retry-after"]));
    }
    return base;
  }

  /** Sends once. Rejects with the raw network error (callers classify it); body errors are RegistryErrors. */
  private send(req: Request, url: string, authorization: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { "user-agent": "tbuild", ...req.headers };
    if (authorization !== undefined) headers["authorization"] = authorization;
    const timeout = this.options.timeoutMs ?? 60_000;
    const stream = got.stream(url, {
      method: req.method,
      headers,
      // got's stream mode waits for a body on POST/PUT/PATCH; an empty one ends the request.
      ...(req.body !== undefined ? { body: req.body() } : req.method === "GET" || req.method === "HEAD" ? {} : { body: Buffer.alloc(0) }),
      throwHttpErrors: false,
      retry: { limit: 0 },
      // Only reads follow redirects (to blob storage); got drops Authorization on a host change.
      followRedirect: req.method === "GET" || req.method === "HEAD",
      decompress: false,
      timeout: { connect: timeout, secureConnect: timeout, socket: timeout, send: timeout, response: timeout },
      https: { rejectUnauthorized: !this.insecure, ...(this.ca === undefined ? {} : { certificateAuthority: this.ca }) },
      ...(this.options.signal === undefined ? {} : { signal: this.options.signal }),
    });
    return new Promise((resolve, reject) => {
      const onError = (e: unknown): void => reject(e);
      stream.once("error", onError);
      stream.once("response", (r: { statusCode: number; headers: IncomingHttpHeaders; url: string }) => {
        stream.off("error", onError);
        // Errors while the body streams (a reset, a stall) surface on the body, as RegistryErrors.
        const body = new Readable({ read: () => stream.resume() });
        stream.on("data", (c: Buffer) => {
          if (!body.push(c)) stream.pause();
        });
        stream.once("end", () => body.push(null));
        stream.once("error", (e: unknown) => body.destroy(networkError(req.what, r.url, e)));
        // A reader may attach after the body failed (it awaits other I/O first); it then
        // finds the error in `body.errored`, so an early error must not crash the process.
        body.on("error", () => undefined);
        body.once("close", () => {
          if (!stream.readableEnded) stream.destroy();
        });
        resolve({ status: r.statusCode, headers: r.headers, url: r.url, body });
      });
    });
  }

  private tokenFetcher(): TokenFetcher {
    // One attempt, like endpoint(): token requests happen inside the caller's retry loop.
    return async ({ url, method, authorization, form }) => {
      const what = `get a token for ${this.registry}`;
      const res = await this.send(
        {
          method,
          url: url.toString(),
          scopes: [],
          ok: [],
          what,
          headers: form === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" },
          ...(form === undefined ? {} : { body: () => Buffer.from(new URLSearchParams(form).toString()) }),
        },
        url.toString(),
        authorization,
      ).catch((e: unknown) => {
        throw networkError(what, url, e);
      });
      const body = await readCapped(res.body, 1024 * 1024, what);
      if (res.status >= 500 || res.status === 429) throw httpError(what, displayUrl(url), res.status);
      return { status: res.status, body };
    };
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * One transport per registry host, so every pull and push of a build shares the scheme
 * probe and cached tokens. Pass one to pullImage/pushImage when calling them repeatedly.
 */
export class RegistrySession {
  private readonly transports = new Map<string, RegistryTransport>();

  constructor(readonly options: RegistryOptions = {}) {}

  transport(registry: string): RegistryTransport {
    let t = this.transports.get(registry);
    if (t === undefined) {
      t = new RegistryTransport(registry, this.options);
      this.transports.set(registry, t);
    }
    return t;
  }
}
