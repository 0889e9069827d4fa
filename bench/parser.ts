import { parseDockerfile } from "../src/parser/index.js";
import { median, report, timeRuns } from "./stats.js";

/** A 10,000-line Dockerfile mixing every kind of line the parser meets in practice. */
export function largeDockerfile(lines = 10_000): string {
  const out: string[] = ["# syntax=docker/dockerfile:1", "ARG BASE=debian:12", "FROM ${BASE} AS base"];
  let stage = 0;
  while (out.length < lines) {
    const n = out.length;
    switch (n % 12) {
      case 0:
        out.push(`ENV VAR_${n}=value_${n} OTHER_${n}="\${VAR_${n - 12}:-default} words"`);
        break;
      case 1:
        out.push(`RUN --mount=type=cache,target=/var/cache/apt apt-get update && \\`, `    apt-get install -y pkg-${n} && \\`, "    # a comment inside", `    rm -rf /var/lib/apt/lists/*`);
        break;
      case 2:
        out.push(`COPY --chown=1000:1000 --chmod=644 src/${n}/ /app/${n}/`);
        break;
      case 3:
        out.push(`LABEL org.example.n${n}="label ${n}" other=$VAR_${n - 3}`);
        break;
      case 4:
        out.push("RUN <<EOF", `echo line ${n}`, "set -eu", "EOF");
        break;
      case 5:
        out.push(`WORKDIR /app/\${VAR_${n - 5}%%_*}`);
        break;
      case 6:
        out.push(`ARG A${n}=\${A${n - 12}:-x}`);
        break;
      case 7:
        out.push(`EXPOSE ${1000 + (n % 5000)}/tcp`);
        break;
      case 8:
        out.push(`CMD ["/app/run", "--n", "${n}"]`);
        break;
      case 9:
        out.push(`HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost:${n}/`);
        break;
      case 10:
        if (n % 600 === 10) out.push(`FROM base AS s${++stage}`);
        else out.push(`USER app:${n}`);
        break;
      default:
        out.push("");
    }
  }
  return out.slice(0, lines).join("\n") + "\n";
}

export async function benchParser(): Promise<void> {
  const text = largeDockerfile();
  const lineCount = text.split("\n").length - 1;
  parseDockerfile(text); // warm up the JIT and the lexer cache
  const samples = await timeRuns(15, () => {
    parseDockerfile(text);
  });
  const ms = median(samples);
  report("parse 10k-line Dockerfile", { lines: lineCount, median_ms: ms, lines_per_s: Math.round((lineCount / ms) * 1000) });
}
