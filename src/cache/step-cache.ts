import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { writeAtomic } from "../atomic-write.js";
import { errnoCode, ioError, TbuildError } from "../errors.js";
import type { LayerDescriptor as Layer } from "../oci/layer.js";
import type { CacheBackend } from "./backend.js";
import type { StepRecord } from "./record.js";
import type { ContentInfo } from "../content/content.js";
import { LocalContentStore } from "../content/local.js";
import { hasBlob } from "../content/blob-io.js";

/**
 * The build cache index: step key → the layer it produced. A key is a digest over
 * the parent step's key and everything the step's result depends on (see
 * `stepKey`), so equal inputs give equal keys on any machine. One small JSON file
 * per key, written atomically, so concurrent builds share it without a lock.
 */
export class StepCache implements CacheBackend {
  private readonly dir: string;
  private readonly content: ContentInfo;
  readonly description: string;

  constructor(root: string) {
    this.dir = path.join(root, "cache", "steps");
    this.content = new LocalContentStore(root);
    this.description = `the build cache of ${root}`;
  }

  private file(key: string): string {
    return path.join(this.dir, `${key.replace(/^sha256:/, "")}.json`);
  }

  async get(key: string): Promise<StepRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.file(key), "utf8")) as StepRecord;
    } catch (e) {
      // A missing or damaged record is a cache miss: the step just runs again.
      if (errnoCode(e) === "ENOENT" || e instanceof SyntaxError) return undefined;
      throw ioError(e, `reading the build cache record ${this.file(key)}`);
    }
  }

  /** A record is a hit only while its layer is still stored (prune may have dropped it). */
  async lookup(key: string): Promise<StepRecord | undefined> {
    const record = await this.get(key);
    if (record === undefined || record.layer === null || (await hasBlob(this.content, record.layer.digest))) return record;
    return undefined;
  }

  async ensureLayer(layer: Layer): Promise<void> {
    if (!(await hasBlob(this.content, layer.digest))) throw new TbuildError("not-found", `layer ${layer.digest} is no longer in ${this.content.location}`);
  }

  async entries(): Promise<[string, StepRecord][]> {
    return (await this.records()).map(({ key, record }) => [key, record]);
  }

  async put(key: string, record: StepRecord): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (e) {
      throw ioError(e, `creating the build cache in ${this.dir}`);
    }
    await writeAtomic(this.file(key), JSON.stringify(record));
  }

  /** Forgets a step (prune); the layer blob stays until garbage collection. */
  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  /** Every record with its key; unreadable records are skipped like misses. */
  async records(): Promise<{ key: string; record: StepRecord }[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return [];
      throw ioError(e, `reading the build cache in ${this.dir}`);
    }
    const out: { key: string; record: StepRecord }[] = [];
    for (const name of names.filter((n) => n.endsWith(".json"))) {
      const key = `sha256:${name.slice(0, -5)}`;
      const record = await this.get(key);
      if (record !== undefined) out.push({ key, record });
    }
    return out;
  }

  /** Every layer the cache refers to (but for the records `except` names), so garbage collection keeps them. */
  async layers(except: ReadonlySet<string> = new Set()): Promise<Layer[]> {
    return (await this.records()).flatMap(({ key, record }) => (record.layer !== null && !except.has(key) ? [record.layer] : []));
  }
}

/** A step's cache key: sha256 over its parent's key and its inputs as JSON (built in a fixed field order). */
export function stepKey(parent: string, inputs: unknown): string {
  return `sha256:${createHash("sha256").update(parent).update("\n").update(JSON.stringify(inputs)).digest("hex")}`;
}
