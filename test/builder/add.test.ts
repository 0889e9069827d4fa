/** ADD of local files that look like archives, and archives into a merged-/usr image. */
import { execFileSync } from "node:child_process";
import { lstatSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { buildCollecting, context, freshRoot, umociUnpack } from "./helpers.js";

describe.each(["overlay", "native"] as const)("ADD with the %s snapshotter", (snapshotter) => {
  it("copies a gzip file that holds no tar as it is, as docker does", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nADD data.gz /x\n" });
    const gz = gzipSync(Buffer.from("not a tar, just text\n".repeat(50)));
    writeFileSync(path.join(ctx, "data.gz"), gz);
    const root = freshRoot();
    await buildCollecting({ context: ctx, root, tags: ["gz"], snapshotter });
    expect(readFileSync(path.join(await umociUnpack(root, "docker.io/library/gz:latest"), "x"))).toEqual(gz);
  });

  it("unpacks an archive into /bin/ through a merged-/usr symlink, as COPY does", async () => {
    const ctx = context({
      Dockerfile: 'FROM scratch\nCOPY busybox /usr/bin/busybox\nRUN ["/usr/bin/busybox", "ln", "-s", "usr/bin", "/bin"]\nADD tools.tar /bin/\nCOPY note /bin/\n',
      note: "n",
    });
    writeFileSync(path.join(ctx, "tool"), "#!/bin/sh\n");
    execFileSync("tar", ["-cf", "tools.tar", "tool"], { cwd: ctx });
    const root = freshRoot();
    await buildCollecting({ context: ctx, root, tags: ["merged"], snapshotter });
    const rootfs = await umociUnpack(root, "docker.io/library/merged:latest");
    expect(lstatSync(path.join(rootfs, "bin")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(rootfs, "bin"))).toBe("usr/bin");
    expect(readFileSync(path.join(rootfs, "usr/bin/tool"), "utf8")).toBe("#!/bin/sh\n");
    expect(readFileSync(path.join(rootfs, "usr/bin/note"), "utf8")).toBe("n");
  });
});
