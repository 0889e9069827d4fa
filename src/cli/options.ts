import { TbuildError } from "../errors.js";

/**
 * `--build-arg K=V` values; a bare `--build-arg K` takes K from the environment,
 * as docker build does.
 */
export function buildArgsOption(values: string[] | undefined): Record<string, string> {
  const args: Record<string, string> = {};
  for (const item of values ?? []) {
    const eq = item.indexOf("=");
    const key = eq === -1 ? item : item.slice(0, eq);
    if (key === "") throw new TbuildError("invalid-argument", `invalid --build-arg '${item}'`, { hint: "write --build-arg NAME=VALUE" });
    if (eq !== -1) args[key] = item.slice(eq + 1);
    else if (process.env[key] !== undefined) args[key] = process.env[key]!;
  }
  return args;
}
