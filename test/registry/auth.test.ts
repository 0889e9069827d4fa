/**
 * Authentication against the real registry: htpasswd Basic auth behind TLS with a CA
 * made by openssl, and the docker token flow with a small test token issuer that the
 * registry is configured to trust.
 */
import { stat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginCommand } from "../../src/cli/commands/login.js";
import { logoutCommand } from "../../src/cli/commands/logout.js";
import { pullImage } from "../../src/store/registry-transfer.js";
import type { PushEvent } from "../../src/registry/push.js";
import { pushImage } from "../../src/store/registry-transfer.js";
import { RegistrySession } from "../../src/registry/transport.js";
import { openStore } from "../../src/store/image-store.js";
import { makeHtpasswd, makeTls, startRegistry, startTokenIssuer, tempDir, type RegistryServer, type TokenIssuer, type Tls } from "../setup/registry.js";
import { cli } from "./cli.js";
import { addToIndex, writeImage } from "./images.js";

async function storeWithImage(name: string, layerSizes = [30_000]) {
  const root = await tempDir();
  const desc = await writeImage(root, { layerSizes });
  await addToIndex(root, desc, name);
  return { store: await openStore(root), desc };
}

describe("htpasswd Basic auth behind TLS", () => {
  const password = "correct horse:battery";
  let tls: Tls;
  let registry: RegistryServer;
  let dockerConfig: string;
  beforeAll(async () => {
    const dir = await tempDir();
    tls = await makeTls(dir);
    registry = await startRegistry({ tls, htpasswd: await makeHtpasswd(dir, { alice: password }) });
    dockerConfig = await tempDir();
    process.env["DOCKER_CONFIG"] = dockerConfig;
  });
  afterAll(async () => {
    delete process.env["DOCKER_CONFIG"];
    await registry?.stop();
  });

  it("refuses a certificate it cannot verify, and says how to trust it", async () => {
    const { store } = await storeWithImage(`${registry.host}/app:1`);
    await expect(pushImage(store, `${registry.host}/app:1`, undefined, { retries: 0 })).rejects.toMatchObject({
      category: "permission-denied",
      message: expect.stringMatching(/TLS certificate of https:\/\/127\.0\.0\.1:\d+\/v2\/ not trusted/),
      hint: expect.stringContaining("--ca-cert"),
    });
    // --insecure-registry skips verification: the TLS error gives way to the registry's own 401.
    await expect(pushImage(store, `${registry.host}/app:1`, undefined, { retries: 0, insecureRegistries: [registry.host], credentials: async () => undefined })).rejects.toMatchObject({
      category: "permission-denied",
      status: 401,
    });
  });

  it("asks for a login when there are no credentials", async () => {
    const { store } = await storeWithImage(`${registry.host}/app:1`);
    await expect(pushImage(store, `${registry.host}/app:1`, undefined, { caCertFiles: [tls.caFile] })).rejects.toMatchObject({
      category: "permission-denied",
      hint: expect.stringContaining("tbuild login"),
    });
  });

  it("logs in, pushes and pulls with the saved login, and logs out", async () => {
    const wrong = await cli(loginCommand.run, ["-u", "alice", "-p", "not-it", "--ca-cert", tls.caFile, registry.host]).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ category: "permission-denied", message: `login to ${registry.host} failed: the registry refused the username or password` });
    expect(JSON.stringify(wrong)).not.toContain("not-it");

    const ok = await cli(loginCommand.run, ["-u", "alice", "-p", password, "--ca-cert", tls.caFile, registry.host]);
    expect(ok.code).toBe(0);
    const configFile = join(dockerConfig, "config.json");
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(configFile, "utf8")) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(saved.auths[registry.host]!.auth, "base64").toString()).toBe(`alice:${password}`);

    const name = `${registry.host}/private/app:1`;
    const { store, desc } = await storeWithImage(name);
    const pushed = await pushImage(store, name, undefined, { caCertFiles: [tls.caFile] });
    expect(pushed.digest).toBe(desc.digest);
    // SSL_CERT_FILE is honoured like --ca-cert.
    process.env["SSL_CERT_FILE"] = tls.caFile;
    try {
      const pulled = await pullImage(name, { store: await openStore(await tempDir()) });
      expect(pulled.descriptor.digest).toBe(desc.digest);
    } finally {
      delete process.env["SSL_CERT_FILE"];
    }

    expect((await cli(logoutCommand.run, [registry.host])).out).toContain(`Removed login credentials for ${registry.host}`);
    await expect(pullImage(name, { store: await openStore(await tempDir()), caCertFiles: [tls.caFile] })).rejects.toMatchObject({ category: "permission-denied" });
  });

  it("uses a login only for the exact host it was saved for", async () => {
    const cfg = await tempDir();
    const { writeFile } = await import("node:fs/promises");
    const auth = Buffer.from(`alice:${password}`).toString("base64");
    // Saved for another port and a look-alike name: neither may be sent here.
    await writeFile(join(cfg, "config.json"), JSON.stringify({ auths: { "127.0.0.1:1": { auth }, [`x${registry.host}`]: { auth } } }));
    process.env["DOCKER_CONFIG"] = cfg;
    try {
      await expect(pullImage(`${registry.host}/private/app:1`, { store: await openStore(await tempDir()), caCertFiles: [tls.caFile] })).rejects.toMatchObject({
        category: "permission-denied",
      });
    } finally {
      process.env["DOCKER_CONFIG"] = dockerConfig;
    }
  });
});

describe("docker token auth", () => {
  let issuer: TokenIssuer;
  let registry: RegistryServer;
  const users = { bob: "hunter2" };
  const bob = async () => ({ username: "bob", password: users.bob });
  beforeAll(async () => {
    issuer = await startTokenIssuer(await tempDir(), {
      users,
      // bob may do anything; anonymous users may only pull from public/.
      policy: (account, repo, actions) => (account === "bob" ? actions : repo.startsWith("public/") ? ["pull"] : []),
      expiresIn: 2,
    });
    registry = await startRegistry({ token: issuer });
  });
  afterAll(async () => {
    await registry?.stop();
    await issuer?.stop();
  });

  it("asks for pull,push to push and pull to pull, and mounts with pull on the source", async () => {
    const name = `${registry.host}/team/base:1`;
    const { store } = await storeWithImage(name, [40_000, 100]);
    issuer.requests.length = 0;
    await pushImage(store, name, undefined, { credentials: bob });
    expect(issuer.requests.map((r) => r.scopes)).toContainEqual(["repository:team/base:pull,push"]);
    expect(issuer.requests.every((r) => r.authenticated && r.account === "bob")).toBe(true);

    issuer.requests.length = 0;
    const other = await openStore(await tempDir());
    await pullImage(name, { store: other, credentials: bob });
    expect(issuer.requests.map((r) => r.scopes)).toEqual([["repository:team/base:pull"]]);

    issuer.requests.length = 0;
    const events: PushEvent[] = [];
    await pushImage(other, name, `${registry.host}/team/derived:1`, { credentials: bob, onProgress: (e) => events.push(e) });
    expect(events.flatMap((e) => (e.kind === "blob" ? [e.outcome] : []))).toEqual(["mounted", "mounted", "mounted"]);
    expect(issuer.requests.map((r) => [...r.scopes].sort())).toContainEqual(["repository:team/base:pull", "repository:team/derived:pull,push"]);
  });

  it("renews an expired token within one session", async () => {
    const name = `${registry.host}/team/renew:1`;
    const { store } = await storeWithImage(name);
    const session = new RegistrySession({ credentials: bob });
    await pushImage(store, name, undefined, { session });
    const before = issuer.requests.length;
    await new Promise((r) => setTimeout(r, 2_500));
    const pulled = await pullImage(name, { store: await openStore(await tempDir()), session });
    expect(pulled.reference).toBe(name);
    expect(issuer.requests.length).toBeGreaterThan(before);
  });

  it("pulls anonymously where allowed and explains a refusal", async () => {
    const name = `${registry.host}/public/tool:1`;
    const { store, desc } = await storeWithImage(name);
    await pushImage(store, name, undefined, { credentials: bob });
    const pulled = await pullImage(name, { store: await openStore(await tempDir()), credentials: async () => undefined });
    expect(pulled.descriptor.digest).toBe(desc.digest);

    await expect(pushImage(store, name, undefined, { credentials: async () => undefined })).rejects.toMatchObject({
      category: "permission-denied",
      hint: expect.stringContaining("tbuild login"),
    });
    await expect(pushImage(store, name, undefined, { credentials: async () => ({ username: "bob", password: "wrong" }) })).rejects.toMatchObject({
      category: "permission-denied",
      message: expect.stringContaining("token server"),
    });
  });
});
