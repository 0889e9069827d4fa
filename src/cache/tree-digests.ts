import { createHash } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { writeAtomic } from "../atomic-write.js";
import { errnoCode, ioError } from "../errors.js";

/**
 * Content digests of paths inside committed snapshots, kept across builds (BuildKit's
 * contenthash cache). A committed snapshot is named by the ChainID of its layers and never
 * changes, so the digest of what a COPY --from selects in it is computed once: a rebuild
 * whose source stage is cached reads no snapshot at all. One small file per (chain,
 * selection), written atomically, so concurrent builds share them without a lock.
 */
export class TreeDigests {
  private readonly dir: string;

  constructor(root: string) {
    this.dir = path.join(root, "cache", "tree-digests");
  }

  private file(chain: string, selection: unknown): string {
    return path.join(this.dir, `${createHash("sha256").update(chain).update("\n").update(JSON.stringify(selection)).digest("hex")}.txt`);
  }

  async get(chain: string, selection: unknown): Promise<string | undefined> {
    try {
      const digest = (await readFile(this.file(chain, selection), "utf8")).trim();
      // A damaged record is a miss: the tree is walked again.
      return /^sha256:[0-9a-f]{64}$/.test(digest) ? digest : undefined;
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw ioError(e, `reading the tree digest cache in ${this.dir}`);
    }
  }

  async put(chain: string, selection: unknown, digest: string): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (e) {
      throw ioError(e, `creating the tree digest cache in ${this.dir}`);
    }
    await writeAtomic(this.file(chain, selection), digest + "\n");
  }

  /** Forgets every digest (prune --all): they are only a speed-up, computed again when needed. */
  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
