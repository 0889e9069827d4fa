import { spawnGroup, waitExit } from "../child-process.js";
import { mkdir, readFile } from "node:fs/promises";
import { writeAtomic } from "../atomic-write.js";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { TbuildError, errnoCode } from "../errors.js";

/** What a registry login yields: a password, or an OAuth2 refresh token (`identitytoken`). */
export type Credential = { username: string; password: string } | { username?: string; identityToken: string };

/** Looks up the credential for one registry host; undefined means anonymous. */
export type CredentialSource = (registry: string) => Promise<Credential | undefined>;

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [other: string]: unknown;
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as the docker CLI does. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env["DOCKER_CONFIG"];
  return join(dir !== undefined && dir !== "" ? dir : join(homedir(), ".docker"), "config.json");
}

/** Docker Hub's credentials live under its historical index URL. */
const HUB_KEY = "https://index.docker.io/v1/";
const HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/**
 * The host[:port] an `auths`/`credHelpers` key names: keys may be bare hosts or URLs
 * (`https://host/v1/`). Matching is exact on this, never by suffix, so a credential for
 * `example.com` is not sent to `evil-example.com` or `a.example.com`.
 */
export function credentialHost(key: string): string {
  const bare = key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "").toLowerCase();
  return HUB_HOSTS.has(bare) ? "docker.io" : bare;
}

async function loadConfig(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return {};
    throw new TbuildError("failed-precondition", `cannot read docker config ${path} (${errnoCode(e) ?? "error"})`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    return parsed as DockerConfig;
  } catch {
    throw new TbuildError("failed-precondition", `docker config ${path} is not valid JSON`, { hint: "fix or remove the file" });
  }
}

function findKey<T>(record: Record<string, T> | undefined, host: string): [string, T] | undefined {
  if (record === undefined) return undefined;
  const want = credentialHost(host);
  return Object.entries(record).find(([k]) => credentialHost(k) === want);
}

function serverUrl(host: string): string {
  return credentialHost(host) === "docker.io" ? HUB_KEY : credentialHost(host);
}

/** Runs `docker-credential-<helper> <action>`; secrets go over stdin/stdout only, never argv. */
async function runHelper(helper: string, action: "get" | "store" | "erase", input: string): Promise<string> {
  if (!/^[A-Za-z0-9_.-]+$/.test(helper)) {
    throw new TbuildError("invalid-argument", `credential helper name '${helper}' is not valid`);
  }
  const bin = `docker-credential-${helper}`;
  const child = spawnGroup(bin, [action], { stdio: ["pipe", "pipe", "ignore"] });
  let stdout = "";
  child.stdout?.on("data", (c: Buffer) => {
    if (stdout.length < 1 << 20) stdout += c.toString("utf8");
  });
  child.stdin?.on("error", () => undefined);
  child.stdin?.end(input);
  // Waited on by exit, with a timeout: a helper that starts an agent (gpg, a keyring) must not keep tbuild waiting.
  const failed = (why: string): TbuildError =>
    new TbuildError("failed-precondition", `credential helper ${bin} ${why} during '${action}'`, {
      hint: "install the helper, or remove credsStore/credHelpers from your docker config",
    });
  const exit = await waitExit(child, { doing: `credential helper ${bin} ${action}`, timeoutMs: 30_000, drainMs: 1000 }).catch((e: unknown) => {
    // EACCES from a PATH search also means "not found here" when a PATH directory is unreadable.
    const code = errnoCode(e);
    throw code === "ENOENT" || code === "EACCES" ? failed("is not installed (or not executable) on PATH") : e;
  });
  if (exit.code === 0) return stdout;
  // The helper's output may contain secrets; only "not found" is read from it.
  if (/credentials not found/i.test(stdout)) return "";
  throw failed(`failed (exit status ${exit.code ?? exit.signal ?? "unknown"})`);
}

async function helperGet(helper: string, host: string): Promise<Credential | undefined> {
  const out = await runHelper(helper, "get", serverUrl(host));
  if (out.trim() === "") return undefined;
  const { Username, Secret } = JSON.parse(out) as { Username?: string; Secret?: string };
  if (typeof Secret !== "string" || Secret === "") return undefined;
  // By docker convention a helper returns a refresh token with the username "<token>".
  if (Username === "<token>") return { identityToken: Secret };
  return { username: Username ?? "", password: Secret };
}

function decodeAuth(entry: NonNullable<DockerConfig["auths"]>[string]): Credential | undefined {
  if (entry.identitytoken !== undefined && entry.identitytoken !== "") {
    return entry.username === undefined ? { identityToken: entry.identitytoken } : { username: entry.username, identityToken: entry.identitytoken };
  }
  if (entry.auth !== undefined && entry.auth !== "") {
    const plain = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = plain.indexOf(":");
    if (colon < 0) return undefined;
    return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

/** Credential lookup as the docker CLI does it: credHelpers, then credsStore, then auths. */
export function dockerCredentials(configPath: string = dockerConfigPath()): CredentialSource {
  return async (registry) => {
    const config = await loadConfig(configPath);
    const helper = findKey(config.credHelpers, registry)?.[1];
    if (helper !== undefined) return helperGet(helper, registry);
    if (config.credsStore !== undefined && config.credsStore !== "") {
      const fromStore = await helperGet(config.credsStore, registry);
      if (fromStore !== undefined) return fromStore;
    }
    const entry = findKey(config.auths, registry)?.[1];
    return entry === undefined ? undefined : decodeAuth(entry);
  };
}

/** Writes the config atomically with mode 0600: it holds secrets. */
async function saveConfig(path: string, config: DockerConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeAtomic(path, JSON.stringify(config, null, "\t") + "\n", 0o600);
}

/** Stores a login the way `docker login` does, in a helper when one is configured. */
export async function storeCredential(registry: string, username: string, password: string, configPath = dockerConfigPath()): Promise<void> {
  const config = await loadConfig(configPath);
  const helper = findKey(config.credHelpers, registry)?.[1] ?? (config.credsStore === "" ? undefined : config.credsStore);
  const auths = { ...(config.auths ?? {}) };
  const existing = findKey(auths, registry)?.[0];
  if (existing !== undefined) delete auths[existing];
  if (helper !== undefined) {
    await runHelper(helper, "store", JSON.stringify({ ServerURL: serverUrl(registry), Username: username, Secret: password }));
    auths[serverUrl(registry)] = {};
  } else {
    auths[serverUrl(registry)] = { auth: Buffer.from(`${username}:${password}`).toString("base64") };
  }
  await saveConfig(configPath, { ...config, auths });
}

/** Removes a login; false when there was none. */
export async function eraseCredential(registry: string, configPath = dockerConfigPath()): Promise<boolean> {
  const config = await loadConfig(configPath);
  const helper = findKey(config.credHelpers, registry)?.[1] ?? (config.credsStore === "" ? undefined : config.credsStore);
  const key = findKey(config.auths, registry)?.[0];
  if (helper !== undefined) await runHelper(helper, "erase", serverUrl(registry));
  if (key === undefined) return helper !== undefined;
  const auths = { ...config.auths };
  delete auths[key];
  await saveConfig(configPath, { ...config, auths });
  return true;
}
