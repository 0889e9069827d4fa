import { TbuildError } from "../errors.js";
import { DockerfileError } from "../parser/errors.js";

/**
 * Prints an error for a person and returns the exit code. Known errors print their
 * message and hint; anything else is a bug, so it says so (the stack only with
 * TBUILD_DEBUG=1, never by default).
 */
export function reportError(err: unknown): number {
  if (err instanceof DockerfileError) {
    process.stderr.write(err.format() + "\n");
    if (err.hint !== undefined) process.stderr.write(`hint: ${err.hint}\n`);
    return 1;
  }
  if (err instanceof TbuildError) {
    process.stderr.write(`tbuild: ${err.message}\n`);
    if (err.hint !== undefined) process.stderr.write(`hint: ${err.hint}\n`);
    return 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`tbuild: internal error: ${message}\n`);
  if (process.env["TBUILD_DEBUG"] === "1" && err instanceof Error && err.stack !== undefined) {
    process.stderr.write(err.stack + "\n");
  } else {
    process.stderr.write("hint: this is a bug in tbuild; rerun with TBUILD_DEBUG=1 for details and report it\n");
  }
  return 2;
}
