// Parse once, plan per build, expand at use: the parse keeps words as written, each
// build (platform, build args) resolves the stage graph from the same parse, and a
// StageScope gives instructions their values against the base the builder really has.
import { describe, expect, it } from "vitest";
import { DockerfileError, parseSyntax, parseTrigger, planStages, StageScope, type Instruction } from "../../src/parser/index.js";

const arm = { platform: "linux/arm64", buildPlatform: "linux/amd64" };
const amd = { platform: "linux/amd64", buildPlatform: "linux/amd64" };

function thrown(fn: () => unknown): DockerfileError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DockerfileError);
    return e as DockerfileError;
  }
  throw new Error("expected a DockerfileError");
}

describe("parseSyntax", () => {
  it("keeps the words Docker expands as written", () => {
    const d = parseSyntax("ARG BASE=alpine\nFROM --platform=$BUILDPLATFORM ${BASE} AS b\nENV A=\"$B x\"\nCOPY --from=$S ${SRC} /d\nEXPOSE ${PORTS}\n");
    expect(d.metaArgs[0]!.args).toEqual({ args: [{ key: "BASE", value: "alpine" }] });
    expect(d.stages[0]!.from).toEqual({ image: "${BASE}", platform: "$BUILDPLATFORM" });
    expect(d.stages[0]!.instructions.map((i) => [i.flags, i.args])).toEqual([
      [{}, { pairs: [{ key: "A", value: '"$B x"' }] }],
      [{ from: "$S" }, { sources: ["${SRC}"], dest: "/d" }],
      [{}, { ports: ["${PORTS}"] }],
    ]);
  });

  it("parses ONBUILD triggers into instructions once, and rejects a broken one at its ONBUILD line", () => {
    const d = parseSyntax("FROM scratch\nONBUILD COPY --chown=$U a.txt /app/\n");
    const onbuild = d.stages[0]!.instructions[0]!;
    if (onbuild.keyword !== "ONBUILD") throw new Error("expected ONBUILD");
    expect(onbuild.args.trigger).toBe("COPY --chown=$U a.txt /app/");
    expect(onbuild.args.instruction).toMatchObject({ keyword: "COPY", flags: { chown: "$U" }, args: { sources: ["a.txt"], dest: "/app/" }, original: "ONBUILD COPY --chown=$U a.txt /app/" });
    const e = thrown(() => parseSyntax("FROM scratch\nRUN true\n  ONBUILD COPY only-one\n", { file: "ctx/Dockerfile" }));
    expect(e.format()).toMatch(/^ctx\/Dockerfile:3:3: COPY requires at least two arguments/);
  });

  it("places an error in a base image's trigger text at the trigger", () => {
    expect(parseTrigger("RUN echo hi", "triggers").original).toBe("ONBUILD RUN echo hi");
    expect(thrown(() => parseTrigger("WORKDIR", "triggers", 2)).format()).toBe("triggers:2:1: WORKDIR requires exactly one argument");
  });
});

describe("planStages: one parse, a plan per build", () => {
  const text = "FROM scratch AS base-amd64\nFROM scratch AS base-arm64\nFROM base-${TARGETARCH}\nARG TARGETARCH\nWORKDIR /$TARGETARCH\n";

  it("resolves FROM for each platform from the same parse, leaving it untouched", () => {
    const parsed = parseSyntax(text);
    const before = JSON.stringify(parsed);
    const forArm = planStages(parsed, arm).plan;
    const forAmd = planStages(parsed, amd).plan;
    expect(forArm.stages[2]!.baseStage).toBe(1);
    expect(forAmd.stages[2]!.baseStage).toBe(0);
    // Instructions stay as written in a plan: the builder expands them at use.
    expect(forArm.stages[2]!.instructions[1]!.args).toEqual({ path: "/$TARGETARCH" });
    expect(JSON.stringify(parsed)).toBe(before);
  });

  it("still fails before any build on a value that cannot expand, at its line", () => {
    const parsed = parseSyntax("FROM scratch\nARG NEED\nWORKDIR /${NEED:?give --build-arg NEED}\n");
    expect(thrown(() => planStages(parsed, amd)).format()).toBe("Dockerfile:3:1: NEED: give --build-arg NEED");
    expect(planStages(parsed, { ...amd, buildArgs: { NEED: "x" } }).plan.stages[0]!.instructions).toHaveLength(2);
  });
});

describe("StageScope: values at use", () => {
  it("expands against the base image's ENV it is given, ARGs in force and ENV lines in order", () => {
    const parsed = parseSyntax("FROM golang\nARG SUB=src\nENV DIR=$GOPATH/$SUB\nWORKDIR $DIR/${TARGETOS:-none}\n");
    const { plan } = planStages(parsed, { ...arm, buildArgs: { SUB: "pkg" } });
    const scope = new StageScope(plan.args, [["GOPATH", "/go"]], plan.directives.escape);
    const values = plan.stages[0]!.instructions.map((i) => scope.resolve(i, plan.file));
    expect(values.map((i: Instruction) => i.args)).toEqual([
      { args: [{ key: "SUB", value: "src", effective: "pkg" }] },
      { pairs: [{ key: "DIR", value: "/go/pkg" }] },
      { path: "/go/pkg/none" },
    ]);
    expect([...scope.args]).toEqual([["SUB", "pkg"]]);
  });

  it("names file, line and column of an expansion error found at use", () => {
    const parsed = parseSyntax("FROM alpine\n  USER ${WHO:?is not set}\n", { file: "app/Dockerfile" });
    // The plan knew another base (WHO set); the image the build really has sets it empty.
    const { plan } = planStages(parsed, { ...amd, imageEnv: () => [{ key: "WHO", value: "bob" }] });
    const scope = new StageScope(plan.args, [["WHO", ""]], "\\");
    expect(thrown(() => scope.resolve(plan.stages[0]!.instructions[0]!, plan.file)).format()).toBe("app/Dockerfile:2:3: WHO: is not set");
  });
});
