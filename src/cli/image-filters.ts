import { componentMatcher } from "../context/glob.js";
import { TbuildError } from "../errors.js";

/** What `images --filter` can look at for one listed name. */
export interface FilterableImage {
  /** The familiar repository (`busybox`, `localhost:5000/me/app`), `<none>` for an untagged image. */
  repository: string;
  tag: string;
  labels: Record<string, string>;
  /** Milliseconds since the epoch, NaN when the config has no creation time. */
  created: number;
}

const KEYS = ["reference", "dangling", "label", "before", "since"] as const;

function filterError(message: string): TbuildError {
  return new TbuildError("invalid-argument", message, { hint: `filters: ${KEYS.map((k) => `${k}=...`).join(", ")} (e.g. --filter reference='app*' --filter dangling=true)` });
}

/**
 * docker images' `--filter KEY=VALUE` as one predicate: the same key given twice matches
 * either value, different keys must all match (docker's rule). `before`/`since` name an
 * image, whose creation time `createdOf` looks up.
 */
export async function imageFilter(specs: string[], createdOf: (image: string) => Promise<number | undefined>): Promise<(image: FilterableImage) => boolean> {
  const byKey = new Map<string, string[]>();
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    if (eq <= 0) throw filterError(`--filter '${spec}' is not KEY=VALUE`);
    const key = spec.slice(0, eq).toLowerCase();
    if (!(KEYS as readonly string[]).includes(key)) throw filterError(`--filter: unknown filter '${key}'`);
    byKey.set(key, [...(byKey.get(key) ?? []), spec.slice(eq + 1)]);
  }
  const tests: ((image: FilterableImage) => boolean)[] = [];
  const references = byKey.get("reference");
  if (references !== undefined) {
    // reference.FamiliarMatch: the pattern against `repo` and against `repo:tag`, path.Match's globs.
    const matchers = references.map(componentMatcher);
    tests.push((i) => i.repository !== "<none>" && matchers.some((m) => m.test(i.repository) || m.test(`${i.repository}:${i.tag}`)));
  }
  const dangling = byKey.get("dangling");
  if (dangling !== undefined) {
    const wanted = dangling.map((v) => {
      if (v !== "true" && v !== "false") throw filterError(`--filter dangling='${v}': write true or false`);
      return v === "true";
    });
    tests.push((i) => wanted.includes(i.repository === "<none>"));
  }
  const labels = byKey.get("label");
  if (labels !== undefined) {
    tests.push((i) =>
      labels.every((l) => {
        const eq = l.indexOf("=");
        return eq === -1 ? l in i.labels : i.labels[l.slice(0, eq)] === l.slice(eq + 1);
      }),
    );
  }
  for (const [key, newer] of [["before", false], ["since", true]] as const) {
    for (const name of byKey.get(key) ?? []) {
      const pivot = await createdOf(name);
      if (pivot === undefined) throw filterError(`--filter ${key}=${name}: no such image in the store`);
      tests.push((i) => (newer ? i.created > pivot : i.created < pivot));
    }
  }
  return (image) => tests.every((t) => t(image));
}
