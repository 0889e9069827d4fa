import type { ParseResult } from "./types.js";

/** The documented JSON form (docs/parse-json.md) of a parse result. */
export function toJson(result: ParseResult): object {
  return {
    file: result.file,
    directives: result.directives,
    metaArgs: result.metaArgs,
    target: result.target,
    stages: result.stages.map((s) => ({
      index: s.index,
      name: s.name,
      base: s.base,
      platform: s.platform,
      baseStage: s.baseStage,
      dependsOn: s.dependsOn,
      lines: s.lines,
      instructions: s.instructions.map((i) => ({
        keyword: i.keyword,
        lines: i.lines,
        flags: i.flags,
        // The JSON form documents an ARG's declared default only, and an ONBUILD trigger as text.
        args: i.keyword === "ARG" ? { args: i.args.args.map(({ key, value }) => ({ key, value })) } : i.keyword === "ONBUILD" ? { trigger: i.args.trigger } : i.args,
      })),
    })),
  };
}
