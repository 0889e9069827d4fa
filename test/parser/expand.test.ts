import { describe, expect, it } from "vitest";
import { expandWord, expandWords } from "../../src/parser/index.js";

const vars: Record<string, string> = { v: "hello.tar.gz", empty: "", path: "/usr/local/bin", two: "a b" };
const lookup = (name: string): string | undefined => vars[name];
const ex = (s: string, escape = "\\"): string => expandWord(s, lookup, escape);

describe("variable expansion", () => {
  it.each([
    ["$v", "hello.tar.gz"],
    ["${v}", "hello.tar.gz"],
    ["pre-${v}-post", "pre-hello.tar.gz-post"],
    ["$unset", ""],
    ["${unset:-dflt}", "dflt"],
    ["${empty:-dflt}", "dflt"],
    ["${empty-dflt}", ""],
    ["${unset-dflt}", "dflt"],
    ["${v:+alt}", "alt"],
    ["${empty:+alt}", ""],
    ["${empty+alt}", "alt"],
    ["${unset+alt}", ""],
    ["${v#*.}", "tar.gz"],
    ["${v##*.}", "gz"],
    ["${v%.*}", "hello.tar"],
    ["${v%%.*}", "hello"],
    ["${path/local/opt}", "/usr/opt/bin"],
    ["${path//\\//:}", ":usr:local:bin"],
    ["${unset:-${v%%.*}}", "hello"],
    ["\\$v", "$v"],
    ["'$v'", "$v"],
    ['"$v"', "hello.tar.gz"],
    ['"a\\"b"', 'a"b'],
    ['"a\\nb"', "a\\nb"],
    ["$1x", "x"],
    ["cost: 5$", "cost: 5$"],
  ])("%s → %s", (input, output) => {
    expect(ex(input)).toBe(output);
  });

  it("uses the backtick as escape character when the Dockerfile says so", () => {
    expect(ex("`$v", "`")).toBe("$v");
    expect(ex("C:\\path\\$v", "`")).toBe("C:\\path\\hello.tar.gz");
  });

  it("fails with the message of ${v:?msg} when v is unset or empty", () => {
    expect(() => ex("${unset:?must be set}")).toThrow(/unset: must be set/);
    expect(() => ex("${empty:?}")).toThrow(/empty/);
    expect(() => ex("${empty?}")).not.toThrow();
  });

  it("rejects unterminated substitutions and quotes", () => {
    expect(() => ex("${v")).toThrow(/missing '}'/);
    expect(() => ex("'abc")).toThrow(/single quote/);
    expect(() => ex('"abc')).toThrow(/double quote/);
    expect(() => ex("${v^^}")).toThrow(/unsupported modifier/);
  });

  it("splits words on unquoted whitespace, including inside unquoted values", () => {
    expect(expandWords("$two c", lookup, "\\")).toEqual(["a", "b", "c"]);
    expect(expandWords('"$two" c', lookup, "\\")).toEqual(["a b", "c"]);
    expect(expandWords("80/tcp   53/udp", lookup, "\\")).toEqual(["80/tcp", "53/udp"]);
  });
});
