// The public library API: everything other tools may import from "tbuild".
export { TbuildError, isTbuildError } from "./errors.js";
export type { ErrorCategory } from "./errors.js";
