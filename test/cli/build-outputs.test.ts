import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { context, freshRoot } from "../builder/helpers.js";
import { startRegistry, type RegistryServer } from "../setup/registry.js";
import { tbuild } from "./helpers.js";

let registry: RegistryServer;
beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  await registry.stop();
});

describe("buildx's output flags", () => {
  it("pushes with -o type=registry,name= and -o type=image,name=,push=true; type=image without push only names it", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /b\n" });
    const root = freshRoot();
    const a = `${registry.host}/outputs/a:1`;
    const b = `${registry.host}/outputs/b:1`;
    const local = `${registry.host}/outputs/local:1`;
    const r = await tbuild(["build", "--progress", "plain", "--root", root, "-o", `type=registry,name=${a}`, "-o", `type=image,name=${b},push=true`, "-o", `type=image,name=${local}`, ctx]);
    expect(r.stderr).toContain(`pushed ${a}@sha256:`);
    expect(r.code).toBe(0);
    const digest = r.stdout.trim();
    for (const ref of [a, b]) {
      const inspect = spawnSync("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`], { encoding: "utf8" });
      expect(inspect.status).toBe(0);
      expect((JSON.parse(inspect.stdout) as { Digest: string }).Digest).toBe(digest);
    }
    expect(spawnSync("skopeo", ["inspect", "--tls-verify=false", `docker://${local}`], { encoding: "utf8" }).status).not.toBe(0);
    const images = await tbuild(["images", "--root", root]);
    expect(images.stdout).toContain(`${registry.host}/outputs/local`);
  });

  it("accepts the CI flags it does not apply with one warning line each, honours =false silently, and says why --load cannot load", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /b\n" });
    const r = await tbuild(
      ["build", "--progress", "quiet", "--root", freshRoot(), "--provenance=mode=max", "--sbom=false", "--annotation", "index:a=b", "--no-cache-filter", "build", "--ssh", "default", "--load", ctx],
      { env: { DOCKER_HOST: "" } },
    );
    expect(r.code).toBe(0);
    const warnings = r.stderr.split("\n").filter((l) => l.startsWith("warning: "));
    expect(warnings).toHaveLength(5);
    expect(warnings[0]).toMatch(/^warning: --provenance=mode=max: provenance attestations are not implemented/);
    expect(r.stderr).not.toMatch(/--sbom/);
    expect(warnings[4]).toMatch(/^warning: --load: no docker daemon is reachable \(DOCKER_HOST is unset and \/var\/run\/docker.sock does not exist\)/);
  });
});
