/**
 * Tar header blocks for layer tars, encoded byte for byte as tar-stream 3's packer
 * encodes them (ustar; a PAX record for a name or link target a ustar header cannot hold).
 * Layers were written through tar-stream before, and a layer's digest is its identity:
 * the same tree must give the same bytes, so this mirrors its quirks too (a directory's
 * name carries no trailing `/`, a PAX-described entry's own header is named `PaxHeader`,
 * mtimes are truncated to 32 bits). test/snapshotter/tar-header.test.ts checks it against
 * tar-stream itself.
 */
export type TarEntryType = "file" | "link" | "symlink" | "character-device" | "block-device" | "directory" | "fifo";

export interface TarHeader {
  name: string;
  /** st_mode; only the permission bits are encoded. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  type: TarEntryType;
  linkname: string;
  devmajor: number;
  devminor: number;
}

const TYPEFLAG: Record<TarEntryType | "pax-header", number> = {
  file: 0,
  link: 1,
  symlink: 2,
  "character-device": 3,
  "block-device": 4,
  directory: 5,
  fifo: 6,
  "pax-header": 72,
};

/** Zero bytes to pad `size` to a whole 512-byte block. */
export function padding(size: number): Buffer {
  const rest = size & 511;
  return rest === 0 ? EMPTY : Buffer.alloc(512 - rest);
}

/** The end of an archive: two zero blocks. */
export const END_OF_TAR = Buffer.alloc(1024);

const EMPTY = Buffer.alloc(0);

function octal(value: number, digits: number): string {
  const s = value.toString(8);
  return s.length > digits ? "7".repeat(digits) + " " : s.padStart(digits, "0") + " ";
}

function writeSize(buf: Buffer, size: number): void {
  if (size.toString(8).length <= 11) {
    buf.write(octal(size, 11), 124);
    return;
  }
  // Base-256, as GNU tar writes sizes of 8 GiB and more.
  buf[124] = 0x80;
  let n = size;
  for (let i = 11; i > 0; i--) {
    buf[124 + i] = n & 0xff;
    n = Math.floor(n / 0x100);
  }
}

/** One ustar header block, or undefined when name or link target do not fit one. */
function ustar(h: Omit<TarHeader, "type"> & { type: TarEntryType | "pax-header" }): Buffer | undefined {
  let name = h.name;
  let prefix = "";
  if (Buffer.byteLength(name) !== name.length) return undefined;
  while (name.length > 100) {
    const i = name.indexOf("/");
    if (i === -1) return undefined;
    prefix += prefix ? "/" + name.slice(0, i) : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (name.length > 100 || prefix.length > 155) return undefined;
  if (h.linkname !== "" && Buffer.byteLength(h.linkname) > 100) return undefined;
  const buf = Buffer.alloc(512);
  buf.write(name, 0);
  buf.write(octal(h.mode & 0o7777, 6), 100);
  buf.write(octal(h.uid, 6), 108);
  buf.write(octal(h.gid, 6), 116);
  writeSize(buf, h.size);
  buf.write(octal(h.mtime | 0, 11), 136);
  buf[156] = 0x30 + TYPEFLAG[h.type];
  if (h.linkname !== "") buf.write(h.linkname, 157);
  buf.write("ustar\x0000", 257, "latin1");
  buf.write(octal(h.devmajor, 6), 329);
  buf.write(octal(h.devminor, 6), 337);
  if (prefix !== "") buf.write(prefix, 345);
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += buf[i]!;
  for (let i = 156; i < 512; i++) sum += buf[i]!;
  buf.write(octal(sum, 6), 148);
  return buf;
}

/** A PAX record "LEN key=value\n", its length counted as tar-stream counts it. */
function paxRecord(body: string): string {
  const len = Buffer.byteLength(body);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= Math.pow(10, digits)) digits++;
  return `${len + digits}${body}`;
}

/**
 * The header blocks of one entry (without its body): one ustar block, or, when the
 * name or link target does not fit, a PAX header carrying them followed by the entry's
 * block.
 */
export function encodeHeader(h: TarHeader): Buffer[] {
  const size = h.type === "symlink" ? 0 : h.size;
  const plain = ustar({ ...h, size });
  if (plain !== undefined) return [plain];
  const records = Buffer.from((h.name ? paxRecord(` path=${h.name}\n`) : "") + (h.linkname ? paxRecord(` linkpath=${h.linkname}\n`) : ""));
  const linkname = h.linkname && "PaxHeader";
  const pax = ustar({ ...h, name: "PaxHeader", linkname, size: records.length, type: "pax-header" })!;
  const entry = ustar({ ...h, name: "PaxHeader", linkname, size })!;
  return [pax, records, padding(records.length), entry];
}
