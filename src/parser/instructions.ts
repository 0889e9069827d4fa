import { DockerfileError, SyntaxProblem } from "./errors.js";
import { expandWord, expandWords, type Lookup } from "./expand.js";
import { durationMs } from "./duration.js";
import { parseFlags, type FlagSpecs } from "./flags.js";
import { splitInstructions, type RawInstruction } from "./lines.js";
import { nearest } from "./suggest.js";
import { KEYWORDS, type CommandForm, type FlagValue, type Instruction, type KeyValue } from "./types.js";
import { jsonArray, rawWords, whitespaceWords } from "./words.js";

const FLAGS: Record<string, FlagSpecs> = {
  from: { platform: { kind: "string", expand: true } },
  run: { mount: { kind: "list", expand: true }, network: { kind: "string" }, security: { kind: "string" } },
  copy: {
    from: { kind: "string", expand: true },
    chown: { kind: "string", expand: true },
    chmod: { kind: "string", expand: true },
    link: { kind: "bool" },
    exclude: { kind: "list", expand: true },
    parents: { kind: "bool" },
  },
  add: {
    chown: { kind: "string", expand: true },
    chmod: { kind: "string", expand: true },
    link: { kind: "bool" },
    exclude: { kind: "list", expand: true },
    checksum: { kind: "string", expand: true },
    "keep-git-dir": { kind: "bool" },
  },
  healthcheck: {
    interval: { kind: "string" },
    timeout: { kind: "string" },
    "start-period": { kind: "string" },
    "start-interval": { kind: "string" },
    retries: { kind: "string" },
  },
};

const NETWORK_MODES = ["default", "none", "host"];
const SECURITY_MODES = ["sandbox", "insecure"];
const MOUNT_TYPES = ["bind", "cache", "tmpfs", "secret", "ssh"];

export function flagSpecs(keyword: string): FlagSpecs {
  return FLAGS[keyword] ?? {};
}

/**
 * Turns a raw instruction into a typed one, its words as written (see Instruction);
 * throws SyntaxProblem on input invalid whatever the build state.
 */
export function buildInstruction(raw: RawInstruction, escape: string): Instruction {
  const keyword = raw.keyword.toUpperCase();
  if (!(KEYWORDS as readonly string[]).includes(keyword)) {
    const guess = nearest(keyword, KEYWORDS);
    throw new SyntaxProblem(`unknown instruction: ${keyword}`, guess !== undefined ? `did you mean ${guess}?` : undefined);
  }
  const flags = parseFlags(keyword, raw.flags, flagSpecs(raw.keyword));
  const base = { lines: [raw.startLine, raw.endLine] as [number, number], column: raw.column, flags, original: raw.original };
  const rest = raw.rest;

  switch (keyword) {
    case "RUN": {
      checkRunModes(flags);
      if (rest === "" && raw.heredocs.length === 0) throw new SyntaxProblem("RUN requires at least one argument");
      const command = commandForm(rest, "RUN");
      return { ...base, keyword, args: raw.heredocs.length > 0 ? { ...command, heredocs: raw.heredocs } : command };
    }
    case "CMD":
    case "ENTRYPOINT":
      return { ...base, keyword, args: commandForm(rest, keyword) };
    case "COPY":
    case "ADD":
      return { ...base, keyword, args: copyArgs(keyword, raw) };
    case "ENV":
    case "LABEL":
      return { ...base, keyword, args: { pairs: keyValues(keyword, rest, escape) } };
    case "ARG":
      return { ...base, keyword, args: { args: argDeclarations(rest, escape) } };
    case "WORKDIR":
      return { ...base, keyword, args: { path: required(keyword, rest) } };
    case "USER":
      return { ...base, keyword, args: { user: required(keyword, rest) } };
    case "STOPSIGNAL":
      return { ...base, keyword, args: { signal: required(keyword, rest) } };
    case "MAINTAINER":
      return { ...base, keyword, args: { maintainer: required(keyword, rest) } };
    case "EXPOSE": {
      if (rest === "") throw new SyntaxProblem("EXPOSE requires at least one argument", "write EXPOSE 80 or EXPOSE 53/udp");
      return { ...base, keyword, args: { ports: whitespaceWords(rest) } };
    }
    case "VOLUME":
      return { ...base, keyword, args: { paths: jsonList(required(keyword, rest), keyword) } };
    case "SHELL": {
      const shell = jsonArray(rest);
      if (!Array.isArray(shell)) throw new SyntaxProblem("SHELL requires the arguments to be in JSON form", 'write SHELL ["/bin/sh", "-c"]');
      if (shell.length === 0) throw new SyntaxProblem("SHELL requires at least one argument");
      return { ...base, keyword, args: { shell } };
    }
    case "HEALTHCHECK":
      return { ...base, keyword, args: { test: healthcheckTest(rest, flags) } };
    case "ONBUILD": {
      const trigger = onbuildTrigger(rest);
      return { ...base, keyword, args: { trigger, instruction: parseTrigger(trigger, "") } };
    }
    default:
      // FROM is handled by the stage builder, which knows the stage list.
      throw new SyntaxProblem(`${keyword} cannot be used here`);
  }
}

function required(keyword: string, rest: string): string {
  if (rest === "") throw new SyntaxProblem(`${keyword} requires exactly one argument`);
  return rest;
}

/** Exec form when the text is a JSON array of strings; otherwise shell form, as Docker falls back. */
function commandForm(rest: string, keyword: string): CommandForm {
  const json = jsonArray(rest);
  if (json === "not-strings") throw new SyntaxProblem(`${keyword}: when using JSON array syntax, arrays must be comprised of strings only`);
  return json === undefined ? { form: "shell", command: rest } : { form: "exec", command: json };
}

function jsonList(rest: string, keyword: string): string[] {
  const json = jsonArray(rest);
  if (json === "not-strings") throw new SyntaxProblem(`${keyword}: when using JSON array syntax, arrays must be comprised of strings only`);
  return json ?? whitespaceWords(rest);
}

/** RUN's --network and --security, which Docker does not expand. */
function checkRunModes(flags: Record<string, unknown>): void {
  const network = flags["network"];
  if (typeof network === "string" && !NETWORK_MODES.includes(network)) {
    throw new SyntaxProblem(`unsupported network mode: ${network}`, `use one of ${NETWORK_MODES.join(", ")}`);
  }
  const security = flags["security"];
  if (typeof security === "string" && !SECURITY_MODES.includes(security)) {
    throw new SyntaxProblem(`unsupported security mode: ${security}`, `use one of ${SECURITY_MODES.join(", ")}`);
  }
}

/** RUN --mount types, known once the values are expanded. */
function checkMountTypes(flags: Record<string, unknown>): void {
  for (const mount of (flags["mount"] as string[] | undefined) ?? []) {
    const type = mountFields(mount).get("type") ?? "bind";
    if (!MOUNT_TYPES.includes(type)) throw new SyntaxProblem(`unsupported mount type: ${type}`, `use one of ${MOUNT_TYPES.join(", ")}`);
  }
}

/** The `key=value` fields of a `--mount` value (CSV, a bare key means `true`). */
export function mountFields(mount: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const field of mount.split(",")) {
    const eq = field.indexOf("=");
    const key = (eq === -1 ? field : field.slice(0, eq)).trim().toLowerCase();
    if (key !== "") fields.set(key, eq === -1 ? "true" : field.slice(eq + 1).trim());
  }
  return fields;
}

function copyArgs(keyword: "COPY" | "ADD", raw: RawInstruction): {
  sources: string[];
  dest: string;
  heredocs?: RawInstruction["heredocs"];
} {
  const listed = jsonList(raw.rest, keyword);
  const heredocNames = new Set(raw.heredocs.map((h) => h.name));
  const isHeredoc = (w: string): boolean => raw.heredocs.length > 0 && /^\d*<<-?/.test(w) && heredocNames.has(w.replace(/^\d*<<-?/, "").replace(/['"]/g, ""));
  if (listed.length < 2) {
    throw new SyntaxProblem(
      `${keyword} requires at least two arguments, but only ${listed.length === 0 ? "none were" : "one was"} provided. Destination could not be determined`,
      `write ${keyword} SOURCE... DEST`,
    );
  }
  const dest = listed[listed.length - 1]!;
  const sources = listed.slice(0, -1).filter((w) => !isHeredoc(w));
  return raw.heredocs.length > 0 ? { sources, dest, heredocs: raw.heredocs } : { sources, dest };
}

/** ENV and LABEL: `k=v ...`, or the legacy `k v with spaces`. Keys and values keep their quotes for expansion. */
function keyValues(keyword: string, rest: string, escape: string): KeyValue[] {
  const words = rawWords(rest, escape);
  if (words.length === 0) throw new SyntaxProblem(`${keyword} requires at least one argument`);
  if (!words[0]!.includes("=")) {
    const m = /^(\S+)[ \t\v\f\r\n]+([^]*)$/.exec(rest);
    if (m === null) throw new SyntaxProblem(`${keyword} must have two arguments`, `write ${keyword} ${words[0]}=VALUE`);
    return [{ key: m[1]!, value: m[2]! }];
  }
  return words.map((w) => {
    const eq = w.indexOf("=");
    if (eq === -1) throw new SyntaxProblem(`syntax error - can't find = in "${w}". Must be of the form: name=value`);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
}

function argDeclarations(rest: string, escape: string): { key: string; value: string | null }[] {
  const words = rawWords(rest, escape);
  if (words.length === 0) throw new SyntaxProblem("ARG requires at least one argument");
  return words.map((w) => {
    const eq = w.indexOf("=");
    const key = eq === -1 ? w : w.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new SyntaxProblem(`invalid ARG name: '${key}'`, "ARG names are letters, digits and _, not starting with a digit");
    return { key, value: eq === -1 ? null : w.slice(eq + 1) };
  });
}

function healthcheckTest(rest: string, flags: Record<string, unknown>): string[] {
  const m = /^(\S+)\s*([^]*)$/.exec(rest);
  if (m === null) throw new SyntaxProblem("HEALTHCHECK requires an argument", "write HEALTHCHECK CMD command or HEALTHCHECK NONE");
  const type = m[1]!.toUpperCase();
  const args = m[2]!;
  if (type === "NONE") {
    if (args !== "" || Object.keys(flags).length > 0) throw new SyntaxProblem("HEALTHCHECK NONE takes no arguments");
    return ["NONE"];
  }
  if (type !== "CMD") throw new SyntaxProblem(`unknown type "${m[1]}" in HEALTHCHECK (try CMD)`);
  for (const name of ["interval", "timeout", "start-period", "start-interval"]) {
    const value = flags[name];
    if (typeof value !== "string") continue;
    const ms = durationMs(value);
    if (ms > 0 && ms < 1) throw new SyntaxProblem(`--${name} cannot be less than 1ms`);
  }
  const retries = flags["retries"];
  if (typeof retries === "string" && !/^\d+$/.test(retries)) {
    throw new SyntaxProblem(`invalid --retries value: ${retries}`, "--retries takes a whole number of at least 0");
  }
  if (args === "") throw new SyntaxProblem("missing command after HEALTHCHECK CMD");
  const command = commandForm(args, "HEALTHCHECK");
  return command.form === "exec" ? ["CMD", ...command.command] : ["CMD-SHELL", command.command];
}

function onbuildTrigger(rest: string): string {
  const keyword = rest.split(/\s+/, 1)[0]!.toUpperCase();
  if (keyword === "") throw new SyntaxProblem("ONBUILD requires at least one argument");
  if (keyword === "ONBUILD") throw new SyntaxProblem("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (keyword === "FROM" || keyword === "MAINTAINER") throw new SyntaxProblem(`${keyword} isn't allowed as an ONBUILD trigger`);
  if (!(KEYWORDS as readonly string[]).includes(keyword)) {
    const guess = nearest(keyword, KEYWORDS);
    throw new SyntaxProblem(`unknown instruction in ONBUILD: ${keyword}`, guess !== undefined ? `did you mean ${guess}?` : undefined);
  }
  return rest;
}

/**
 * An ONBUILD trigger's text as an instruction, prefixed `ONBUILD` as history shows it.
 * Triggers are kept (and read back from an image config) as text, parsed with the
 * default escape character. `file` names where an error is reported, as
 * `file:N` with N the trigger's position; "" throws the bare SyntaxProblem for the
 * caller to place at its ONBUILD line.
 */
export function parseTrigger(text: string, file: string, position = 1): Instruction {
  try {
    onbuildTrigger(text);
    const raws = splitInstructions(text + "\n", file === "" ? "ONBUILD" : file).instructions;
    if (raws.length !== 1) throw new SyntaxProblem(`an ONBUILD trigger must be one instruction: '${text}'`);
    const instruction = buildInstruction(raws[0]!, "\\");
    return { ...instruction, original: `ONBUILD ${instruction.original}` };
  } catch (e) {
    if (file === "") {
      if (e instanceof DockerfileError) throw new SyntaxProblem(e.message, e.hint);
      throw e;
    }
    if (e instanceof SyntaxProblem) throw new DockerfileError(file, position, 1, e.message, e.hint);
    if (e instanceof DockerfileError) throw new DockerfileError(file, position, e.column, e.message, e.hint);
    throw e;
  }
}

/**
 * The instruction with the words Docker expands given their values (`lookup`: the
 * stage's ENV over its ARGs at that point). ARG defaults are left to StageScope, as
 * each may use the ones declared before it. Throws SyntaxProblem.
 */
export function expandInstruction(instruction: Instruction, lookup: Lookup, escape: string): Instruction {
  const word = (w: string): string => expandWord(w, lookup, escape);
  const specs = flagSpecs(instruction.keyword.toLowerCase());
  const flags: Record<string, FlagValue> = {};
  for (const [name, value] of Object.entries(instruction.flags)) {
    flags[name] = specs[name]?.expand !== true || typeof value === "boolean" ? value : Array.isArray(value) ? value.map(word) : word(value);
  }
  const i = { ...instruction, flags } as Instruction;
  switch (i.keyword) {
    case "RUN":
      checkMountTypes(flags);
      return i;
    case "COPY":
    case "ADD":
      return { ...i, args: { ...i.args, sources: i.args.sources.map(word), dest: word(i.args.dest) } };
    case "ENV":
    case "LABEL":
      return { ...i, args: { pairs: i.args.pairs.map((kv) => ({ key: word(kv.key), value: word(kv.value) })) } };
    case "WORKDIR":
      return { ...i, args: { path: word(i.args.path) } };
    case "USER":
      return { ...i, args: { user: word(i.args.user) } };
    case "STOPSIGNAL":
      return { ...i, args: { signal: word(i.args.signal) } };
    case "EXPOSE":
      return { ...i, args: { ports: i.args.ports.flatMap((w) => expandWords(w, lookup, escape)) } };
    case "VOLUME": {
      const paths = i.args.paths.map(word);
      if (paths.some((p) => p.trim() === "")) throw new SyntaxProblem("VOLUME specified can not be an empty string");
      return { ...i, args: { paths } };
    }
    default:
      return i;
  }
}
