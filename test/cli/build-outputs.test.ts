import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { context, freshRoot } from "../builder/helpers.js";
import { registryForFile } from "../setup/registry-per-file.js";
import { spawnAsync } from "../setup/spawn.js";
import { tbuild } from "./helpers.js";

const cli = path.resolve(import.meta.dirname, "../../dist/cli/main.js");

const registry = registryForFile();

async function skopeoRaw(ref: string): Promise<{ annotations?: Record<string, string>; manifests?: { digest: string; platform: { architecture: string }; annotations?: Record<string, string> }[] }> {
  const r = await spawnAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", ref]);
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as Awaited<ReturnType<typeof skopeoRaw>>;
}

/** Runs the CLI with its stdout collected as bytes (an archive), stderr as text. */
function tbuildBytes(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr }));
  });
}

describe("buildx's output flags", () => {
  it("pushes with -o type=registry,name= and -o type=image,name=,push=true inside the build, as progress steps; type=image without push only names it", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /b\n" });
    const root = freshRoot();
    const a = `${registry.host}/outputs/a:1`;
    const b = `${registry.host}/outputs/b:1`;
    const local = `${registry.host}/outputs/local:1`;
    const r = await tbuild(["build", "--progress", "plain", "--root", root, "-o", `type=registry,name=${a}`, "-o", `type=image,name=${b},push=true`, "-o", `type=image,name=${local}`, ctx]);
    expect(r.stderr).toContain(`pushed ${a}@sha256:`);
    expect(r.code).toBe(0);
    // The pushes are steps of the build (#N pushing REF ... DONE), not a tail the CLI adds.
    expect(r.stderr).toMatch(new RegExp(`#\\d+ pushing ${a.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\n(#\\d+ .*\\n)*#\\d+ DONE`));
    const digest = r.stdout.trim();
    for (const ref of [a, b]) {
      const inspect = await spawnAsync("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`]);
      expect(inspect.status).toBe(0);
      expect((JSON.parse(inspect.stdout) as { Digest: string }).Digest).toBe(digest);
    }
    expect((await spawnAsync("skopeo", ["inspect", "--tls-verify=false", `docker://${local}`])).status).not.toBe(0);
    const images = await tbuild(["images", "--root", root]);
    expect(images.stdout).toContain(`${registry.host}/outputs/local`);
  });

  it("refuses bad outputs before any step runs, each in one clear error", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /b\n" });
    const cases: [string[], RegExp][] = [
      [["-o", "type=oci,dest=/nonexistent-dir/image.tar"], /--output type=oci,dest=\/nonexistent-dir\/image.tar: the directory \/nonexistent-dir does not exist/],
      [["-o", "type=zip,dest=x"], /--output type=zip: unknown type\nhint: choose one of: oci, docker, local, tar, registry, image/],
      [["-o", "type=oci,dest=x.tar,compression=zstd"], /type=oci has no field 'compression'/],
      [["--push"], /--push needs at least one -t NAME to push to/],
      [["-o", "type=registry,name=r.example/app@sha256:" + "a".repeat(64)], /may not contain a digest/],
      [["-o", "-", "-o", "type=oci,dest=-"], /only one --output can write to standard output/],
      [["--annotation", "index:k=v"], /a single-platform build makes no image index to annotate/],
      [["--annotation", "nokey"], /--annotation nokey: write \[TYPE:\]KEY=VALUE/],
      [["--compression", "zstd", "-o", "type=docker,dest=x.tar"], /--output type=docker: docker load does not read the zstd layers --compression zstd makes/],
      [["--platform", "linux/amd64,linux/arm64", "-o", "type=docker,dest=x.tar"], /--output type=docker holds one platform, and this build makes 2/],
    ];
    for (const [flags, message] of cases) {
      const r = await tbuild(["build", "--progress", "plain", "--root", freshRoot(), ...flags, ctx]);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/^#\d/m);
      expect(r.stderr).not.toMatch(/\bat \S+:\d+/);
    }
  });

  it("-o - writes the root filesystem as a tar to stdout and nothing else; type=tar,dest= writes it to a file", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /bin/b\nCOPY --chown=7:8 busybox /home/x\n" });
    const root = freshRoot();
    const r = await tbuildBytes(["build", "--progress", "plain", "--root", root, "-t", "streamed", "-o", "-", ctx]);
    expect(r.code).toBe(0);
    // Progress went to stderr; stdout is exactly one archive (tar's end: two zero blocks), no digest line after it.
    expect(r.stderr).toMatch(/#\d+ exporting to client tarball standard output\n#\d+ DONE/);
    expect(r.stdout.length % 512).toBe(0);
    expect(r.stdout.subarray(-1024).every((b) => b === 0)).toBe(true);
    const listing = spawnSync("tar", ["-tv"], { input: r.stdout, encoding: "utf8" });
    expect(listing.status).toBe(0);
    expect(listing.stdout).toMatch(/^-\S+ 7\/8 +\d+ .* home\/x$/m);
    expect(listing.stdout.split("\n").filter((l) => l !== "").map((l) => l.split(" ").pop()).sort()).toEqual(["bin", "bin/b", "home", "home/x"]);
    // Piped straight into tar, as a user would.
    const piped = await spawnAsync("bash", ["-c", `set -o pipefail; "${process.execPath}" "${cli}" build -q --root "${root}" -o - "${ctx}" | tar -t`]);
    expect(piped.status).toBe(0);
    expect(piped.stdout.split("\n").sort()).toEqual(["", "bin", "bin/b", "home", "home/x"]);
    const out = mkdtempSync(path.join(tmpdir(), "tbuild-tar-out-"));
    const f = await tbuild(["build", "-q", "--root", root, "-o", `type=tar,dest=${out}/rootfs.tar`, ctx]);
    expect(f.code).toBe(0);
    expect(spawnSync("tar", ["-tf", `${out}/rootfs.tar`], { encoding: "utf8" }).stdout).toBe(listing.stdout.split("\n").map((l) => l.split(" ").pop()).join("\n"));
  });

  it("a multi-platform build's type=local and type=tar hold one tree per platform, in os_arch/ as BuildKit lays them out", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nARG TARGETARCH\nCOPY busybox /b-$TARGETARCH\n" });
    const out = mkdtempSync(path.join(tmpdir(), "tbuild-split-"));
    const r = await tbuild(["build", "-q", "--root", freshRoot(), "--platform", "linux/amd64,linux/arm64", "-o", `type=local,dest=${out}/dir`, "-o", `type=tar,dest=${out}/all.tar`, ctx]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(existsSync(`${out}/dir/linux_amd64/b-amd64`) && existsSync(`${out}/dir/linux_arm64/b-arm64`)).toBe(true);
    expect(existsSync(`${out}/dir/linux_amd64/b-arm64`)).toBe(false);
    const listed = spawnSync("tar", ["-tf", `${out}/all.tar`], { encoding: "utf8" }).stdout.split("\n").filter((l) => l !== "").sort();
    expect(listed).toEqual(["linux_amd64", "linux_amd64/b-amd64", "linux_arm64", "linux_arm64/b-arm64"]);
  });

  it("--annotation sets manifest, index and per-platform descriptor annotations, as skopeo reads them from the registry and an OCI archive", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /b\n" });
    const root = freshRoot();
    const one = `${registry.host}/annotated/one:1`;
    const out = mkdtempSync(path.join(tmpdir(), "tbuild-annot-"));
    const r = await tbuild(["build", "-q", "--root", root, "-t", one, "--push", "-o", `type=oci,dest=${out}/one.tar`, "--annotation", "org.opencontainers.image.title=demo", "--annotation", "manifest:com.example.k=v=w", ctx]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    for (const ref of [`docker://${one}`, `oci-archive:${out}/one.tar`]) {
      expect((await skopeoRaw(ref)).annotations).toEqual({ "org.opencontainers.image.title": "demo", "com.example.k": "v=w" });
    }
    const multi = `${registry.host}/annotated/multi:1`;
    const m = await tbuild([
      "build", "-q", "--root", root, "--platform", "linux/amd64,linux/arm64", "-t", multi, "--push",
      "--annotation", "index:org.opencontainers.image.description=both", "--annotation", "manifest[linux/arm64],manifest-descriptor[linux/arm64]:arch=arm", ctx,
    ]);
    expect(m.stderr).toBe("");
    expect(m.code).toBe(0);
    const index = await skopeoRaw(`docker://${multi}`);
    expect(index.annotations).toEqual({ "org.opencontainers.image.description": "both" });
    const arm = index.manifests!.find((d) => d.platform.architecture === "arm64")!;
    const amd = index.manifests!.find((d) => d.platform.architecture === "amd64")!;
    expect(arm.annotations).toEqual({ arch: "arm" });
    expect(amd.annotations).toBeUndefined();
    const repo = multi.slice(0, multi.lastIndexOf(":"));
    expect((await skopeoRaw(`docker://${repo}@${arm.digest}`)).annotations).toEqual({ arch: "arm" });
    expect((await skopeoRaw(`docker://${repo}@${amd.digest}`)).annotations).toBeUndefined();
  });

  it("accepts --provenance, --sbom and --ssh with one warning line each, honours =false silently", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /b\n" });
    const r = await tbuild(["build", "--progress", "quiet", "--root", freshRoot(), "--provenance=mode=max", "--sbom=false", "--ssh", "default", ctx]);
    expect(r.code).toBe(0);
    const warnings = r.stderr.split("\n").filter((l) => l.startsWith("warning: "));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^warning: --provenance=mode=max: provenance attestations are not implemented/);
    expect(r.stderr).not.toMatch(/--sbom/);
  });
});

describe("--load", () => {
  it("without a reachable docker says so in one line and exits 1 before building", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /b\n" });
    const socket = path.join(mkdtempSync(path.join(tmpdir(), "tbuild-nodocker-")), "docker.sock");
    const cases: [NodeJS.ProcessEnv, string][] = [
      [{ DOCKER_HOST: `unix://${socket}` }, `tbuild: --load: no docker daemon is reachable (${socket}: does not exist)`],
      ...(existsSync("/var/run/docker.sock") ? [] : [[{ DOCKER_HOST: "" }, "tbuild: --load: no docker daemon is reachable (DOCKER_HOST is unset and /var/run/docker.sock: does not exist)"] as [NodeJS.ProcessEnv, string]]),
    ];
    for (const [env, line] of cases) {
      const started = Date.now();
      const r = await tbuild(["build", "--progress", "plain", "--root", freshRoot(), "-t", "app:1", "--load", ctx], { env });
      expect(r.code).toBe(1);
      expect(r.stderr.split("\n")[0]).toBe(line);
      expect(r.stderr).toMatch(/^hint: .*tbuild save NAME --format docker -o image.tar && docker load -i image.tar$/m);
      expect(r.stderr).not.toMatch(/^#\d/m);
      expect(Date.now() - started).toBeLessThan(20_000);
    }
  });

  it("POSTs a docker load tar of the image to the Engine API's /images/load over DOCKER_HOST's unix socket", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tbuild-engine-"));
    const socket = path.join(dir, "docker.sock");
    const received = path.join(dir, "loaded.tar");
    let refuse = false;
    const requests: string[] = [];
    // A stand-in for dockerd's two endpoints --load uses, keeping what it was sent.
    const engine = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url} ${req.headers["content-type"] ?? ""}`);
      if (req.url === "/_ping") return void res.end("OK");
      const body: Buffer[] = [];
      req.on("data", (c: Buffer) => body.push(c));
      req.on("end", () => {
        writeFileSync(received, Buffer.concat(body));
        res.setHeader("Content-Type", "application/json");
        res.end(refuse ? '{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}\n' : '{"stream":"Loaded image: app:1\\n"}\n');
      });
    });
    await new Promise<void>((resolve) => engine.listen(socket, resolve));
    try {
      const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /b\n" });
      const r = await tbuild(["build", "--progress", "plain", "--root", freshRoot(), "-t", "app:1", "--load", ctx], { env: { DOCKER_HOST: `unix://${socket}` } });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/#\d+ exporting to docker image format \(loading into docker at .*docker.sock\)\n(#\d+ .*\n)*#\d+ DONE/);
      expect(requests).toEqual(["GET /_ping ", "POST /images/load?quiet=1 application/x-tar"]);
      // What docker load reads: manifest.json naming the image, and the image itself (skopeo's docker-archive reader).
      const manifest = JSON.parse(spawnSync("tar", ["-xOf", received, "manifest.json"], { encoding: "utf8" }).stdout) as { RepoTags: string[] }[];
      expect(manifest[0]!.RepoTags).toEqual(["app:1"]);
      const inspected = JSON.parse((await spawnAsync("skopeo", ["inspect", "--config", `docker-archive:${received}`])).stdout) as { rootfs: { diff_ids: string[] } };
      expect(inspected.rootfs.diff_ids).toHaveLength(1);
      refuse = true;
      const refused = await tbuild(["build", "--progress", "plain", "--root", freshRoot(), "-t", "app:1", "--load", ctx], { env: { DOCKER_HOST: `unix://${socket}` } });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/refused the image: no space left on device/);
    } finally {
      await new Promise((resolve) => engine.close(resolve));
    }
  });
});
