/**
 * Extended attributes through tbuild's own helper (src/native/xattrs.c), since Node has
 * no getxattr/setxattr. One request reads a whole tree or list, and one writes a whole
 * layer's worth, so the cost is per layer, not per file; one helper process serves them all. Symlinks are never
 * followed. The helper runs through the namespace helper, so as a normal user it sees
 * the image's ids and overlay's `user.overlay.*` markers as namespace root does.
 */
import type { ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { TbuildError } from "../errors.js";
import { nativeHelper } from "../native/binaries.js";
import { missingTool } from "../os-tools.js";
import { namespaceFailure, nsSpawn } from "../userns/namespace.js";

export type Xattrs = Map<string, Buffer>;

/** Overlay's own bookkeeping; never part of an image. */
export function isOverlayPrivate(name: string): boolean {
  return name.startsWith("trusted.overlay.") || name.startsWith("user.overlay.");
}

/** A request waiting for its answer; answers come back in the order requests were sent. */
interface Pending {
  doing: string;
  resolve: (records: Buffer) => void;
  reject: (e: Error) => void;
}

/**
 * This process's one helper (`tbuild-xattrs serve`), started on first use: a build asks
 * a few times per step, and starting a process each time (as a normal user, unshare with
 * newuidmap and newgidmap too) cost more than the asking. Idle, it does not keep Node
 * running; it ends when our end of its stdin closes, at the latest when we exit.
 */
class Server {
  private child: ChildProcess | undefined;
  private readonly pending: Pending[] = [];
  private received: Buffer[] = [];
  private receivedLength = 0;
  private stderr = "";

  ask(op: "t" | "g" | "s", payload: Buffer, doing: string): Promise<Buffer> {
    const child = this.child ?? this.start();
    const head = Buffer.alloc(5);
    head[0] = op.charCodeAt(0);
    head.writeUInt32LE(payload.length, 1);
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.push({ doing, resolve, reject });
      this.hold(true);
      child.stdin?.write(Buffer.concat([head, payload]));
    });
  }

  private start(): ChildProcess {
    const helper = nativeHelper("tbuild-xattrs");
    const child = nsSpawn(helper, ["serve"], { stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    this.received = [];
    this.receivedLength = 0;
    this.stderr = "";
    child.stdout?.on("data", (c: Buffer) => this.answer(c));
    child.stderr?.on("data", (c: Buffer) => {
      this.stderr = (this.stderr + c.toString("utf8")).slice(-4000);
    });
    // A helper that failed early closes its stdin; how it ended is what to report.
    child.stdin?.on("error", () => undefined);
    child.on("error", (e: NodeJS.ErrnoException) => this.lost(child, (doing) => missingTool(e.path ?? helper, doing, e)));
    child.on("exit", (code) => {
      const said = this.stderr.trim().replace(/^tbuild-xattrs: /gm, "");
      this.lost(child, (doing) => namespaceFailure(this.stderr, doing) ?? new TbuildError("unavailable", `${doing}: ${said || `the helper exited with ${code}`}`));
    });
    child.unref();
    return child;
  }

  /** Keeps Node running while an answer is due, and only then. */
  private hold(on: boolean): void {
    for (const s of [this.child?.stdout, this.child?.stderr, this.child?.stdin] as (Socket | null | undefined)[]) {
      if (on) s?.ref?.();
      else s?.unref?.();
    }
  }

  private answer(chunk: Buffer): void {
    // Chunks are joined once an answer is whole: joining on every chunk would copy a
    // large answer (a tree where every file has attributes) quadratically often.
    this.received.push(chunk);
    this.receivedLength += chunk.length;
    while (this.receivedLength >= 5) {
      if (this.received[0]!.length < 5) this.received = [Buffer.concat(this.received)];
      const length = this.received[0]!.readUInt32LE(1);
      if (this.receivedLength < 5 + length) break;
      const all = this.received.length === 1 ? this.received[0]! : Buffer.concat(this.received);
      const failed = all[0] !== 0;
      const body = all.subarray(5, 5 + length);
      const rest = all.subarray(5 + length);
      this.received = rest.length === 0 ? [] : [rest];
      this.receivedLength = rest.length;
      const p = this.pending.shift();
      if (p === undefined) continue;
      if (failed) p.reject(new TbuildError("unavailable", `${p.doing}: ${body.toString("utf8")}`));
      else p.resolve(Buffer.from(body));
    }
    if (this.pending.length === 0) this.hold(false);
  }

  /** The helper is gone: what it still owed fails, and the next request starts another. */
  private lost(child: ChildProcess, why: (doing: string) => Error): void {
    if (this.child !== child) return;
    this.child = undefined;
    for (const p of this.pending.splice(0)) p.reject(why(p.doing));
  }
}

const server = new Server();

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
  return parseRecords(await server.ask("t", Buffer.from(`${root}\0`, "utf8"), `reading extended attributes under ${root}`));
}

/** The attributes of a few named paths (missing paths are simply absent from the result). */
export async function readXattrs(paths: readonly string[]): Promise<Map<string, Xattrs>> {
  if (paths.length === 0) return new Map();
  const input = Buffer.concat(paths.map((p) => Buffer.from(`${p}\0`, "utf8")));
  return parseRecords(await server.ask("g", input, "reading extended attributes"));
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
  await server.ask("s", Buffer.concat(parts), doing);
}
