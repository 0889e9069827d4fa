import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, lstatSync, readlinkSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tar from "tar-stream";
import { nsArgv } from "../../src/userns/namespace.js";
import type { Mount } from "../../src/snapshotter/index.js";

export type TarEntry = Partial<tar.Header> & { name: string; body?: string; pax?: Record<string, string> };

/** A layer tar built in memory from entry descriptions (small test layers only). */
export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { body, ...h } of entries) {
    // tar-stream treats mode 0 as "unset"; a type bit keeps it (only the low 12 bits are written).
    const mode = h.mode === 0 ? 0o100000 : h.mode;
    pack.entry({ mtime: new Date(1_600_000_000_000), uid: 0, gid: 0, ...h, mode: mode ?? (h.type === "directory" ? 0o755 : 0o644) }, body ?? "");
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Every entry of a tree as one comparable line: type, mode, owner, size/target/content hash, mtime seconds. */
export function listing(root: string, opts: { dirMtimes?: boolean; mtimes?: boolean } = {}): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const p = rel === "" ? name : `${rel}/${name}`;
      const abs = join(root, p);
      const st = lstatSync(abs);
      const kind = st.isDirectory() ? "d" : st.isSymbolicLink() ? `l->${readlinkSync(abs)}` : st.isFile() ? `f:${createHash("sha256").update(readFileSync(abs)).digest("hex").slice(0, 12)}` : `o:${st.rdev}`;
      const time = opts.mtimes === false || (st.isDirectory() && !opts.dirMtimes) ? "" : ` t=${Math.floor(st.mtimeMs / 1000)}`;
      out.push(`${p} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} n=${st.isDirectory() ? "" : st.nlink}${time}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk("");
  return out;
}

/** Runs a shell script as a RUN step would: with the snapshot's mounts at a fresh mount point. */
export function runStep(mounts: Mount[], script: string): void {
  const m = mounts[0]!;
  const target = mkdtempSync(join(tmpdir(), "tbuild-step-"));
  const mountCmd = m.type === "overlay" ? `mount -t overlay overlay -o "$2" "$1"` : `mount --bind "$3" "$1"`;
  const [cmd, ...args] = nsArgv("sh", ["-c", `${mountCmd} && cd "$1" && (${script})`, "step", target, m.options.join(","), m.source], { mount: true });
  const r = spawnSync(cmd!, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`step failed: ${r.stderr}`);
}

export function tmp(prefix = "tbuild-snap-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
