import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { existsSync, lstatSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TbuildError } from "../../src/errors.js";
import { DockerfileError } from "../../src/parser/index.js";
import { openStore } from "../../src/store/image-store.js";
import { BUSYBOX_BASE, buildCollecting, context, freshRoot, instructionSteps, skopeoInspect, umociUnpack } from "./helpers.js";
import { spawnAsync } from "../setup/spawn.js";

describe("tbuild build (as root)", () => {
  it("builds a busybox image whose config and files umoci and skopeo read back", async () => {
    const root = freshRoot();
    const ctx = context({
      Dockerfile:
        BUSYBOX_BASE +
        'ENV GREETING=hello\nWORKDIR /app\nRUN echo "$GREETING world" > greeting.txt\nLABEL org.example.team=build\nEXPOSE 8080 53/udp\nUSER 1000:1000\nENTRYPOINT ["/bin/cat"]\nCMD ["/app/greeting.txt"]\n',
    });
    const { result, output } = await buildCollecting({ context: ctx, root, tags: ["example/hello:1"] });
    expect(output).toBe("");
    const store = await openStore(root);
    const image = await store.resolve("example/hello:1");
    expect(image.manifestDescriptor.digest).toBe(result.descriptor.digest);
    const c = image.config.config!;
    expect(c.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"]);
    expect(c.WorkingDir).toBe("/app");
    expect(c.User).toBe("1000:1000");
    expect(c.Entrypoint).toEqual(["/bin/cat"]);
    expect(c.Cmd).toEqual(["/app/greeting.txt"]);
    expect(c.Labels).toEqual({ "org.example.team": "build" });
    expect(Object.keys(c.ExposedPorts ?? {}).sort()).toEqual(["53/udp", "8080/tcp"]);
    // COPY, busybox --install, WORKDIR /app, RUN: four layers; metadata steps are empty history entries.
    expect(image.manifest.layers).toHaveLength(4);
    expect(image.config.history?.filter((h) => h.empty_layer !== true)).toHaveLength(4);

    const inspected = await skopeoInspect(`oci:${root}:docker.io/example/hello:1`);
    expect(inspected.Digest).toBe(result.descriptor.digest);
    const rootfs = await umociUnpack(root, "docker.io/example/hello:1");
    expect(readFileSync(path.join(rootfs, "app/greeting.txt"), "utf8")).toBe("hello world\n");
    expect(lstatSync(path.join(rootfs, "bin/sh")).isSymbolicLink()).toBe(true);
  });

  it("reuses every step from the cache on a rebuild, and reruns only what a change touches", async () => {
    const root = freshRoot();
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "COPY app.txt /app/\nRUN wc -c /app/app.txt > /size\nCOPY other.txt /\n", "app.txt": "v1", "other.txt": "x" });
    const first = await buildCollecting({ context: ctx, root });
    const again = await buildCollecting({ context: ctx, root });
    const cachedFlags = (events: typeof first.events) => instructionSteps(events).map((s) => s.cached);
    expect(cachedFlags(first.events)).toEqual([false, false, false, false, false]);
    expect(cachedFlags(again.events)).toEqual([true, true, true, true, true]);
    expect(again.result.config.rootfs.diff_ids).toEqual(first.result.config.rootfs.diff_ids);
    // Every step hit, so the image is the same image: timestamps come from when steps first ran.
    expect(again.result.descriptor.digest).toBe(first.result.descriptor.digest);

    writeFileSync(path.join(ctx, "app.txt"), "version 2");
    const changed = await buildCollecting({ context: ctx, root, tags: ["changed"] });
    // Keys chain: once a step misses, every later step runs again, as in docker build.
    expect(cachedFlags(changed.events)).toEqual([true, true, false, false, false]);
    expect(changed.result.config.rootfs.diff_ids.slice(0, 2)).toEqual(first.result.config.rootfs.diff_ids.slice(0, 2));
    const rootfs = await umociUnpack(root, "docker.io/library/changed:latest");
    expect(readFileSync(path.join(rootfs, "size"), "utf8")).toBe("9 /app/app.txt\n");
  });

  it("rebuilds a cached multi-stage image without unpacking any layer; COPY --from reruns only when the files it copies change", async () => {
    const root = freshRoot();
    const stages = (out: string, other: string) =>
      BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS base") + `RUN echo ${out} > /out\nRUN echo ${other} > /other\nFROM scratch\nCOPY --from=base /out /copied\nCOPY app.txt /app/\n`;
    const ctx = context({ Dockerfile: stages("one", "a"), "app.txt": "v1" });
    const first = await buildCollecting({ context: ctx, root });
    const cachedFlags = (events: typeof first.events) => instructionSteps(events).filter((s) => /^(RUN|COPY)/.test(s.instruction)).map((s) => s.cached);
    // Unpacked layers are only a speed-up: with every one of them gone, a cached rebuild needs none.
    rmSync(path.join(root, "snapshotter"), { recursive: true, force: true });
    const again = await buildCollecting({ context: ctx, root });
    expect(cachedFlags(again.events)).toEqual([true, true, true, true, true, true]);
    expect(again.result.descriptor.digest).toBe(first.result.descriptor.digest);
    expect(existsSync(path.join(root, "snapshotter"))).toBe(false);

    // The stage runs again but /out is the same: as with BuildKit, the COPY --from stays cached.
    writeFileSync(path.join(ctx, "Dockerfile"), stages("one", "b"));
    const other = await buildCollecting({ context: ctx, root });
    expect(cachedFlags(other.events)).toEqual([true, true, true, false, true, true]);
    expect(other.result.config.rootfs.diff_ids).toEqual(first.result.config.rootfs.diff_ids);

    writeFileSync(path.join(ctx, "Dockerfile"), stages("two", "b"));
    const changed = await buildCollecting({ context: ctx, root, tags: ["changed"] });
    expect(cachedFlags(changed.events)).toEqual([true, true, false, false, false, false]);
    expect(readFileSync(path.join(await umociUnpack(root, "docker.io/library/changed:latest"), "copied"), "utf8")).toBe("two\n");
  });

  it("builds independent stages and copies between them; --target stops early", async () => {
    const root = freshRoot();
    const dockerfile =
      BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS base") +
      "FROM base AS left\nRUN echo left > /out\n" +
      "FROM base AS right\nRUN echo right > /out\n" +
      "FROM scratch AS final\nCOPY --from=left /out /left.txt\nCOPY --from=right /out /right.txt\nCOPY --from=base /bin/busybox /busybox\n";
    const ctx = context({ Dockerfile: dockerfile });
    const { result, events } = await buildCollecting({ context: ctx, root, tags: ["multi"] });
    const stagesRun = new Set(instructionSteps(events).map((s) => s.stage));
    expect(stagesRun).toEqual(new Set(["base", "left", "right", "final"]));
    const rootfs = await umociUnpack(root, "docker.io/library/multi:latest");
    expect(readFileSync(path.join(rootfs, "left.txt"), "utf8")).toBe("left\n");
    expect(readFileSync(path.join(rootfs, "right.txt"), "utf8")).toBe("right\n");
    expect(statSync(path.join(rootfs, "busybox")).mode & 0o111).not.toBe(0);
    expect(result.config.rootfs.diff_ids).toHaveLength(3);

    const partial = await buildCollecting({ context: ctx, root, target: "left" });
    expect(new Set(instructionSteps(partial.events).map((s) => s.stage))).toEqual(new Set(["base", "left"]));
  });

  it("COPY --from and RUN --mount from= take ARG values, never a base image's ENV: a clear error at the line, with or without --target", async () => {
    const root = freshRoot();
    // The base image's ENV names stage 0 (a name would be looked up as an image instead).
    await buildCollecting({ context: context({ Dockerfile: BUSYBOX_BASE + "ENV SRC=0\n" }), root, tags: ["env-names-stage"] });
    const copyFrom = (line: string) => `FROM scratch AS builder\nCOPY busybox /bb\nFROM env-names-stage AS final\n${line}COPY --from=$SRC /bb /bb\n`;
    for (const target of ["final", undefined]) {
      const ctx = context({ Dockerfile: copyFrom("") });
      const err = await buildCollecting({ context: ctx, root, ...(target === undefined ? {} : { target }) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DockerfileError);
      expect((err as DockerfileError).format()).toMatch(/\/Dockerfile:4:1: COPY --from=\$SRC is empty: no ARG in scope gives it a value$/);
      expect((err as DockerfileError).hint).toMatch(/^a stage or image to copy or mount from takes ARG values only, not ENV/);
      const mount = context({ Dockerfile: copyFrom("").replace("COPY --from=$SRC /bb /bb", "RUN --mount=type=bind,from=$SRC,target=/m true") });
      const mountErr = await buildCollecting({ context: mount, root, ...(target === undefined ? {} : { target }) }).catch((e: unknown) => e);
      expect(mountErr).toBeInstanceOf(DockerfileError);
      expect((mountErr as DockerfileError).format()).toMatch(/\/Dockerfile:4:1: RUN --mount from=\$SRC is empty: no ARG in scope gives it a value$/);
    }
    // An ARG of the stage gives it, the base image's ENV of the same name notwithstanding.
    const { events } = await buildCollecting({ context: context({ Dockerfile: copyFrom("ARG SRC=builder\n") }), root, target: "final" });
    expect(new Set(instructionSteps(events).map((s) => s.stage))).toEqual(new Set(["builder", "final"]));
  });

  it("leaves out what .dockerignore excludes", async () => {
    const root = freshRoot();
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY . /src/\n", ".dockerignore": "secret.txt\nbusybox\n", "secret.txt": "token", "keep.txt": "k" });
    await buildCollecting({ context: ctx, root, tags: ["ignored"] });
    const rootfs = await umociUnpack(root, "docker.io/library/ignored:latest");
    expect(readFileSync(path.join(rootfs, "src/keep.txt"), "utf8")).toBe("k");
    expect(() => lstatSync(path.join(rootfs, "src/secret.txt"))).toThrow();
    expect(() => lstatSync(path.join(rootfs, "src/busybox"))).toThrow();
  });

  it("runs heredocs: a RUN script and a COPY'd file with variables expanded", async () => {
    const root = freshRoot();
    const ctx = context({
      Dockerfile: BUSYBOX_BASE + "ARG NAME=tbuild\nRUN <<EOF\nset -e\necho \"built by $NAME\" > /by\nEOF\nCOPY <<EOF /etc/motd\nhello from ${NAME}\nEOF\n",
    });
    await buildCollecting({ context: ctx, root, buildArgs: { NAME: "ci" }, tags: ["heredoc"] });
    const rootfs = await umociUnpack(root, "docker.io/library/heredoc:latest");
    expect(readFileSync(path.join(rootfs, "by"), "utf8")).toBe("built by ci\n");
    expect(readFileSync(path.join(rootfs, "etc/motd"), "utf8")).toBe("hello from ci\n");
  });

  it("reports a failing RUN with the Dockerfile line and exit code", async () => {
    const root = freshRoot();
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN echo before\nRUN exit 3\n" });
    const err = await buildCollecting({ context: ctx, root }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TbuildError);
    expect((err as Error).message).toMatch(/Dockerfile:5: RUN failed with exit code 3: exit 3/);
  });

  it("keeps build steps away from tbuild's own environment and, with --network=none, from the network", async () => {
    const root = freshRoot();
    process.env["TBUILD_TEST_SECRET"] = "do-not-leak";
    try {
      const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN env > /env.txt\nRUN --network=none cat /proc/net/dev > /net.txt\n" });
      await buildCollecting({ context: ctx, root, tags: ["isolated"] });
      const rootfs = await umociUnpack(root, "docker.io/library/isolated:latest");
      expect(readFileSync(path.join(rootfs, "env.txt"), "utf8")).not.toContain("do-not-leak");
      const interfaces = readFileSync(path.join(rootfs, "net.txt"), "utf8").split("\n").slice(2).filter((l) => l.trim() !== "").map((l) => l.trim().split(":")[0]);
      expect(interfaces).toEqual(["lo"]);
    } finally {
      delete process.env["TBUILD_TEST_SECRET"];
    }
  });

  it("writes an OCI archive with --output that skopeo reads", async () => {
    const root = freshRoot();
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" });
    const dest = path.join(ctx, "out.tar");
    const { result } = await buildCollecting({ context: ctx, root, tags: ["out"], outputs: [{ type: "oci", dest }] });
    expect((await skopeoInspect(`oci-archive:${dest}`)).Digest).toBe(result.descriptor.digest);
  });

  it("unpacks a local tar archive with ADD, and refuses one that climbs out of the destination", async () => {
    const root = freshRoot();
    const ctx = context({ Dockerfile: "FROM scratch\nADD rootfs.tar.gz /\nADD extra.tar /opt/extra/\nRUN [\"/bin/busybox\", \"test\", \"-x\", \"/bin/busybox\"]\n" });
    const tree = path.join(ctx, "tree");
    execFileSync("mkdir", ["-p", path.join(tree, "bin"), path.join(tree, "etc")]);
    execFileSync("cp", [path.join(ctx, "busybox"), path.join(tree, "bin/busybox")]);
    writeFileSync(path.join(tree, "etc/hostname"), "box\n");
    execFileSync("tar", ["-czf", path.join(ctx, "rootfs.tar.gz"), "-C", tree, "."]);
    execFileSync("tar", ["-cJf", path.join(ctx, "extra.tar"), "-C", path.join(tree, "etc"), "hostname"]);
    writeFileSync(path.join(ctx, ".dockerignore"), "tree\n");
    await buildCollecting({ context: ctx, root, tags: ["unpacked"] });
    const rootfs = await umociUnpack(root, "docker.io/library/unpacked:latest");
    expect(readFileSync(path.join(rootfs, "etc/hostname"), "utf8")).toBe("box\n");
    expect(readFileSync(path.join(rootfs, "opt/extra/hostname"), "utf8")).toBe("box\n");

    execFileSync("tar", ["-cf", path.join(ctx, "evil.tar"), "--absolute-names", "-C", ctx, "../" + path.basename(ctx) + "/Dockerfile"]);
    writeFileSync(path.join(ctx, "Dockerfile"), "FROM scratch\nADD evil.tar /x/\n");
    const err = await buildCollecting({ context: ctx, root }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/Dockerfile:2: .*evil\.tar.*outside/);
  });

  it("runs a base's ONBUILD triggers first and does not pass them on", async () => {
    const root = freshRoot();
    const ctx = context({
      Dockerfile: BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS base") + "ENV WHERE=/triggered\nONBUILD RUN echo yes > $WHERE\nFROM base\nRUN cat /triggered > /seen\n",
    });
    const { result } = await buildCollecting({ context: ctx, root, tags: ["onbuild"] });
    expect(result.config.config?.OnBuild ?? null).toBeNull();
    expect(result.config.history?.map((h) => h.created_by)).toContain("ONBUILD RUN echo yes > $WHERE");
    const rootfs = await umociUnpack(root, "docker.io/library/onbuild:latest");
    expect(readFileSync(path.join(rootfs, "seen"), "utf8")).toBe("yes\n");
  });

  it("runs an image's ONBUILD triggers from its config, expanded in the child with its build args and the image's ENV", async () => {
    const root = freshRoot();
    const base = context({ Dockerfile: BUSYBOX_BASE + "ENV WHERE=/triggered\nONBUILD ARG GREETING=hi\nONBUILD RUN echo \"$GREETING\" > $WHERE\nONBUILD COPY note.txt ${WHERE}.d/\n" });
    await buildCollecting({ context: base, root, tags: ["ob-base:1"] });
    const child = context({ Dockerfile: "FROM ob-base:1\nRUN cat /triggered > /seen\n", "note.txt": "note" });
    const { result } = await buildCollecting({ context: child, root, tags: ["ob-child"], buildArgs: { GREETING: "yo" } });
    expect(result.config.config?.OnBuild ?? null).toBeNull();
    expect(result.config.history?.map((h) => h.created_by)).toContain("ONBUILD COPY note.txt ${WHERE}.d/");
    const rootfs = await umociUnpack(root, "docker.io/library/ob-child:latest");
    expect(readFileSync(path.join(rootfs, "seen"), "utf8")).toBe("yo\n");
    expect(readFileSync(path.join(rootfs, "triggered.d/note.txt"), "utf8")).toBe("note");
  });

  it("expands ENV against the environment the stage really has: $PATH on scratch is docker's default PATH", async () => {
    const root = freshRoot();
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "ENV PATH=/opt/bin:$PATH\nRUN echo \"$PATH\" > /path.txt\n" });
    const { result } = await buildCollecting({ context: ctx, root });
    expect(result.config.config?.Env).toEqual(["PATH=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
  });

  it("downloads ADD URLs (name from the URL, mode 0600), checks --checksum, and keeps credentials out of history", async () => {
    const body = "downloaded content\n";
    const server = createServer((req, res) => {
      if (req.url?.startsWith("/files/tool.sh")) {
        res.writeHead(200, { "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT" });
        res.end(body);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const root = freshRoot();
      const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
      const ctx = context({ Dockerfile: `FROM scratch\nADD --checksum=${digest} http://user:pw@127.0.0.1:${port}/files/tool.sh?x=1 /opt/\n` });
      const { result } = await buildCollecting({ context: ctx, root, tags: ["url"] });
      const rootfs = await umociUnpack(root, "docker.io/library/url:latest");
      const st = statSync(path.join(rootfs, "opt/tool.sh"));
      expect(readFileSync(path.join(rootfs, "opt/tool.sh"), "utf8")).toBe(body);
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.mtime.toISOString()).toBe("2015-10-21T07:28:00.000Z");

      const wrong = context({ Dockerfile: `FROM scratch\nADD --checksum=sha256:${"0".repeat(64)} http://127.0.0.1:${port}/files/tool.sh /opt/\n` });
      await expect(buildCollecting({ context: wrong, root })).rejects.toThrow(/Dockerfile:2: .*not the --checksum/);
      const missing = context({ Dockerfile: `FROM scratch\nADD http://127.0.0.1:${port}/nothing /opt/\n` });
      await expect(buildCollecting({ context: missing, root })).rejects.toThrow(/the server answered 404/);
      expect(result.config.history?.some((h) => h.created_by?.includes("pw@") || h.created_by?.includes("x=1"))).toBe(false);
    } finally {
      server.close();
    }
  });

  it("takes named build contexts: a directory for COPY --from, an image alias for FROM", async () => {
    const root = freshRoot();
    const base = context({ Dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" });
    await buildCollecting({ context: base, root, tags: ["local/base:1"] });
    const extra = context({ "note.txt": "from a named context" });
    const ctx = context({ Dockerfile: "FROM thebase\nCOPY --from=docs note.txt /note.txt\n" });
    const { result } = await buildCollecting({ context: ctx, root, tags: ["named"], contexts: { docs: extra, thebase: "docker-image://local/base:1" } });
    expect(result.config.rootfs.diff_ids).toHaveLength(2);
    const rootfs = await umociUnpack(root, "docker.io/library/named:latest");
    expect(readFileSync(path.join(rootfs, "note.txt"), "utf8")).toBe("from a named context");
    expect(statSync(path.join(rootfs, "bin/busybox")).isFile()).toBe(true);
  });

  it("builds for several platforms into one index, cross-building on this machine's platform", async () => {
    const root = freshRoot();
    const ctx = context({
      Dockerfile:
        BUSYBOX_BASE.replace("FROM scratch", "FROM --platform=$BUILDPLATFORM scratch AS build") +
        "ARG TARGETARCH\nRUN echo \"built for $TARGETARCH\" > /out\nFROM scratch\nCOPY --from=build /out /out\n",
    });
    const { result } = await buildCollecting({ context: ctx, root, tags: ["multi-arch"], platform: "linux/amd64,linux/arm64" });
    expect(result.images).toHaveLength(2);
    const index = JSON.parse((await spawnAsync("skopeo", ["inspect", "--raw", `oci:${root}:docker.io/library/multi-arch:latest`])).stdout) as {
      mediaType: string;
      manifests: { platform: { architecture: string } }[];
    };
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(["amd64", "arm64"]);
    const arm = path.join(freshRoot(), "arm");
    expect((await spawnAsync("skopeo", ["copy", "--override-arch", "arm64", `oci:${root}:docker.io/library/multi-arch:latest`, `oci:${arm}:arm`])).status).toBe(0);
    const rootfs = await umociUnpack(arm, "arm");
    expect(readFileSync(path.join(rootfs, "out"), "utf8")).toBe("built for arm64\n");
  });

  it("copies through the image's symlinks (merged /usr) and keeps the owner and mode of directories it copies into", async () => {
    const root = freshRoot();
    const ctx = context({
      Dockerfile:
        "FROM scratch\nCOPY busybox /usr/bin/busybox\nRUN [\"/usr/bin/busybox\", \"ln\", \"-s\", \"usr/bin\", \"/bin\"]\n" +
        'RUN ["/usr/bin/busybox", "--install", "-s", "/usr/bin"]\n' +
        "RUN mkdir -p /x && chown 1000:1000 /x && chmod 700 /x\nCOPY tool.sh /bin/\nCOPY f.txt /x/\nWORKDIR /bin/sub\nRUN stat -c '%u %g %a' /x > /x-stat && /bin/tool.sh > /tool-out && pwd > /wd\n",
      "tool.sh": "#!/bin/sh\necho tool ran\n",
      "f.txt": "f",
    });
    execFileSync("chmod", ["+x", path.join(ctx, "tool.sh")]);
    await buildCollecting({ context: ctx, root, tags: ["merged-usr"] });
    const rootfs = await umociUnpack(root, "docker.io/library/merged-usr:latest");
    expect(lstatSync(path.join(rootfs, "bin")).isSymbolicLink()).toBe(true);
    expect(readFileSync(path.join(rootfs, "usr/bin/tool.sh"), "utf8")).toContain("echo tool ran");
    expect(readFileSync(path.join(rootfs, "tool-out"), "utf8")).toBe("tool ran\n");
    expect(readFileSync(path.join(rootfs, "x-stat"), "utf8")).toBe("1000 1000 700\n");
    expect(readFileSync(path.join(rootfs, "wd"), "utf8")).toBe("/usr/bin/sub\n");
  });

  it("creates the destination of an empty directory", async () => {
    const root = freshRoot();
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY empty /made/here\n" });
    execFileSync("mkdir", [path.join(ctx, "empty")]);
    await buildCollecting({ context: ctx, root, tags: ["emptydir"] });
    expect(statSync(path.join(await umociUnpack(root, "docker.io/library/emptydir:latest"), "made/here")).isDirectory()).toBe(true);
  });

  it("behaves like docker build in the details: quoted heredocs, HOME, USER's group, MAINTAINER, unused build args", async () => {
    const root = freshRoot();
    const ctx = context({
      Dockerfile:
        BUSYBOX_BASE +
        "MAINTAINER someone@example.com\nARG V=1\nCOPY f.txt /f.txt\n" +
        "RUN <<'EOT'\necho \"quoted: $HOME\" > /quoted\nEOT\n" +
        "RUN mkdir -m 1777 /tmp\nUSER 1000\nRUN id -g > /tmp/gid\n",
      "f.txt": "f",
    });
    const first = await buildCollecting({ context: ctx, root, tags: ["details"], labels: { team: "builds" } });
    expect(first.result.config.config?.Labels?.["team"]).toBe("builds");
    expect(first.result.configDigest).toBe((await (await openStore(root)).resolve("details")).manifest.config.digest);
    const rootfs = await umociUnpack(root, "docker.io/library/details:latest");
    expect(readFileSync(path.join(rootfs, "quoted"), "utf8")).toBe("quoted: /\n");
    expect(readFileSync(path.join(rootfs, "tmp/gid"), "utf8")).toBe("0\n");
    expect(first.result.config.author).toBe("someone@example.com");
    // A new value for V changes nothing the COPY depends on: it stays cached.
    const again = await buildCollecting({ context: ctx, root, buildArgs: { V: "2", UNUSED: "x" } });
    expect(again.events.some((e) => e.kind === "warning" && e.message === "build-args were not consumed: UNUSED (no ARG declares them)")).toBe(true);
    const copy = instructionSteps(again.events).find((s) => s.instruction.startsWith("COPY f.txt"));
    expect(copy?.cached).toBe(true);
  });

  it("refuses a base image stored for another platform instead of building on it", async () => {
    const root = freshRoot();
    await buildCollecting({ context: context({ Dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" }), root, tags: ["amd-only"] });
    const ctx = context({ Dockerfile: "FROM amd-only\n" });
    await expect(buildCollecting({ context: ctx, root, platform: "linux/arm64" })).rejects.toThrow(/amd-only is an image for linux\/amd64, not linux\/arm64/);
  });

  it("runs a heredoc script with its own shebang, whatever its size", async () => {
    const root = freshRoot();
    const big = "x".repeat(200_000);
    const ctx = context({ Dockerfile: BUSYBOX_BASE + `RUN <<EOF\n#!/bin/sh -e\necho ${big} > /big\nfalse\necho after > /after\nEOF\n` });
    const err = await buildCollecting({ context: ctx, root }).catch((e: unknown) => e);
    // sh -e (from the shebang) stops at `false`: the step fails rather than running on.
    expect((err as Error).message).toMatch(/RUN failed with exit code 1/);
  });

  it("reads the Dockerfile from standard input with `tbuild build -` (empty context) and with -f -", async () => {
    const root = freshRoot();
    const cli = path.resolve(import.meta.dirname, "../../dist/cli/main.js");
    const bare = await spawnAsync(process.execPath, [cli, "build", "--root", root, "-q", "-t", "from-stdin", "-"], { input: "FROM scratch\nLABEL via=stdin\n" });
    expect(bare.stderr).toBe("");
    expect(bare.status).toBe(0);
    const ctx = context({});
    const withContext = await spawnAsync(process.execPath, [cli, "build", "--root", root, "-q", "-f", "-", ctx], { input: "FROM scratch\nCOPY busybox /bb\n" });
    expect(withContext.status).toBe(0);
    expect(withContext.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
  });
});

