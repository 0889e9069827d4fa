/**
 * The README's CLI table, flag by flag: each `tbuild build` flag it lists reaches the
 * build and does what it says (the library tests cover the machinery; these cover the
 * wiring from the command line).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BUSYBOX_BASE, context, freshRoot } from "../builder/helpers.js";
import { spawnAsync } from "../setup/spawn.js";
import { tbuild } from "./helpers.js";

async function skopeo(args: string[]): Promise<Record<string, unknown>> {
  const r = await spawnAsync("skopeo", args);
  if (r.status !== 0) throw new Error(`skopeo ${args.join(" ")} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe("tbuild build flags from the README", () => {
  it("-f, -t (twice), --build-arg, --target, --label, --network, --secret, --build-context, -o (oci tar and directory, local, docker), --iidfile, --metadata-file, --compression, --snapshotter, -q", async () => {
    const root = freshRoot();
    const extra = context({ "hello.txt": "from a named context\n" });
    const ctx = context({
      "docker/app.Dockerfile": [
        BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS base"),
        "FROM base AS main",
        "ARG GIVEN",
        "ARG FROM_ENV",
        'RUN echo "$GIVEN $FROM_ENV" > /args',
        "RUN cat /proc/net/dev > /net.txt",
        "RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /secret-bytes",
        "COPY --from=extra hello.txt /hello.txt",
        "FROM base AS never",
        "RUN exit 7",
        "",
      ].join("\n"),
    });
    const out = path.join(root, "..", `${path.basename(root)}-out`);
    mkdirSync(out);
    const r = await tbuild(
      [
        "build", "--root", root, "-q",
        "-f", path.join(ctx, "docker/app.Dockerfile"),
        "-t", "one:1", "--tag", "two:2",
        "--build-arg", "GIVEN=given", "--build-arg", "FROM_ENV",
        "--target", "main",
        "--label", "org.example.team=builds",
        "--network", "none",
        "--secret", "id=tok,env=TBUILD_TEST_TOKEN",
        "--build-context", `extra=${extra}`,
        "-o", `type=oci,dest=${out}/oci.tar`, "--output", `type=oci,dest=${out}/oci-dir,tar=false`, "-o", `type=local,dest=${out}/rootfs`,
        "--iidfile", `${out}/iid`, "--metadata-file", `${out}/meta.json`,
        "--compression", "zstd", "--snapshotter", "native",
        "--rm", "--force-rm",
        ctx,
      ],
      { env: { FROM_ENV: "from-env", TBUILD_TEST_TOKEN: "12345", DOCKER_HOST: "" } },
    );
    // -q keeps everything quiet.
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // -q: the digest alone on stdout; --iidfile and --metadata-file hold it too.
    const digest = r.stdout.trim();
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(readFileSync(`${out}/iid`, "utf8")).toBe(digest);
    expect(JSON.parse(readFileSync(`${out}/meta.json`, "utf8"))).toMatchObject({ "containerimage.digest": digest, "image.name": "one:1,two:2" });
    // -t twice: both names; --target: the failing stage after it never ran.
    expect((await tbuild(["images", "--root", root, "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}"])).stdout).toBe(`one:1 ${digest}\ntwo:2 ${digest}\n`);

    // umoci reads no zstd layers: the files are checked in the type=local output.
    const rootfs = `${out}/rootfs`;
    expect(readFileSync(path.join(rootfs, "args"), "utf8")).toBe("given from-env\n");
    const interfaces = readFileSync(path.join(rootfs, "net.txt"), "utf8").split("\n").slice(2).filter((l) => l.trim() !== "").map((l) => l.trim().split(":")[0]);
    expect(interfaces).toEqual(["lo"]);
    expect(readFileSync(path.join(rootfs, "secret-bytes"), "utf8").trim()).toBe("5");
    expect(readFileSync(path.join(rootfs, "hello.txt"), "utf8")).toBe("from a named context\n");

    // --label, --compression and the three outputs, read by skopeo.
    const inspected = await skopeo(["inspect", `oci-archive:${out}/oci.tar`]);
    expect(inspected["Labels"]).toMatchObject({ "org.example.team": "builds" });
    expect(inspected["Digest"]).toBe(digest);
    const raw = (await skopeo(["inspect", "--raw", `oci:${out}/oci-dir`])) as { layers: { mediaType: string }[] };
    expect(new Set(raw.layers.map((l) => l.mediaType))).toEqual(new Set(["application/vnd.oci.image.layer.v1.tar+zstd"]));
    // A docker load tar (gzip layers: docker load reads no zstd).
    const docker = await tbuild(["build", "--root", freshRoot(), "-q", "--label", "kind=docker", "-o", `type=docker,dest=${out}/docker.tar`, "-f", "-", extra], { input: "FROM scratch\nCOPY hello.txt /\n" });
    expect(docker.stderr).toBe("");
    expect((await skopeo(["inspect", `docker-archive:${out}/docker.tar`]))["Labels"]).toMatchObject({ kind: "docker" });
    // --snapshotter: the store keeps the driver it was built with.
    expect((await tbuild(["version", "--root", root])).stdout).toMatch(/^snapshotter:\s+native \(recorded in /m);
  }, 300_000);

  it("--jobs 1 builds one stage at a time; --no-cache reruns steps the cache holds", async () => {
    const root = freshRoot();
    const ctx = context({
      Dockerfile: [
        BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS base"),
        "FROM base AS a",
        "RUN sleep 0.2 && echo a1 > /a1",
        "RUN echo a2 > /a2",
        "FROM base AS b",
        "RUN sleep 0.2 && echo b1 > /b1",
        "RUN echo b2 > /b2",
        "FROM base",
        "COPY --from=a /a1 /a2 /",
        "COPY --from=b /b1 /b2 /",
        "",
      ].join("\n"),
    });
    const first = await tbuild(["build", "--root", root, "--jobs", "1", "--progress", "rawjson", ctx]);
    expect(first.code).toBe(0);
    const events = first.stderr.trimEnd().split("\n").map((l) => JSON.parse(l) as { kind: string; stage?: string });
    const stages = events.filter((e) => e.kind === "step-start" && (e.stage === "a" || e.stage === "b")).map((e) => e.stage);
    // One stage's steps all run before the other's start: never a, b, a, b.
    expect([["a", "a", "b", "b"], ["b", "b", "a", "a"]]).toContainEqual(stages);

    const cachedSteps = (stderr: string): number => (stderr.match(/^#\d+ CACHED$/gm) ?? []).length;
    const again = await tbuild(["build", "--root", root, "--progress", "plain", ctx]);
    expect(cachedSteps(again.stderr)).toBeGreaterThanOrEqual(6);
    const fresh = await tbuild(["build", "--root", root, "--progress", "plain", "--no-cache", ctx]);
    expect(fresh.code).toBe(0);
    expect(cachedSteps(fresh.stderr)).toBe(0);
    expect(fresh.stderr).toMatch(/RUN sleep 0\.2 && echo a1 > \/a1/);
  }, 300_000);

  it("refuses values it does not know, saying which are allowed", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\n" });
    const cases: [string[], string][] = [
      [["--snapshotter", "zfs"], "tbuild: --snapshotter zfs: choose overlay, native or auto\n"],
      [["--compression", "lz4"], "tbuild: --compression lz4: choose gzip, zstd or none\n"],
      [["--jobs", "0"], "tbuild: --jobs 0: give a positive whole number\n"],
      [["--network", "bridge"], "tbuild: --network bridge: choose default, none or host\n"],
      [["--push"], "tbuild: --push needs at least one -t NAME to push to\n"],
    ];
    for (const [flags, message] of cases) {
      const r = await tbuild(["build", "--root", freshRoot(), ...flags, ctx]);
      expect(r.code, flags.join(" ")).toBe(1);
      expect(r.stderr.split("hint:")[0], flags.join(" ")).toBe(message);
    }
  }, 300_000);
});

describe("tbuild parse", () => {
  it("prints the stages, or JSON with -f, --target and --build-arg applied; a mistake is file:line:col and exit 1", async () => {
    const ctx = context({ "ci.Dockerfile": "ARG BASE=alpine:3.19\nFROM ${BASE} AS build\nRUN make\nFROM scratch AS final\nCOPY --from=build /app /app\nFROM build AS debug\n" });
    const json = await tbuild(["parse", "--json", "-f", path.join(ctx, "ci.Dockerfile"), "--target", "final", "--build-arg", "BASE=debian:12"]);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { stages: { name: string; base: string }[] };
    // --target keeps what `final` needs and drops `debug`; --build-arg reached FROM.
    expect(parsed.stages.map((s) => [s.name, s.base])).toEqual([["build", "debian:12"], ["final", "scratch"]]);
    const text = await tbuild(["parse", "-f", path.join(ctx, "ci.Dockerfile"), "--target", "final", "--build-arg", "BASE=debian:12"]);
    expect(text.stdout).toBe("stage 0 (build): FROM debian:12   # line 2\n        3  RUN make\nstage 1 (final): FROM scratch, needs 0 [target]   # line 4\n        5  COPY --from=build /app /app\n");
    writeFileSync(path.join(ctx, "Dockerfile"), "FROM scratch\nCOPPY a /b\n");
    const bad = await tbuild(["parse", ctx]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`${path.join(ctx, "Dockerfile")}:2:1: unknown instruction: COPPY\nhint: did you mean COPY?\n`);
  }, 300_000);
});
