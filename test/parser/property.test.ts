// Robustness: whatever the input, parseDockerfile returns a result or throws a
// DockerfileError with a 1-based line; never another exception, never a hang.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseDockerfile, toJson, DockerfileError } from "../../src/parser/index.js";

// A hang or an exponential blow-up, not a slow machine: a parse takes about a millisecond,
// and a busy CI machine (or a GC pause) has stretched single calls past 200 ms.
const PER_CALL_MS = 1000;

function check(text: string, options: { buildArgs?: Record<string, string>; target?: string } = {}): void {
  const start = performance.now();
  try {
    const result = parseDockerfile(text, { file: "Dockerfile", ...options });
    // The JSON form must be producible and serialisable for every accepted input.
    JSON.stringify(toJson(result));
  } catch (e) {
    if (!(e instanceof DockerfileError)) {
      throw new Error(`non-DockerfileError thrown for ${JSON.stringify(text)}: ${String(e)}`, { cause: e });
    }
    if (!(Number.isInteger(e.line) && e.line >= 1)) {
      throw new Error(`DockerfileError with line ${String(e.line)} for ${JSON.stringify(text)}`);
    }
    if (typeof e.message !== "string" || e.message.length === 0) {
      throw new Error(`DockerfileError without message for ${JSON.stringify(text)}`);
    }
  }
  const elapsed = performance.now() - start;
  if (elapsed > PER_CALL_MS) throw new Error(`parse took ${elapsed.toFixed(0)} ms for ${JSON.stringify(text.slice(0, 200))}`);
}

const instructionLines = [
  "FROM alpine:3.19",
  "FROM --platform=linux/amd64 golang:1.22 AS build",
  "FROM build AS final",
  "FROM ${BASE:-alpine}",
  "ARG BASE=alpine",
  "ARG A=1 B C=${A}",
  "RUN echo hello",
  'RUN ["sh", "-c", "echo hi"]',
  "RUN --mount=type=cache,target=/root/.cache --network=none make",
  "RUN <<EOF",
  "RUN <<-EOF",
  "RUN python3 <<'PY'",
  "EOF",
  "\tEOF",
  "PY",
  "COPY --from=build /out /out",
  "COPY --from=0 --chown=app:app --chmod=755 --link a b /c/",
  "COPY --exclude=*.md --exclude=x . /src",
  "COPY <<EOF /etc/x",
  'COPY ["a b", "/c"]',
  "ADD --checksum=sha256:00 --keep-git-dir https://example.com/x.git /x",
  "ENV A=1 B=\"two words\" C='$A'",
  "ENV LEGACY value with spaces",
  "LABEL a=b \"c d\"=e",
  "WORKDIR /app/${A:+x}",
  "USER app:app",
  "EXPOSE 80/tcp 53/udp",
  'VOLUME ["/data"]',
  "VOLUME /a /b",
  'ENTRYPOINT ["/entry"]',
  "CMD echo $HOME",
  'SHELL ["/bin/bash", "-c"]',
  "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/",
  "HEALTHCHECK NONE",
  "STOPSIGNAL SIGTERM",
  "ONBUILD RUN make",
  "MAINTAINER someone",
  "# syntax=docker/dockerfile:1",
  "# escape=`",
  "# a comment",
  "",
  "   ",
  "RUN a \\",
  "  && b",
  "${v:?unset}",
  "WORKDIR ${v#*.}${v%%x}${v//a/b}",
];

const fragments = ["\\", "`", "\n", "\r\n", "<<EOF", "<<-", "${", "}", "$", "'", '"', "[", "]", "=", "--", "#", "\t", " ", ":", "\uFEFF", "\u0000"];

/** Mutations applied to a generated Dockerfile text. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("insert" as const), pos: fc.nat(), text: fc.constantFrom(...fragments) }),
  fc.record({ kind: fc.constant("insert" as const), pos: fc.nat(), text: fc.string({ maxLength: 4 }) }),
  fc.record({ kind: fc.constant("delete" as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 5 }) }),
);
type Mutation = { kind: "insert"; pos: number; text: string } | { kind: "delete"; pos: number; len: number };

function mutate(text: string, muts: Mutation[]): string {
  let t = text;
  for (const m of muts) {
    const pos = t.length === 0 ? 0 : m.pos % (t.length + 1);
    t = m.kind === "insert" ? t.slice(0, pos) + m.text + t.slice(pos) : t.slice(0, pos) + t.slice(pos + m.len);
  }
  return t;
}

const dockerfileLines = fc.array(fc.constantFrom(...instructionLines), { minLength: 0, maxLength: 25 });

describe("parser robustness (property)", () => {
  it("arbitrary strings", () => {
    fc.assert(fc.property(fc.string({ maxLength: 300, unit: "binary" }), (s) => check(s)), { numRuns: 300 });
  });

  it("arbitrary strings after a FROM line", () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => check("FROM alpine\n" + s)), { numRuns: 300 });
  });

  it("random instruction lines, mutated", () => {
    fc.assert(
      fc.property(
        dockerfileLines,
        fc.array(mutation, { maxLength: 6 }),
        fc.boolean(),
        (lines, muts, crlf) => {
          const text = mutate(lines.join(crlf ? "\r\n" : "\n"), muts as Mutation[]);
          check(text);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("valid-looking Dockerfiles with random continuations, build args and targets", () => {
    fc.assert(
      fc.property(
        dockerfileLines,
        fc.array(fc.nat(), { maxLength: 5 }),
        fc.dictionary(fc.constantFrom("A", "B", "BASE", "v"), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
        fc.option(fc.constantFrom("build", "final", "nope"), { nil: undefined }),
        (lines, contAt, buildArgs, target) => {
          const ls = ["FROM alpine AS build", ...lines];
          for (const at of contAt) {
            const i = at % ls.length;
            ls[i] = `${ls[i]} \\`;
          }
          const options: { buildArgs: Record<string, string>; target?: string } = { buildArgs };
          if (target !== undefined) options.target = target;
          check(ls.join("\n"), options);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("pathological inputs finish quickly", () => {
    const big = [
      "FROM alpine\n" + "RUN a \\\n".repeat(5000) + "b\n",
      "FROM alpine\nRUN <<EOF\n" + "x\n".repeat(5000),
      "FROM alpine\nENV A=" + "${".repeat(2000) + "\n",
      "FROM alpine\nENV A=" + "${A:-".repeat(500) + "x" + "}".repeat(500) + "\n",
      "FROM alpine\nRUN " + "<<EOF ".repeat(500) + "\n",
      "#".repeat(10000),
      "\\\n".repeat(5000),
      "FROM alpine\nLABEL " + '"'.repeat(5001) + "\n",
    ];
    for (const t of big) {
      const start = performance.now();
      try {
        parseDockerfile(t, { file: "Dockerfile" });
      } catch (e) {
        expect(e).toBeInstanceOf(DockerfileError);
      }
      expect(performance.now() - start).toBeLessThan(2000);
    }
  });
});
