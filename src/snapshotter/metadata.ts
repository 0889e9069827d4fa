/**
 * Snapshot metadata: one JSON file under the snapshotter root, changed only inside
 * `update()`, which holds an exclusive lock file and replaces the JSON atomically
 * (write temp, fsync, rename). Several tbuild processes may share a root.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeAtomic } from "../atomic-write.js";
import { DiskFullError } from "../disk-full.js";
import { TbuildError, errnoCode } from "../errors.js";
import { withFileLock } from "../file-lock.js";

export type SnapshotKind = "active" | "view" | "committed";

export interface SnapshotRecord {
  /** Directory name under `snapshots/`; keys can contain any characters, ids cannot. */
  id: string;
  kind: SnapshotKind;
  parent?: string;
  created: string;
  labels: Record<string, string>;
}

export interface MetadataFile {
  version: 1;
  nextId: number;
  snapshots: Record<string, SnapshotRecord>;
}

const EMPTY: MetadataFile = { version: 1, nextId: 1, snapshots: {} };

export class Metadata {
  private readonly file: string;
  private readonly lockFile: string;

  constructor(root: string) {
    this.file = join(root, "metadata.json");
    this.lockFile = join(root, "metadata.lock");
  }

  async read(): Promise<MetadataFile> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return structuredClone(EMPTY);
      throw e;
    }
    try {
      return JSON.parse(text) as MetadataFile;
    } catch (e) {
      throw new TbuildError("failed-precondition", `snapshot metadata ${this.file} is corrupt`, { cause: e, hint: "remove the snapshotter root to start afresh (cached layers are rebuilt)" });
    }
  }

  /**
   * Runs `fn` on the current metadata under the lock and saves what it leaves. When the
   * disk is too full to save it, `o.freeSpace` (still under the lock) may free some
   * first (a removal deletes its tree), and saving is tried once more.
   */
  async update<T>(fn: (m: MetadataFile) => T | Promise<T>, o: { freeSpace?: () => Promise<void> } = {}): Promise<T> {
    return withFileLock(this.lockFile, async () => {
      const m = await this.read();
      const result = await fn(m);
      const text = JSON.stringify(m, null, 1);
      try {
        await writeAtomic(this.file, text);
      } catch (e) {
        if (!(e instanceof DiskFullError) || o.freeSpace === undefined) throw e;
        await o.freeSpace();
        await writeAtomic(this.file, text);
      }
      return result;
    });
  }
}
