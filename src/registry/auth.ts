import { RegistryError } from "./errors.js";
import type { Credential, CredentialSource } from "./credentials.js";

/** One `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"`. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses the first challenge of a `WWW-Authenticate` header (RFC 7235 auth-params). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  const re = /\s*([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/gy;
  const rest = m[2] ?? "";
  let p: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (p = re.exec(rest)) !== null) {
    const key = (p[1] ?? "").toLowerCase();
    params[key] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : (p[3] ?? "");
  }
  return { scheme: (m[1] ?? "").toLowerCase(), params };
}

/** `repository:<name>:<actions>`, the token scope for one repository. */
export function repositoryScope(repository: string, actions: "pull" | "pull,push"): string {
  return `repository:${repository}:${actions}`;
}

/** Fetches a token endpoint; supplied by the transport so TLS and retry settings are shared. */
export type TokenFetcher = (req: { url: URL; method: "GET" | "POST"; authorization?: string; form?: Record<string, string> }) => Promise<{ status: number; body: Buffer }>;

interface CachedToken {
  value: string;
  expiresAt: number;
}

/** Tokens are renewed a little before their stated expiry so a request never carries a stale one. */
const EXPIRY_MARGIN_MS = 5_000;
/** The token spec's default lifetime when a token server does not say. */
const DEFAULT_TOKEN_SECONDS = 60;

function basic(c: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}

/**
 * Answers a registry's challenges: Basic with the stored credential, or the Bearer token
 * flow of the docker token spec, with tokens cached per scope set until they expire.
 * Concurrent requests for the same scopes share one token request.
 */
export class Authenticator {
  private challenge: Challenge | undefined;
  private credential: Promise<Credential | undefined> | undefined;
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly registry: string,
    private readonly credentials: CredentialSource | undefined,
    private readonly fetchToken: TokenFetcher,
  ) {}

  /** Records the challenge from a 401; tokens obtained for `scopes` before it are dropped. */
  setChallenge(header: string | undefined, scopes: readonly string[]): void {
    const c = header === undefined ? undefined : parseChallenge(header);
    if (c === undefined) return;
    this.challenge = c;
    this.tokens.delete(scopeKey(scopes));
  }

  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /** The Authorization header for a request needing `scopes`, or undefined if none is needed yet. */
  async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (c === undefined) return undefined;
    if (c.scheme === "basic") {
      const cred = await this.credential0();
      if (cred === undefined || !("password" in cred)) return undefined;
      return basic(cred);
    }
    if (c.scheme !== "bearer") {
      throw new RegistryError("not-implemented", `registry ${this.registry} asks for '${c.scheme}' authentication, which tbuild does not support`);
    }
    const key = scopeKey(scopes);
    let pending = this.tokens.get(key);
    const now = Date.now();
    if (pending !== undefined) {
      const t = await pending.catch(() => undefined);
      if (t === undefined || t.expiresAt <= now) pending = undefined;
    }
    if (pending === undefined) {
      pending = this.requestToken(c, scopes);
      this.tokens.set(key, pending);
      // A failed request is not cached, so the next call asks again.
      pending.catch(() => this.tokens.get(key) === pending && this.tokens.delete(key));
    }
    return `Bearer ${(await pending).value}`;
  }

  /** Checks a login: a token without repository scope, as `docker login` asks for. */
  async verifyLogin(): Promise<void> {
    if (this.challenge?.scheme === "bearer") await this.authorization([]);
  }

  private credential0(): Promise<Credential | undefined> {
    this.credential ??= this.credentials === undefined ? Promise.resolve(undefined) : this.credentials(this.registry);
    return this.credential;
  }

  private async requestToken(c: Challenge, scopes: readonly string[]): Promise<CachedToken> {
    const realm = c.params["realm"];
    if (realm === undefined) throw new RegistryError("failed-precondition", `registry ${this.registry} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError("failed-precondition", `registry ${this.registry} sent an invalid token realm`);
    }
    // The challenge may name extra scopes (some registries do); ask for the union.
    const all = [...new Set([...scopes, ...(c.params["scope"]?.split(" ").filter((s) => s !== "") ?? [])])];
    const service = c.params["service"];
    const cred = await this.credential0();
    let res: { status: number; body: Buffer };
    if (cred !== undefined && "identityToken" in cred) {
      // OAuth2 refresh-token grant: how registries accept the `identitytoken` of a docker login.
      const form: Record<string, string> = { grant_type: "refresh_token", refresh_token: cred.identityToken, client_id: "tbuild" };
      if (service !== undefined) form["service"] = service;
      if (all.length > 0) form["scope"] = all.join(" ");
      res = await this.fetchToken({ url, method: "POST", form });
    } else {
      if (service !== undefined) url.searchParams.set("service", service);
      for (const s of all) url.searchParams.append("scope", s);
      if (cred !== undefined) url.searchParams.set("account", cred.username);
      res = await this.fetchToken({ url, method: "GET", ...(cred === undefined ? {} : { authorization: basic(cred) }) });
    }
    const where = `${url.protocol}//${url.host}${url.pathname}`;
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError("permission-denied", `token server ${where} refused the ${cred === undefined ? "anonymous " : ""}request for ${this.registry} (${res.status})`, {
        status: res.status,
        hint: cred === undefined ? `log in with 'tbuild login ${this.registry}'` : `check the credentials stored for ${this.registry}; 'tbuild login ${this.registry}' replaces them`,
      });
    }
    if (res.status < 200 || res.status >= 300) {
      throw new RegistryError("unavailable", `token server ${where} answered ${res.status}`, { status: res.status, temporary: res.status >= 500 || res.status === 429 });
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(res.body.toString("utf8")) as typeof parsed;
    } catch {
      throw new RegistryError("unavailable", `token server ${where} sent a reply that is not JSON`, { temporary: true });
    }
    const value = typeof parsed.token === "string" && parsed.token !== "" ? parsed.token : parsed.access_token;
    if (typeof value !== "string" || value === "") throw new RegistryError("unavailable", `token server ${where} sent no token`);
    const seconds = typeof parsed.expires_in === "number" && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_SECONDS;
    return { value, expiresAt: Date.now() + Math.max(1_000, seconds * 1000 - EXPIRY_MARGIN_MS) };
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(" ");
}
