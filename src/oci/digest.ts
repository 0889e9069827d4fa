import { createHash, type Hash } from "node:crypto";
import { TbuildError } from "../errors.js";

/** A validated `sha256:<64 lowercase hex>` string. */
export type Digest = string & { readonly __digest: unique symbol };

const SHA256 = /^sha256:[a-f0-9]{64}$/;
/** The image-spec digest grammar, for fields that may legally carry other algorithms. */
const ANY_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigest(s: string): s is Digest {
  return SHA256.test(s);
}

/** True for any digest the image-spec grammar allows; registered algorithms get their exact length. */
export function isSpecDigest(s: string): boolean {
  if (s.startsWith("sha256:")) return SHA256.test(s);
  if (s.startsWith("sha512:")) return /^sha512:[a-f0-9]{128}$/.test(s);
  return ANY_DIGEST.test(s);
}

/** Checks `s` is a sha256 digest; `what` names where it came from for the error. */
export function parseDigest(s: string, what = "digest"): Digest {
  if (isDigest(s)) return s;
  throw new TbuildError("invalid-argument", `${what}: '${s}' is not a sha256 digest`, {
    hint: "a digest looks like sha256: followed by 64 lowercase hex characters",
  });
}

export function digestHex(d: Digest): string {
  return d.slice("sha256:".length);
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

export function digestOf(data: Uint8Array | string): Digest {
  return `sha256:${sha256Hex(data)}` as Digest;
}

/** Incremental hashing for streams: feed chunks, read the digest and byte count at the end. */
export class Digester {
  private readonly hash: Hash = createHash("sha256");
  private count = 0;

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.count += chunk.length;
  }

  get size(): number {
    return this.count;
  }

  digest(): Digest {
    return `sha256:${this.hash.digest("hex")}` as Digest;
  }
}

/** Hashes a whole stream without keeping it: for verifying blobs and layers of any size. */
export async function digestStream(source: AsyncIterable<Uint8Array>): Promise<{ digest: Digest; size: number }> {
  const d = new Digester();
  for await (const chunk of source) d.update(chunk);
  return { digest: d.digest(), size: d.size };
}

/** Short form for tables: the first 12 hex characters, as `docker images` shows. */
export function shortDigest(d: string): string {
  const i = d.indexOf(":");
  return d.slice(i + 1, i + 13);
}
