/**
 * Registry outputs: `--push` and `-o type=registry[,name=REF]` push the image;
 * `-o type=image,name=REF` stores it under REF, and pushes it too with `push=true`
 * (buildx's spellings). Without name= they take the `-t` names, as buildx does. Every
 * name is checked before the build; the push runs in build(), under its AbortSignal.
 */
import { TbuildError } from "../errors.js";
import { formatReference, parseReference } from "../oci/reference.js";
import type { OutputSpec, OutputType, ResolvedExporter, ResolveContext } from "./exporter.js";

function names(spec: OutputSpec, ctx: ResolveContext, example: string): string[] {
  const given = spec.name === undefined || spec.name === "" ? [] : spec.name.split(",");
  const all = given.length > 0 ? given : [...ctx.tags];
  if (all.length === 0) {
    throw new TbuildError("invalid-argument", spec.type === "registry" && spec.name === undefined ? "--push needs at least one -t NAME to push to" : `--output type=${spec.type}: needs name= (or a -t NAME)`, { hint: `e.g. -t registry.example.com/app:1, or --output ${example}` });
  }
  for (const n of all) {
    const ref = parseReference(n);
    if (ref.digest !== undefined) throw new TbuildError("invalid-argument", `--output type=${spec.type},name=${n}: a name to push to may not contain a digest`, { hint: "give NAME[:TAG]" });
  }
  return all;
}

function pushing(refs: readonly string[], stored: readonly string[]): ResolvedExporter {
  return {
    name: `pushing ${refs.map((r) => formatReference(parseReference(r))).join(", ")}`,
    kind: "export",
    names: stored,
    async finalize(image, progress) {
      const { pushImage } = await import("../store/registry-transfer.js");
      const pushed = [];
      for (const ref of refs) {
        const result = await pushImage(image.store, ref, undefined, {
          ...(image.registry ?? {}),
          signal: progress.signal,
          session: await image.session(),
          onProgress: (e) => {
            if (e.kind === "blob") progress.status(e.digest, `${e.outcome === "uploaded" ? "pushed" : e.outcome} ${e.digest}`, { current: e.size, total: e.size, done: true });
          },
          onBytes: (e) => progress.status(e.digest, `pushing ${e.digest}`, { current: Math.min(e.bytes, e.size), total: e.size }),
        });
        progress.status(`manifest ${result.reference}`, `pushing manifest for ${result.reference}@${result.digest}`, { done: true });
        pushed.push({ reference: result.reference, digest: result.digest });
      }
      return { pushed };
    },
  };
}

/** The names given become names of the stored image too (as before pushes moved into build()). */
export const registryOutput: OutputType = {
  type: "registry",
  fields: ["name"],
  example: "type=registry,name=registry.example.com/app:1",
  resolve(spec, ctx) {
    const refs = names(spec, ctx, this.example);
    return pushing(refs, refs.filter((r) => !ctx.tags.includes(r)));
  },
};

export const imageOutput: OutputType = {
  type: "image",
  fields: ["name", "push"],
  example: "type=image,name=registry.example.com/app:1,push=true",
  resolve(spec, ctx) {
    const refs = names(spec, ctx, this.example);
    const stored = refs.filter((r) => !ctx.tags.includes(r));
    if (spec.push === true) return pushing(refs, stored);
    return { name: `naming to ${refs.join(", ")}`, kind: "export", names: stored };
  },
};
