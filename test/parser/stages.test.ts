import { describe, expect, it } from "vitest";
import { DockerfileError, parseDockerfile } from "../../src/parser/index.js";

const argValues = (text: string, buildArgs: Record<string, string> = {}) => {
  const result = parseDockerfile(text, { buildArgs, platform: "linux/arm64", buildPlatform: "linux/amd64" });
  return result;
};

describe("ARG scoping and platform ARGs", () => {
  it("expands ARG defaults one after another, seeing build-arg overrides", () => {
    const text = "FROM scratch\nARG A=1 B=$A\nENV C=$B\n";
    const env = (r: ReturnType<typeof argValues>) => r.stages[0]!.instructions[1]!.args;
    expect(env(argValues(text))).toEqual({ pairs: [{ key: "C", value: "1" }] });
    expect(env(argValues(text, { A: "5" }))).toEqual({ pairs: [{ key: "C", value: "5" }] });
  });

  it("gives FROM lines the automatic platform ARGs", () => {
    const r = argValues("FROM --platform=$BUILDPLATFORM golang AS build\nFROM alpine:${TARGETARCH}\n");
    expect(r.stages[0]!.platform).toBe("linux/amd64");
    expect(r.stages[1]!.base).toBe("alpine:arm64");
  });

  it("makes platform ARGs visible in a stage only once declared", () => {
    const r = argValues("FROM scratch\nWORKDIR /a$TARGETOS\nARG TARGETOS TARGETARCH\nWORKDIR /$TARGETOS/$TARGETARCH\n");
    expect(r.stages[0]!.instructions.map((i) => i.args)).toEqual([
      { path: "/a" },
      { args: [{ key: "TARGETOS", value: null, effective: "linux" }, { key: "TARGETARCH", value: null, effective: "arm64" }] },
      { path: "/linux/arm64" },
    ]);
  });

  it("lets ENV win over an ARG of the same name", () => {
    const r = argValues("FROM scratch\nARG V=arg\nENV V=env\nWORKDIR /$V\n");
    expect(r.stages[0]!.instructions[2]!.args).toEqual({ path: "/env" });
  });
});

describe("stage graph", () => {
  it("resolves COPY --from to a stage defined later, when there is no cycle", () => {
    const r = parseDockerfile("FROM alpine AS a\nCOPY --from=b /x /x\nFROM alpine AS b\nRUN true\n", { target: "a" });
    expect(r.stages.map((s) => s.index)).toEqual([0, 1]);
    expect(r.stages[0]!.dependsOn).toEqual([1]);
  });

  it("treats FROM of a later stage name as an image, as BuildKit does", () => {
    const r = parseDockerfile("FROM b AS a\nFROM alpine AS b\n");
    expect(r.stages[0]!.baseStage).toBeNull();
  });

  it("keeps only the stages the target needs, transitively", () => {
    const r = parseDockerfile(
      "FROM alpine AS deps\nFROM deps AS build\nFROM alpine AS unrelated\nFROM scratch AS final\nCOPY --from=build /a /a\n",
      { target: "final" },
    );
    expect(r.stages.map((s) => s.name)).toEqual(["deps", "build", "final"]);
    expect(r.target).toBe(3);
  });

  it("names the file, line and column of an error, with a hint for typos", () => {
    try {
      parseDockerfile("FROM alpine\n  RUNN echo\n", { file: "ctx/Dockerfile" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DockerfileError);
      const err = e as DockerfileError;
      expect(err.format()).toBe("ctx/Dockerfile:2:3: unknown instruction: RUNN");
      expect(err.hint).toBe("did you mean RUN?");
    }
  });

  it("suggests the nearest --target name", () => {
    expect(() => parseDockerfile("FROM alpine AS builder\n", { target: "buidler" })).toThrow(/target stage 'buidler' could not be found/);
    try {
      parseDockerfile("FROM alpine AS builder\n", { target: "buidler" });
    } catch (e) {
      expect((e as DockerfileError).hint).toBe("did you mean 'builder'?");
    }
  });
});

describe("base image environment", () => {
  it("expands against a base image's ENV when the caller knows it", () => {
    const imageEnv = (base: string) => (base === "golang:1.22" ? [{ key: "GOPATH", value: "/go" }] : undefined);
    const r = parseDockerfile("FROM golang:1.22\nWORKDIR $GOPATH/src\nFROM scratch\nWORKDIR /x$GOPATH\n", { imageEnv });
    expect(r.stages[0]!.instructions[0]!.args).toEqual({ path: "/go/src" });
    expect(r.stages[1]!.instructions[0]!.args).toEqual({ path: "/x" });
  });
});
