/**
 * Why a step missed (`--explain-cache`). Each record keeps fingerprints of its key's
 * inputs and its parent's key; a miss is compared with the nearest record any
 * configured cache holds and the differing inputs are named. Fingerprints are the
 * instruction text (as history shows it) and short digests of everything else: a
 * build arg or environment variable is stored as a digest of NAME=VALUE, never its
 * value, and secrets never reach a step key at all.
 */
import { createHash } from "node:crypto";
import type { StepRecord } from "./record.js";

/** Files listed one by one up to this many; beyond it, one entry per top-level directory. */
const MAX_FILE_ENTRIES = 50;
/** Changed paths named in an explanation. */
const PATHS_SHOWN = 3;

function short(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

export interface FingerprintSource {
  /** The instruction as progress shows it. */
  text: string;
  /** The step key's inputs (an object per step kind). */
  key: unknown;
  /** Names the stage declared with ARG: these RUN environment entries are build args. */
  argNames: ReadonlySet<string>;
  /** Names the image's ENV sets (they win over a same-named ARG). */
  envNames: ReadonlySet<string>;
  /** COPY/ADD: each copied entry's identity (path, mode, content digest or link target) by path. */
  files?: ReadonlyMap<string, string>;
}

/** The fingerprints stored with a record: `instruction`, `arg:NAME`, `env:NAME`, `file:PATH`, `dir:TOP`, `input:FIELD`. */
export function fingerprint(s: FingerprintSource): Record<string, string> {
  const out: Record<string, string> = { instruction: s.text };
  const fields = typeof s.key === "object" && s.key !== null ? Object.entries(s.key) : [["key", s.key] as const];
  for (const [name, value] of fields) {
    if (name === "env" && Array.isArray(value)) {
      for (const kv of value as string[]) {
        const eq = kv.indexOf("=");
        const varName = eq === -1 ? kv : kv.slice(0, eq);
        const kind = s.argNames.has(varName) && !s.envNames.has(varName) ? "arg" : "env";
        out[`${kind}:${varName}`] = short(kv);
      }
    } else if (!(name === "content" && s.files !== undefined)) {
      out[`input:${name}`] = short(JSON.stringify(value) ?? "");
    }
  }
  if (s.files !== undefined) {
    if (s.files.size <= MAX_FILE_ENTRIES) {
      for (const [p, entry] of s.files) out[`file:${p}`] = short(entry);
    } else {
      const byTop = new Map<string, ReturnType<typeof createHash>>();
      for (const [p, entry] of s.files) {
        const top = p.split("/").filter((x) => x !== "").slice(0, 2).join("/");
        let h = byTop.get(top);
        if (h === undefined) byTop.set(top, (h = createHash("sha256")));
        h.update(`${p}\0${short(entry)}\0`);
      }
      for (const [top, h] of byTop) out[`dir:${top}`] = h.digest("hex").slice(0, 16);
    }
  }
  return out;
}

/** What the builder knows about a missed step besides its fingerprints. */
export interface Miss {
  parent: string;
  inputs: Record<string, string>;
  /** A layer step before it, in this stage or a stage it is built on, ran in this build. */
  upstreamRan: boolean;
  /** The FROM image, when nothing but metadata lines lie between it and this step. */
  baseImage?: string;
}

const INPUT_NAMES: Record<string, string> = {
  run: "the command",
  script: "the heredoc script",
  user: "the USER",
  workdir: "the WORKDIR",
  network: "the network mode",
  mounts: "a --mount (its options, or the stage or image it mounts)",
  request: "the COPY/ADD options",
  from: "the --from stage or image",
  archives: "the archive contents",
  dest: "the destination",
  content: "the copied files",
  copy: "the instruction",
  add: "the instruction",
};

/** The differences between a record's fingerprints and the miss's, in words. */
function describe(was: Record<string, string>, now: Record<string, string>): string[] {
  const names = [...new Set([...Object.keys(was), ...Object.keys(now)])].filter((n) => was[n] !== now[n]);
  const out: string[] = [];
  if (names.includes("instruction")) out.push(`the instruction changed (the cache has: ${was.instruction ?? "none"})`);
  const changed = (prefix: string): string[] => names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
  const how = (name: string): string => (was[name] === undefined ? "is new" : now[name] === undefined ? "is gone" : "changed");
  for (const a of changed("arg:")) out.push(`build arg ${a} ${how(`arg:${a}`)}`);
  for (const e of changed("env:")) out.push(`environment variable ${e} ${how(`env:${e}`)}`);
  const paths = [...changed("file:"), ...changed("dir:").map((d) => `${d}/…`)];
  if (paths.length > 0) {
    const more = paths.length > PATHS_SHOWN ? ` and ${paths.length - PATHS_SHOWN} more` : "";
    out.push(`files changed: ${paths.slice(0, PATHS_SHOWN).join(", ")}${more}`);
  }
  const inputs = changed("input:").filter((n) => !(n === "run" || n === "copy" || n === "add") || !names.includes("instruction"));
  for (const i of inputs) out.push(`${INPUT_NAMES[i] ?? i} changed`);
  return out;
}

function distance(was: Record<string, string>, now: Record<string, string>): number {
  let d = 0;
  for (const n of new Set([...Object.keys(was), ...Object.keys(now)])) if (was[n] !== now[n]) d++;
  return d;
}

function nearest(records: readonly StepRecord[], now: Record<string, string>): StepRecord | undefined {
  let best: StepRecord | undefined;
  let bestDistance = Infinity;
  for (const r of records) {
    const d = distance(r.inputs ?? {}, now);
    if (d < bestDistance) [best, bestDistance] = [r, d];
  }
  return best;
}

/** One sentence saying what differs from the nearest record in `records` (every configured cache's). */
export function explainMiss(miss: Miss, records: readonly StepRecord[]): string {
  const known = records.filter((r) => r.inputs !== undefined);
  const sameParent = known.filter((r) => r.parent === miss.parent);
  if (sameParent.length > 0) {
    const diff = describe(nearest(sameParent, miss.inputs)!.inputs!, miss.inputs);
    return diff.length > 0 ? diff.join("; ") : "an input tbuild does not fingerprint changed";
  }
  const sameText = known.filter((r) => r.inputs!.instruction === miss.inputs.instruction);
  const own = sameText.length > 0 ? describe(nearest(sameText, miss.inputs)!.inputs!, miss.inputs) : [];
  let parent: string;
  if (miss.upstreamRan) parent = "its parent step changed: an earlier step missed and ran";
  else if (miss.baseImage !== undefined && sameText.length > 0) {
    parent = `the base image changed: ${miss.baseImage} is now ${miss.parent.slice(0, 19)}, the cache has this step on ${(nearest(sameText, miss.inputs)!.parent ?? "another image").slice(0, 19)}`;
  } else if (miss.baseImage !== undefined) parent = `no cache has a record of this step on ${miss.baseImage} (${miss.parent.slice(0, 19)})`;
  else if (known.length === 0) return "no configured cache has a record of any step";
  else if (sameText.length === 0) return "no configured cache has a record of this step";
  else parent = "its parent step changed: a line before it (ENV, LABEL, USER, …) differs";
  return [...own, parent].join("; ");
}
