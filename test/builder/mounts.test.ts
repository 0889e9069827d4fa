import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BUSYBOX_BASE, buildCollecting, context, freshRoot, umociUnpack } from "./helpers.js";

/** Every file's bytes in an unpacked tree, for "is this string anywhere in the image". */
function treeText(rootfs: string): string {
  return execFileSync("sh", ["-c", `find "${rootfs}" -type f ! -name busybox -exec cat {} +`], { encoding: "latin1" });
}

describe("RUN --mount", () => {
  it("keeps a cache mount between builds and out of the image", async () => {
    const root = freshRoot();
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN --mount=type=cache,target=/root/.cache,id=pkgs echo run >> /root/.cache/log && wc -l < /root/.cache/log > /runs\n" });
    await buildCollecting({ context: ctx, root, tags: ["c1"] });
    await buildCollecting({ context: ctx, root, tags: ["c2"], noCache: true });
    const rootfs = await umociUnpack(root, "docker.io/library/c2:latest");
    expect(readFileSync(path.join(rootfs, "runs"), "utf8").trim()).toBe("2");
    expect(existsSync(path.join(rootfs, "root"))).toBe(false);
  });

  it("hands a secret to one step without it reaching layers, history or the config", async () => {
    const root = freshRoot();
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN --mount=type=secret,id=token,required=true cat /run/secrets/token | tr a-z A-Z > /shout\n" });
    const secretFile = path.join(ctx, "..", `${path.basename(ctx)}-token`);
    writeFileSync(secretFile, "hush-hush-42");
    const { result } = await buildCollecting({ context: ctx, root, tags: ["secret"], secrets: { token: { file: secretFile } } });
    const rootfs = await umociUnpack(root, "docker.io/library/secret:latest");
    expect(readFileSync(path.join(rootfs, "shout"), "utf8")).toBe("HUSH-HUSH-42");
    expect(existsSync(path.join(rootfs, "run"))).toBe(false);
    expect(treeText(rootfs)).not.toContain("hush-hush-42");
    expect(JSON.stringify(result.config)).not.toContain("hush");

    const missing = await buildCollecting({ context: ctx, root, noCache: true }).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/secret 'token' is required/);
  });

  it("binds the context as COPY sees it (no .dockerignore'd files) and never writes to it", async () => {
    const root = freshRoot();
    const ctx = context({
      Dockerfile:
        BUSYBOX_BASE +
        "RUN --mount=type=bind,target=/ctx,rw ls /ctx > /listing && echo scribble > /ctx/app.txt\n" +
        "RUN --mount=type=bind,source=app.txt,target=/one,rw echo scribble > /one\n",
      ".dockerignore": "private.key\n",
      "private.key": "KEY",
      "app.txt": "app",
    });
    await buildCollecting({ context: ctx, root, tags: ["bind"] });
    const listing = readFileSync(path.join(await umociUnpack(root, "docker.io/library/bind:latest"), "listing"), "utf8").split("\n");
    expect(listing).toContain("app.txt");
    expect(listing).not.toContain("private.key");
    expect(readFileSync(path.join(ctx, "app.txt"), "utf8")).toBe("app");
  });

  it("resolves a bind source inside the stage it names, even through a symlink to / (Buildah CVE-2024-1753)", async () => {
    const root = freshRoot();
    const ctx = context({
      Dockerfile:
        BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS evil") +
        "RUN ln -s / /rootdir && echo inside-stage > /marker\nFROM evil\nRUN --mount=type=bind,from=evil,source=/rootdir,target=/m ls /m > /seen\n",
    });
    await buildCollecting({ context: ctx, root, tags: ["evil"] });
    const seen = readFileSync(path.join(await umociUnpack(root, "docker.io/library/evil:latest"), "seen"), "utf8").split("\n");
    expect(seen).toContain("marker");
    // The host's top-level directories (this checkout's parent, /usr on the host) are not what the step sees.
    expect(seen).not.toContain("usr");
  });

  it("refuses mount targets that go through a symlink, unknown options, and keeps cache ids out of paths", async () => {
    const root = freshRoot();
    const through = context({ Dockerfile: BUSYBOX_BASE + "RUN ln -s /etc /linked\nRUN --mount=type=tmpfs,target=/linked/x true\n" });
    await expect(buildCollecting({ context: through, root })).rejects.toThrow(/target \/linked\/x: \/linked is a symlink in the image/);
    const option = context({ Dockerfile: BUSYBOX_BASE + "RUN --mount=type=bind,target=/m,bind-propagation=shared true\n" });
    await expect(buildCollecting({ context: option, root })).rejects.toThrow(/unknown option 'bind-propagation'/);

    const escapeTarget = path.join(path.dirname(root), `${path.basename(root)}-escape`);
    const traversal = context({ Dockerfile: BUSYBOX_BASE + `RUN --mount=type=cache,id=../../../../..${escapeTarget},target=/c touch /c/was-here\n` });
    await buildCollecting({ context: traversal, root });
    expect(existsSync(escapeTarget)).toBe(false);
  });
});
