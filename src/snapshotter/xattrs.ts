/**
 * Extended attributes through tbuild's own helper (src/native/xattrs.c), since Node has
 * no getxattr/setxattr. One helper process reads a whole tree or list, and one writes a
 * whole layer's worth, so the cost is per layer, not per file. Symlinks are never
 * followed. The helper runs through the namespace helper, so as a normal user it sees
 * the image's ids and overlay's `user.overlay.*` markers as namespace root does.
 */
import { waitExit } from "../child-process.js";
import { isTbuildError, TbuildError } from "../errors.js";
import { nativeHelper } from "../native/binaries.js";
import { missingTool } from "../os-tools.js";
import { namespaceFailure, nsSpawn } from "../userns/namespace.js";

export type Xattrs = Map<string, Buffer>;

/** Overlay's own bookkeeping; never part of an image. */
export function isOverlayPrivate(name: string): boolean {
  return name.startsWith("trusted.overlay.") || name.startsWith("user.overlay.");
}

/** Runs the helper with `input` on stdin and returns its stdout; a failure says what we were doing. */
async function runHelper(args: string[], input: Buffer, doing: string): Promise<Buffer> {
  const helper = nativeHelper("tbuild-xattrs");
  const child = nsSpawn(helper, args, { stdio: ["pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  let stderr = "";
  child.stdout?.on("data", (c: Buffer) => out.push(c));
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-4000);
  });
  // A helper that failed early closes its stdin; its own message is the one to report.
  child.stdin?.on("error", () => undefined);
  child.stdin?.end(input);
  const { code } = await waitExit(child, { doing, drainMs: 2000 }).catch((e: unknown) => {
    throw isTbuildError(e) ? e : missingTool((e as NodeJS.ErrnoException).path ?? helper, doing, e as Error);
  });
  if (code === 0) return Buffer.concat(out);
  const said = stderr.trim().replace(/^tbuild-xattrs: /gm, "");
  throw namespaceFailure(stderr, doing) ?? new TbuildError("unavailable", `${doing}: ${said || `the helper exited with ${code}`}`);
}

/** The helper's records: PATH\0 COUNT(u32le), then COUNT x (NAME\0 LENGTH(u32le) VALUE). */
function parseRecords(buf: Buffer): Map<string, Xattrs> {
  const result = new Map<string, Xattrs>();
  let at = 0;
  const cstring = (): string => {
    const end = buf.indexOf(0, at);
    if (end < 0) throw new TbuildError("internal", "tbuild-xattrs printed a truncated record");
    const s = buf.toString("utf8", at, end);
    at = end + 1;
    return s;
  };
  const u32 = (): number => {
    const v = buf.readUInt32LE(at);
    at += 4;
    return v;
  };
  while (at < buf.length) {
    const attrs: Xattrs = new Map();
    result.set(cstring(), attrs);
    for (let n = u32(); n > 0; n--) {
      const name = cstring();
      const len = u32();
      attrs.set(name, Buffer.from(buf.subarray(at, at + len)));
      at += len;
    }
  }
  return result;
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/**
 * Every attribute in the tree under `root` (all namespaces this process may read),
 * keyed by absolute path. Only files that have attributes appear, so the map stays
 * small for ordinary trees.
 */
export async function readTreeXattrs(root: string): Promise<Map<string, Xattrs>> {
  return parseRecords(await runHelper(["tree", root], Buffer.alloc(0), `reading extended attributes under ${root}`));
}

/** The attributes of a few named paths (missing paths are simply absent from the result). */
export async function readXattrs(paths: readonly string[]): Promise<Map<string, Xattrs>> {
  if (paths.length === 0) return new Map();
  const input = Buffer.concat(paths.map((p) => Buffer.from(`${p}\0`, "utf8")));
  return parseRecords(await runHelper(["get"], input, "reading extended attributes"));
}

export interface XattrRecord {
  /** Absolute path; a symlink gets the attributes itself. */
  path: string;
  attrs: Iterable<[string, Buffer]>;
}

/** Sets every record's attributes, with one helper process for all of them. */
export async function writeXattrs(records: readonly XattrRecord[], doing: string): Promise<void> {
  if (records.length === 0) return;
  const parts: Buffer[] = [];
  for (const { path, attrs } of records) {
    const list = [...attrs];
    parts.push(Buffer.from(`${path}\0`, "utf8"), u32le(list.length));
    for (const [name, value] of list) parts.push(Buffer.from(`${name}\0`, "utf8"), u32le(value.length), value);
  }
  await runHelper(["set"], Buffer.concat(parts), doing);
}
