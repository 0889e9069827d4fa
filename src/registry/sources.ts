import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeAtomic } from "../atomic-write.js";
import { errnoCode } from "../errors.js";

/**
 * Remembers which remote repositories hold each blob (`registry/repository`, newest
 * first), so a push can ask the registry to mount a base layer from the repository it
 * was pulled from instead of uploading it. It is only a hint: a stale or lost entry
 * costs an upload, never correctness, so concurrent writers may simply overwrite
 * each other's updates.
 */
export class BlobSources {
  private static readonly FILE = "registry-sources.json";
  private static readonly MAX_PER_BLOB = 4;

  constructor(private readonly root: string) {}

  private get path(): string {
    return join(this.root, BlobSources.FILE);
  }

  private async load(): Promise<Record<string, string[]>> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.path, "utf8"));
      return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, string[]>) : {};
    } catch (e) {
      // Missing or damaged: start afresh, the file is only an optimisation.
      if (errnoCode(e) === "ENOENT" || e instanceof SyntaxError) return {};
      throw e;
    }
  }

  /** Repositories on `registry` known to hold `digest`. */
  async repositories(digest: string, registry: string): Promise<string[]> {
    const entries = (await this.load())[digest];
    if (!Array.isArray(entries)) return [];
    const prefix = `${registry}/`;
    return entries.filter((e) => typeof e === "string" && e.startsWith(prefix)).map((e) => e.slice(prefix.length));
  }

  /** Records that `registry/repository` holds every digest given. */
  async record(digests: Iterable<string>, registry: string, repository: string): Promise<void> {
    const all = await this.load();
    const source = `${registry}/${repository}`;
    for (const d of digests) {
      const prev = Array.isArray(all[d]) ? all[d].filter((s) => s !== source) : [];
      all[d] = [source, ...prev].slice(0, BlobSources.MAX_PER_BLOB);
    }
    await writeAtomic(this.path, JSON.stringify(all));
  }
}
