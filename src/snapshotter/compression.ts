/**
 * Layer (de)compression as streams. gzip is compressed in this process (block-gzip.ts,
 * on every core, the same bytes whatever programs are installed) and decompressed by
 * node:zlib; zstd needs the `zstd` CLI. Child processes are wrapped as Duplex streams whose failure (non-zero
 * exit) surfaces as a stream error, so a broken compressor can never yield a
 * truncated blob that looks fine.
 */
import { spawn, spawnSync } from "node:child_process";
import { Duplex, PassThrough, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { TbuildError } from "../errors.js";
import { installHint, missingTool } from "../os-tools.js";
import { MediaType } from "../oci/media-types.js";
import { blockGzip } from "./block-gzip.js";

export type Compression = "gzip" | "zstd" | "none";

export function layerMediaType(c: Compression): string {
  return c === "gzip" ? MediaType.ociLayerGzip : c === "zstd" ? MediaType.ociLayerZstd : MediaType.ociLayer;
}

const available = new Map<string, boolean>();
/** Whether `cmd` runs here; asked once per process. */
export function hasTool(cmd: string): boolean {
  let ok = available.get(cmd);
  if (ok === undefined) {
    ok = spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
    available.set(cmd, ok);
  }
  return ok;
}

/** A child process as a Duplex: bytes in on stdin, out on stdout; a non-zero exit is an error. */
export function toolStream(cmd: string, args: string[], doing: string): Duplex {
  const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    if (stderr.length < 4000) stderr += c.toString("utf8");
  });
  // stdout ends before the exit status is known; hold its end until the child has exited cleanly.
  const out = new PassThrough();
  child.stdout.pipe(out, { end: false });
  const duplex = Duplex.from({ writable: child.stdin, readable: out });
  let stdoutDone = false;
  let exit: number | null | undefined;
  const finish = (): void => {
    if (!stdoutDone || exit === undefined) return;
    if (exit === 0) out.end();
    else duplex.destroy(new TbuildError("internal", `${doing}: ${cmd} exited with ${exit}: ${stderr.trim()}`));
  };
  child.stdout.on("end", () => {
    stdoutDone = true;
    finish();
  });
  child.on("exit", (code) => {
    exit = code;
    finish();
  });
  child.on("error", (e) => duplex.destroy(missingTool(cmd, doing, e)));
  duplex.on("close", () => {
    if (exit === undefined) child.kill();
  });
  return duplex;
}

/** A transform that compresses a tar stream. */
export function compressor(c: Compression): Duplex {
  switch (c) {
    case "gzip":
      return blockGzip();
    case "zstd":
      if (!hasTool("zstd")) {
        throw new TbuildError("unavailable", "zstd compression needs the zstd command, which is not installed", {
          hint: `${installHint("zstd")}, or use gzip compression`,
        });
      }
      return toolStream("zstd", ["-q", "-c", "-3", "-T0"], "compressing a layer with zstd");
    case "none":
      return new PassThrough();
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(buf: Buffer, magic: number[]): boolean {
  return buf.length >= magic.length && magic.every((b, i) => buf[i] === b);
}

/** Reads the first bytes without consuming them. */
async function peek(input: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  for await (const chunk of input.iterator({ destroyOnReturn: false })) {
    chunks.push(chunk as Buffer);
    have += (chunk as Buffer).length;
    if (have >= n) break;
  }
  const head = Buffer.concat(chunks);
  if (head.length > 0) input.unshift(head);
  return head;
}

/** Which compression data uses, from its first bytes (media types lie often enough). */
export function compressionOf(head: Buffer): Compression {
  if (startsWith(head, GZIP_MAGIC)) return "gzip";
  if (startsWith(head, ZSTD_MAGIC)) return "zstd";
  return "none";
}

/** Which compression a stream uses, read without consuming it. */
export async function sniffCompression(input: Readable): Promise<Compression> {
  return compressionOf(await peek(input, 4));
}

/** The uncompressed tar inside `input`, whatever its compression. */
export async function decompressed(input: Readable, what: string): Promise<Readable> {
  const c = await sniffCompression(input);
  if (c === "none") return input;
  const d =
    c === "gzip"
      ? createGunzip()
      : hasTool("zstd")
        ? toolStream("zstd", ["-q", "-d", "-c"], `decompressing ${what}`)
        : (() => {
            throw new TbuildError("unavailable", `${what} is zstd-compressed and the zstd command is not installed`, { hint: installHint("zstd") });
          })();
  input.on("error", (e) => d.destroy(e));
  return input.pipe(d);
}
