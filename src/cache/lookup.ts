import { importFailureIsMiss, type CacheBackend } from "./backend.js";
import { explainMiss, type Miss } from "./explain.js";
import type { StepRecord } from "./record.js";
import type { StepCache } from "./step-cache.js";

/**
 * The one cache lookup policy: the store's own step cache first (a hit only while its
 * layer is still stored), then each imported cache (`--cache-from`) in the order given.
 * A hit from an import has its layer downloaded (verified against its digest) and is
 * recorded locally, so the next build needs no network; an import that lost the
 * layer, or holds it damaged (its digest does not match), counts as a miss there with
 * a warning, and the next import is asked.
 */
export class CacheLookup {
  /** Keys of the steps that ran (missed) in this build. */
  private readonly ran = new Set<string>();
  private known: Promise<StepRecord[]> | undefined;

  constructor(
    readonly local: StepCache,
    readonly imports: readonly CacheBackend[],
    /** Told when an import's layer cannot be had (gone, damaged, unreachable): that step misses there. */
    private readonly warn: (message: string) => void = () => undefined,
  ) {}

  /** Every backend a step may come from, the local one first. */
  get backends(): CacheBackend[] {
    return [this.local, ...this.imports];
  }

  async find(key: string): Promise<StepRecord | undefined> {
    const local = await this.local.lookup(key);
    if (local !== undefined) return local;
    for (const backend of this.imports) {
      const found = await backend.lookup(key);
      if (found === undefined) continue;
      if (found.layer !== null) {
        try {
          await backend.ensureLayer(found.layer);
        } catch (e) {
          // As BuildKit: a cache that cannot give a layer makes the build slower, not failed.
          if (!importFailureIsMiss(e)) throw e;
          this.warn(`step ${key.slice(0, 19)} not taken from ${backend.description}: ${e.message}; asking the next cache, or running the step`);
          continue;
        }
      }
      await this.local.put(key, found);
      return found;
    }
    return undefined;
  }

  /** Records a step that ran. */
  async record(key: string, record: StepRecord): Promise<void> {
    this.ran.add(key);
    await this.local.put(key, record);
  }

  /** Whether the step with this key ran in this build. */
  didRun(key: string): boolean {
    return this.ran.has(key);
  }

  /** Why a step missed, against every record of every backend (read once per build). */
  async explain(miss: Miss): Promise<string> {
    this.known ??= Promise.all(this.backends.map(async (b) => [...(await b.entries())].map(([, r]) => r))).then((all) => all.flat());
    return explainMiss(miss, await this.known);
  }
}
