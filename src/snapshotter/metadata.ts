/**
 * Snapshot metadata: one JSON file under the snapshotter root, changed only inside
 * `update()`, which holds an exclusive lock file and replaces the JSON atomically
 * (write temp, fsync, rename). Several tbuild processes may share a root.
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TbuildError, errnoCode } from "../errors.js";

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
const LOCK_WAIT_MS = 60_000;

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

  /** Runs `fn` on the current metadata under the lock and saves what it leaves. */
  async update<T>(fn: (m: MetadataFile) => T | Promise<T>): Promise<T> {
    await this.lock();
    try {
      const m = await this.read();
      const result = await fn(m);
      const tmp = `${this.file}.${randomBytes(6).toString("hex")}`;
      const fh = await open(tmp, "wx", 0o644);
      try {
        await fh.writeFile(JSON.stringify(m, null, 1));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
      return result;
    } finally {
      await rm(this.lockFile, { force: true });
    }
  }

  private async lock(): Promise<void> {
    const start = Date.now();
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        const fh = await open(this.lockFile, "wx");
        await fh.writeFile(String(process.pid));
        await fh.close();
        return;
      } catch (e) {
        if (errnoCode(e) !== "EEXIST") throw e;
      }
      // A lock whose writer died would block everyone forever: break it.
      const holder = Number(await readFile(this.lockFile, "utf8").catch(() => ""));
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
        await rm(this.lockFile, { force: true });
        continue;
      }
      if (Date.now() - start > LOCK_WAIT_MS) {
        throw new TbuildError("unavailable", `snapshot metadata is locked by process ${holder} (${this.lockFile})`, {
          hint: "another tbuild is working on this root; wait for it, or remove the lock file if that process is gone",
        });
      }
      await sleep(delay);
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === "EPERM";
  }
}
