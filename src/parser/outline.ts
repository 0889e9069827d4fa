import type { Instruction, ParseResult } from "./types.js";

function flagText(flags: Instruction["flags"]): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(flags)) {
    if (Array.isArray(value)) for (const v of value) parts.push(`--${name}=${v}`);
    else if (value === true) parts.push(`--${name}`);
    else parts.push(`--${name}=${String(value)}`);
  }
  return parts.length > 0 ? parts.join(" ") + " " : "";
}

function argsText(i: Instruction): string {
  switch (i.keyword) {
    case "RUN":
    case "CMD":
    case "ENTRYPOINT": {
      const text = i.args.form === "exec" ? JSON.stringify(i.args.command) : i.args.command;
      const heredocs = "heredocs" in i.args && i.args.heredocs !== undefined ? ` (+${i.args.heredocs.length} heredoc)` : "";
      return text + heredocs;
    }
    case "COPY":
    case "ADD":
      return [...i.args.sources, ...(i.args.heredocs ?? []).map((h) => `<<${h.name}`), i.args.dest].join(" ");
    case "ENV":
    case "LABEL":
      return i.args.pairs.map((p) => `${p.key}=${JSON.stringify(p.value)}`).join(" ");
    case "ARG":
      return i.args.args.map((a) => (a.value === null ? a.key : `${a.key}=${JSON.stringify(a.value)}`)).join(" ");
    case "WORKDIR":
      return i.args.path;
    case "USER":
      return i.args.user;
    case "EXPOSE":
      return i.args.ports.join(" ");
    case "VOLUME":
      return i.args.paths.join(" ");
    case "STOPSIGNAL":
      return i.args.signal;
    case "SHELL":
      return JSON.stringify(i.args.shell);
    case "HEALTHCHECK":
      return JSON.stringify(i.args.test);
    case "ONBUILD":
      return i.args.trigger;
    case "MAINTAINER":
      return i.args.maintainer;
  }
}

/** A readable outline of stages and instructions, for `tbuild parse`. */
export function outline(result: ParseResult): string {
  const out: string[] = [];
  for (const s of result.stages) {
    const name = s.name === null ? "" : ` (${s.name})`;
    const from = s.baseStage === null ? s.base : `stage ${s.baseStage}`;
    const deps = s.dependsOn.length > 0 ? `, needs ${s.dependsOn.join(", ")}` : "";
    const target = s.index === result.target ? " [target]" : "";
    const platform = s.platform === null ? "" : ` --platform=${s.platform}`;
    out.push(`stage ${s.index}${name}: FROM${platform} ${from}${deps}${target}   # line ${s.lines[0]}`);
    for (const i of s.instructions) {
      const lines = i.lines[0] === i.lines[1] ? `${i.lines[0]}` : `${i.lines[0]}-${i.lines[1]}`;
      out.push(`  ${String(lines).padStart(7)}  ${i.keyword} ${flagText(i.flags)}${argsText(i)}`);
    }
  }
  return out.join("\n");
}
