/** The README's registry flags through the CLI, against the reference registry. */
import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BUSYBOX_BASE, context, freshRoot } from "../builder/helpers.js";
import { makeHtpasswd, makeTls, startRegistry } from "../setup/registry.js";
import { registryForFile } from "../setup/registry-per-file.js";
import { tbuild } from "./helpers.js";

const registry = registryForFile();

async function built(args: string[], o: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await tbuild(["build", "-q", ...args], o);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

describe("build with a registry", () => {
  it("--push sends the -t name; --pull fetches a base image that changed, without it the stored one is used; --build-context NAME=docker-image://REF", async () => {
    const base = `${registry.host}/flags/base:1`;
    const publisher = freshRoot();
    const v1 = context({ "version.txt": "v1\n" });
    await built(["--root", publisher, "--push", "-t", base, "-f", "-", v1], { input: "FROM scratch\nCOPY version.txt /\n" });

    const user = freshRoot();
    const app = context({ Dockerfile: `FROM ${base}\nCOPY app.txt /\n`, "app.txt": "app\n" });
    const out = (name: string): string => path.join(user, "..", `${path.basename(user)}-${name}`);
    await built(["--root", user, "-o", `type=local,dest=${out("first")}`, app]);
    expect(readFileSync(path.join(out("first"), "version.txt"), "utf8")).toBe("v1\n");

    const v2 = context({ "version.txt": "v2\n" });
    await built(["--root", publisher, "--push", "-t", base, "-f", "-", v2], { input: "FROM scratch\nCOPY version.txt /\n" });
    await built(["--root", user, "-o", `type=local,dest=${out("stored")}`, app]);
    expect(readFileSync(path.join(out("stored"), "version.txt"), "utf8")).toBe("v1\n");
    await built(["--root", user, "--pull", "-o", `type=local,dest=${out("pulled")}`, app]);
    expect(readFileSync(path.join(out("pulled"), "version.txt"), "utf8")).toBe("v2\n");

    // --build-context NAME=docker-image://REF: FROM NAME builds on that image.
    await built(["--root", freshRoot(), "--build-context", `alias=docker-image://${base}`, "-o", `type=local,dest=${out("alias")}`, "-f", "-", app], { input: "FROM alias\n" });
    expect(readFileSync(path.join(out("alias"), "version.txt"), "utf8")).toBe("v2\n");
  }, 300_000);

  it("--cache-to stores step results in the registry; --cache-from on a fresh store reuses them", async () => {
    const cache = `${registry.host}/flags/app:buildcache`;
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN echo expensive > /result\n" });
    await built(["--root", freshRoot(), "--cache-to", `type=registry,ref=${cache}`, ctx]);
    const fresh = await tbuild(["build", "--root", freshRoot(), "--progress", "plain", "--cache-from", cache, ctx]);
    expect(fresh.code).toBe(0);
    const step = /^#(\d+) .*RUN echo expensive > \/result$/m.exec(fresh.stderr)?.[1];
    expect(step, fresh.stderr).toBeDefined();
    expect(fresh.stderr).toMatch(new RegExp(`^#${step} CACHED$`, "m"));
  }, 300_000);

  it("pull takes --platform and --all-platforms for a multi-platform image", async () => {
    const multi = `${registry.host}/flags/multi:1`;
    const ctx = context({ "f.txt": "f\n" });
    await built(["--root", freshRoot(), "--platform", "linux/amd64,linux/arm64", "--push", "-t", multi, "-f", "-", ctx], { input: "FROM scratch\nCOPY f.txt /\n" });
    const arch = async (root: string, platform: string): Promise<string | number> => {
      const r = await tbuild(["inspect", "--root", root, "--platform", platform, multi]);
      return r.code === 0 ? (JSON.parse(r.stdout) as { config: { architecture: string } }).config.architecture : r.code;
    };
    const one = freshRoot();
    expect((await tbuild(["pull", "--root", one, "-q", "--platform", "linux/arm64", multi])).code).toBe(0);
    expect(await arch(one, "linux/arm64")).toBe("arm64");
    expect(await arch(one, "linux/amd64")).toBe(1);
    const all = freshRoot();
    expect((await tbuild(["pull", "--root", all, "-q", "--all-platforms", multi])).code).toBe(0);
    expect([await arch(all, "linux/arm64"), await arch(all, "linux/amd64")]).toEqual(["arm64", "amd64"]);
  }, 300_000);
});

describe("tbuild login --password-stdin", () => {
  it("reads the password from standard input, checks it with the registry (TLS, --ca-cert) and saves it for build --push and pull (--insecure-registry); logout removes it", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "tbuild-login-"));
    const tls = await makeTls(dir);
    const secure = await startRegistry({ tls, htpasswd: await makeHtpasswd(dir, { alice: "s3cret pass" }) });
    try {
      const env = { DOCKER_CONFIG: path.join(dir, "docker") };
      const wrong = await tbuild(["login", "-u", "alice", "--password-stdin", "--ca-cert", tls.caFile, secure.host], { env, input: "nope\n" });
      expect(wrong.code).toBe(1);
      const ok = await tbuild(["login", "-u", "alice", "--password-stdin", "--ca-cert", tls.caFile, secure.host], { env, input: "s3cret pass\n" });
      expect(ok.stderr).toBe("");
      expect(ok.code).toBe(0);
      const config = JSON.parse(readFileSync(path.join(dir, "docker", "config.json"), "utf8")) as { auths: Record<string, { auth: string }> };
      expect(Buffer.from(config.auths[secure.host]!.auth, "base64").toString()).toBe("alice:s3cret pass");

      // The saved login serves build --push and pull; --ca-cert or --insecure-registry get past the unknown CA.
      const image = `${secure.host}/secure/app:1`;
      await built(["--root", freshRoot(), "--push", "--ca-cert", tls.caFile, "-t", image, "-f", "-", context({ "f.txt": "f\n" })], { input: "FROM scratch\nCOPY f.txt /\n", env });
      const untrusted = await tbuild(["pull", "--root", freshRoot(), image], { env });
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(/TLS certificate of https:\/\/127\.0\.0\.1:\d+\/v2\/ not trusted/);
      expect((await tbuild(["pull", "--root", freshRoot(), "-q", "--insecure-registry", secure.host, image], { env })).code).toBe(0);
      expect((await tbuild(["logout", secure.host], { env })).stdout).toBe(`Removed login credentials for ${secure.host}\n`);
    } finally {
      await secure.stop();
    }
  }, 300_000);
});
