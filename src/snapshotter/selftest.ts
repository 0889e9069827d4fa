/**
 * `node dist/snapshotter/selftest.js DIR` checks, as whatever user runs it, that this
 * machine can do what a rootless build needs: for each usable driver it imports a small
 * layer holding files owned by image users (33, 999), changes the tree the way a RUN
 * step would (inside the namespace helper, through the overlay mount when there is one),
 * diffs it into a content store and prints the results as JSON. The rootless tests run
 * it as an unprivileged user; people can run it to diagnose their machine.
 */
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import tar from "tar-stream";
import type { ContentReader } from "../content/content.js";
import { LocalContentStore } from "../content/local.js";
import { TbuildError } from "../errors.js";
import { decompressed } from "./compression.js";
import { nsRun } from "../userns/namespace.js";
import { overlaySupported } from "./drivers/index.js";
import { openSnapshotter, type Driver } from "./snapshotter.js";

const EDIT = [
  "cd \"$1\"",
  "rm etc/gone",
  "rm -rf var/cache && mkdir var/cache && echo fresh > var/cache/new && chown 999:999 var/cache/new",
  "ln etc/motd etc/motd.link",
  "chmod 4755 usr/bin/tool",
].join(" && ");

async function baseLayer(): Promise<Buffer> {
  const pack = tar.pack();
  const mtime = new Date(1_600_000_000_000);
  const add = (h: Partial<tar.Header> & { name: string }, body?: string): void => void pack.entry({ mtime, uid: 0, gid: 0, mode: 0o644, ...h }, body ?? "");
  add({ name: "etc", type: "directory", mode: 0o755 });
  add({ name: "etc/motd" }, "hello\n");
  add({ name: "etc/gone" }, "bye\n");
  add({ name: "var", type: "directory", mode: 0o755 });
  add({ name: "var/www", type: "directory", mode: 0o750, uid: 33, gid: 33 });
  add({ name: "var/www/index.html", uid: 33, gid: 33 }, "<p>hi</p>\n");
  add({ name: "var/cache", type: "directory", mode: 0o755 });
  add({ name: "var/cache/old", uid: 999, gid: 999 }, "stale\n");
  add({ name: "usr", type: "directory", mode: 0o755 });
  add({ name: "usr/bin", type: "directory", mode: 0o755 });
  add({ name: "usr/bin/tool", mode: 0o755 }, "#!/bin/sh\n");
  add({ name: "dev", type: "directory", mode: 0o755 });
  add({ name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 });
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function entries(store: ContentReader, digest: string): Promise<{ name: string; type: string; uid: number; gid: number; mode: number; linkname?: string }[]> {
  const out: { name: string; type: string; uid: number; gid: number; mode: number; linkname?: string }[] = [];
  const extract = tar.extract();
  const src = await decompressed(store.openRead(digest), digest);
  src.pipe(extract as unknown as NodeJS.WritableStream);
  for await (const e of extract) {
    const h = e.header;
    out.push({ name: h.name, type: h.type, uid: h.uid, gid: h.gid, mode: h.mode, ...(h.linkname ? { linkname: h.linkname } : {}) });
    e.resume();
  }
  return out;
}

async function check(dir: string, driver: Driver, layer: Buffer) {
  const store = new LocalContentStore(join(dir, "content"));
  const sn = await openSnapshotter({ root: join(dir, driver), driver });
  await sn.prepare("extract", undefined);
  const applied = await sn.apply("extract", Readable.from([layer]), { layer: "selftest-base" });
  await sn.commit("base", "extract");
  const mounts = await sn.prepare("step", "base");
  const m = mounts[0]!;
  if (m.type === "overlay") {
    const merged = join(dir, `${driver}-merged`);
    await nsRun("mkdir", ["-p", merged], "making a mount point");
    await nsRun("sh", ["-c", `mount -t overlay overlay -o "$2" "$1" && (${EDIT})`, "edit", merged, m.options.join(",")], "changing the tree", { mount: true });
  } else {
    await nsRun("sh", ["-c", EDIT, "edit", m.source], "changing the tree");
  }
  const layerDesc = await sn.diff("step", store, { sourceDateEpoch: 1_700_000_000 });
  const www = await lstat(join(dir, driver, "snapshots", "1", "fs", "var", "www"));
  return {
    driver: sn.driver,
    applyWarnings: applied.warnings,
    layer: layerDesc,
    entries: await entries(store, layerDesc.digest),
    hostOwnerOfWww: { uid: www.uid, gid: www.gid },
  };
}

async function main(dir: string | undefined): Promise<void> {
  if (dir === undefined) throw new TbuildError("invalid-argument", "usage: selftest.js DIR (an empty directory to work in)");
  const layer = await baseLayer();
  const overlay = await overlaySupported(join(dir, "overlay"));
  const results = [];
  for (const driver of overlay ? (["overlay", "native"] as const) : (["native"] as const)) results.push(await check(dir, driver, layer));
  process.stdout.write(JSON.stringify({ uid: process.getuid?.(), overlay, results }, null, 1) + "\n");
}

main(process.argv[2]).catch((e: unknown) => {
  process.stderr.write(e instanceof TbuildError ? `selftest: ${e.message}\n${e.hint === undefined ? "" : `hint: ${e.hint}\n`}` : `selftest: ${String(e)}\n`);
  process.exitCode = 1;
});
