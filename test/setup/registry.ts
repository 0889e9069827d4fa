/**
 * Test helpers that run the real reference registry (`docker-registry`, the distribution
 * project's server from the OS package) on 127.0.0.1, with TLS, htpasswd or token auth,
 * plus the openssl-made certificates and the small token issuer those need.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createSign, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type Server } from "node:http";
import { get as httpsGet } from "node:https";
import { get as httpGet } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

export const exec = promisify(execFile);

export function tempDir(prefix = "tbuild-reg-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export interface Tls {
  /** The CA that signed the server certificate; clients trust this file. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1 and localhost, made with openssl. */
export async function makeTls(dir: string): Promise<Tls> {
  const p = (f: string) => join(dir, f);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await exec("openssl", ["req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "2", "-subj", "/CN=tbuild test CA"]);
  await exec("openssl", ["req", ...ec, "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=127.0.0.1"]);
  await writeFile(p("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await exec("openssl", ["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p("server.crt"), "-days", "2", "-extfile", p("san.ext")]);
  return { caFile: p("ca.crt"), certFile: p("server.crt"), keyFile: p("server.key") };
}

/** An htpasswd file (bcrypt, which is all the registry accepts) made by apache2-utils' htpasswd. */
export async function makeHtpasswd(dir: string, users: Record<string, string>): Promise<string> {
  const lines: string[] = [];
  for (const [user, pass] of Object.entries(users)) {
    const { stdout } = await exec("htpasswd", ["-Bbn", user, pass]);
    lines.push(stdout.trim());
  }
  const file = join(dir, "htpasswd");
  await writeFile(file, lines.join("\n") + "\n");
  return file;
}

export interface TokenAuthConfig {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
}

export interface RegistryServer {
  /** host:port, as it appears in image names. */
  host: string;
  port: number;
  scheme: "http" | "https";
  storage: string;
  stop(): Promise<void>;
}

export interface RegistryConfig {
  tls?: Tls;
  htpasswd?: string;
  token?: TokenAuthConfig;
}

/** Starts `docker-registry serve` with a generated config and waits until `/v2/` answers. */
export async function startRegistry(cfg: RegistryConfig = {}): Promise<RegistryServer> {
  const dir = await tempDir();
  const port = await freePort();
  const storage = join(dir, "storage");
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storage}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
  ];
  if (cfg.tls !== undefined) lines.push("  tls:", `    certificate: ${cfg.tls.certFile}`, `    key: ${cfg.tls.keyFile}`);
  if (cfg.htpasswd !== undefined) lines.push("auth:", "  htpasswd:", "    realm: tbuild-test", `    path: ${cfg.htpasswd}`);
  if (cfg.token !== undefined) {
    lines.push("auth:", "  token:", `    realm: ${cfg.token.realm}`, `    service: ${cfg.token.service}`, `    issuer: ${cfg.token.issuer}`, `    rootcertbundle: ${cfg.token.rootCertBundle}`);
  }
  const configFile = join(dir, "config.yml");
  await writeFile(configFile, lines.join("\n") + "\n");
  const child = spawn("docker-registry", ["serve", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const scheme = cfg.tls === undefined ? "http" : "https";
  await waitUntilUp(`${scheme}://127.0.0.1:${port}/v2/`, child, () => stderr);
  return {
    host: `127.0.0.1:${port}`,
    port,
    scheme,
    storage,
    stop: async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitUntilUp(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const get = url.startsWith("https") ? httpsGet : httpGet;
      const req = get(url, { rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`docker-registry did not answer ${url} within 20 s: ${stderr()}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

export interface TokenRequestLog {
  account: string | undefined;
  authenticated: boolean;
  scopes: string[];
}

export interface TokenIssuer {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
  /** Every token request, for asserting the scopes a client asked for. */
  requests: TokenRequestLog[];
  stop(): Promise<void>;
}

/**
 * A minimal docker token server: checks Basic credentials against `users`, grants
 * what `policy` allows, and signs RS256 JWTs whose x5c header carries the certificate
 * the registry trusts (its `rootcertbundle`).
 */
export async function startTokenIssuer(
  dir: string,
  o: { users: Record<string, string>; policy: (account: string | undefined, repo: string, actions: string[]) => string[]; expiresIn?: number },
): Promise<TokenIssuer> {
  const keyFile = join(dir, "token.key");
  const certFile = join(dir, "token.crt");
  await exec("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=tbuild test token issuer"]);
  const key = await readFile(keyFile, "utf8");
  const certPem = await readFile(certFile, "utf8");
  const der = certPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const service = "tbuild-test-registry";
  const issuer = "tbuild-test-issuer";
  const requests: TokenRequestLog[] = [];
  const b64url = (s: string | Buffer) => Buffer.from(s).toString("base64url");

  const server: Server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    let account: string | undefined;
    let authenticated = false;
    const auth = req.headers.authorization;
    if (auth?.startsWith("Basic ")) {
      const [user, ...rest] = Buffer.from(auth.slice(6), "base64").toString().split(":");
      if (user === undefined || o.users[user] !== rest.join(":")) {
        res.writeHead(401, { "content-type": "application/json" }).end('{"details":"bad credentials"}');
        return;
      }
      account = user;
      authenticated = true;
    }
    const scopes = url.searchParams.getAll("scope");
    requests.push({ account, authenticated, scopes });
    const access = scopes.flatMap((s) => {
      const [type, ...mid] = s.split(":");
      const actions = (mid.pop() ?? "").split(",");
      const name = mid.join(":");
      if (type !== "repository") return [];
      const granted = o.policy(account, name, actions).filter((a) => actions.includes(a));
      return granted.length === 0 ? [] : [{ type, name, actions: granted }];
    });
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = o.expiresIn ?? 300;
    const header = { typ: "JWT", alg: "RS256", x5c: [der] };
    const claims = { iss: issuer, sub: account ?? "", aud: service, exp: now + expiresIn, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign("RSA-SHA256").update(signingInput).sign(key);
    const token = `${signingInput}.${b64url(signature)}`;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: certFile,
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
