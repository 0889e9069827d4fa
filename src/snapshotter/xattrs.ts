/**
 * Extended attributes through the `attr` package's tools, since Node has no
 * getxattr/setxattr. One `getfattr -R` process reads a whole tree and one `setfattr
 * --restore` writes a whole layer's worth, so the cost is per layer, not per file.
 * Symlinks are never followed (`-h`).
 */
import { nsRun } from "./namespace.js";

export type Xattrs = Map<string, Buffer>;

/** Overlay's own bookkeeping; never part of an image. */
export function isOverlayPrivate(name: string): boolean {
  return name.startsWith("trusted.overlay.") || name.startsWith("user.overlay.");
}

/** getfattr escapes bytes in names as `\ooo` octal (and `\\`); this undoes it. */
function unescapeName(s: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(s, "utf8");
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as number;
    if (c === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString("latin1"))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString("latin1"), 8));
      i += 3;
    } else if (c === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i += 1;
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

function escapeName(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    if (b === 0x5c) out += "\\\\";
    else if (b <= 0x20 || b === 0x3d || b >= 0x7f) out += "\\" + b.toString(8).padStart(3, "0");
    else out += String.fromCharCode(b);
  }
  return out;
}

function parseValue(v: string): Buffer {
  if (v.startsWith("0s")) return Buffer.from(v.slice(2), "base64");
  if (v.startsWith("0x")) return Buffer.from(v.slice(2), "hex");
  if (v.startsWith('"') && v.endsWith('"')) return Buffer.from(unescapeName(v.slice(1, -1)), "utf8");
  return Buffer.from(v, "utf8");
}

/** Parses `getfattr --dump -e base64` output into absolute path -> attributes. */
function parseDump(text: string): Map<string, Xattrs> {
  const result = new Map<string, Xattrs>();
  let current: Xattrs | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("# file: ")) {
      current = new Map();
      result.set(unescapeName(line.slice("# file: ".length)), current);
    } else if (current !== undefined && line.length > 0 && !line.startsWith("#")) {
      const eq = line.indexOf("=");
      if (eq < 0) current.set(unescapeName(line), Buffer.alloc(0));
      else current.set(unescapeName(line.slice(0, eq)), parseValue(line.slice(eq + 1)));
    }
  }
  return result;
}

/**
 * Every attribute in the tree under `root` (all namespaces this process may read),
 * keyed by absolute path. Only files that have attributes appear, so the map stays
 * small for ordinary trees.
 */
export async function readTreeXattrs(root: string): Promise<Map<string, Xattrs>> {
  const { stdout } = await nsRun("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "base64", "--absolute-names", root], `reading extended attributes under ${root}`).catch(
    (e: unknown) => {
      // getfattr exits 1 when the tree has nothing to report or a file vanished; what it printed still holds.
      if (e instanceof Error && /exit 1\)/.test(e.message) && !/Permission denied/.test(e.message)) return { stdout: "" };
      throw e;
    },
  );
  return parseDump(stdout);
}

/** The attributes of a few named paths (missing paths are simply absent from the result). */
export async function readXattrs(paths: readonly string[]): Promise<Map<string, Xattrs>> {
  if (paths.length === 0) return new Map();
  const { stdout } = await nsRun("getfattr", ["-h", "-d", "-m", "-", "-e", "base64", "--absolute-names", "--", ...paths], "reading extended attributes").catch(() => ({
    stdout: "",
  }));
  return parseDump(stdout);
}

/** One restore record in `getfattr --dump` format, for `writeXattrs`. */
export function dumpRecord(path: string, attrs: Iterable<[string, Buffer]>): string {
  let s = `# file: ${escapeName(path)}\n`;
  for (const [name, value] of attrs) s += `${escapeName(name)}=0s${value.toString("base64")}\n`;
  return s + "\n";
}

/** Applies a dump (built with `dumpRecord`, absolute paths) without following symlinks. */
export async function writeXattrs(dump: string, doing: string): Promise<void> {
  if (dump.length === 0) return;
  await nsRun("setfattr", ["-h", "--restore=-"], doing, { input: dump });
}
