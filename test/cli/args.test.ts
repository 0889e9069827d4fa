import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { commands } from "../../src/cli/commands/index.js";
import { TbuildError } from "../../src/errors.js";
import { context } from "../builder/helpers.js";
import { tbuild } from "./helpers.js";

describe("mistakes on the command line", () => {
  it("an unknown command gets a 'did you mean' and exit 1, not the whole help", async () => {
    const r = await tbuild(["biuld", "."]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("tbuild: unknown command 'biuld'; did you mean 'build'?\nhint: 'tbuild --help' lists the commands\n");
    expect(r.stdout).toBe("");
    const far = await tbuild(["frobnicate"]);
    expect(far.stderr).toBe("tbuild: unknown command 'frobnicate'\nhint: 'tbuild --help' lists the commands\n");
    // A directory where a command belongs: the user meant to build it.
    const dir = mkdtempSync(path.join(tmpdir(), "tbuild-ctx-"));
    expect((await tbuild([dir])).stderr).toContain(`hint: to build the directory ${dir}: tbuild build ${dir}\n`);
  }, 300_000);

  it("a slip of tbuild's own --version is named as such, not as an unknown build flag", async () => {
    const r = await tbuild(["--verison"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("tbuild: unknown flag --verison; did you mean --version?\nhint: 'tbuild --help' lists the commands\n");
    // Build's own flags still reach build when typed without the command.
    expect((await tbuild(["--pul"])).stderr).toContain("did you mean --pull?");
  }, 120_000);

  it("an unknown flag gets tbuild's message with the closest flag, never Node's parseArgs text", async () => {
    for (const argv of [["build", "--buidl-arg", "A=1", "."], ["--buidl-arg", "A=1", "."]]) {
      const r = await tbuild(argv);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("tbuild: unknown flag --buidl-arg for 'tbuild build'; did you mean --build-arg?\nhint: 'tbuild build --help' lists its flags\n");
    }
    // A long flag with one dash is read as short flags; the message says so and suggests the long one.
    expect((await tbuild(["build", "-platform", "linux/arm64", "."])).stderr).toMatch(/^tbuild: unknown flag -p \(in -platform\) for 'tbuild build'; did you mean --platform\?\n/);
    const noGuess = await tbuild(["images", "--zzzzzz"]);
    expect(noGuess.stderr).toBe("tbuild: unknown flag --zzzzzz for 'tbuild images'\nhint: 'tbuild images --help' lists its flags\n");
    for (const r of [noGuess, await tbuild(["build", "-t"]), await tbuild(["images", "extra"])]) {
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/Unknown option|ERR_PARSE_ARGS|argument terminator|positional/);
    }
  }, 300_000);

  it("says which flag lacks its value, which takes none, and what to write for a value starting with '-'", async () => {
    expect((await tbuild(["build", ".", "-t"])).stderr).toBe("tbuild: -t (--tag) needs a value\nhint: 'tbuild build --help' lists its flags\n");
    expect((await tbuild(["build", "--push=yes", "."])).stderr).toBe("tbuild: --push takes no value, got 'yes'\nhint: 'tbuild build --help' lists its flags\n");
    expect((await tbuild(["build", "-t", "-q", "."])).stderr).toBe("tbuild: -t (--tag) needs a value, and '-q' looks like a flag\nhint: if the value starts with '-', write --tag=-q\n");
    expect((await tbuild(["images", "extra"])).stderr).toBe("tbuild: 'tbuild images' takes no arguments, got 'extra'\nhint: 'tbuild images --help' lists its flags\n");
  }, 300_000);

  it("every command words a mistyped flag the same way", async () => {
    for (const entry of commands) {
      const command = await entry.load();
      const err = await command.run(["--hlep"]).catch((e: unknown) => e);
      expect(err, entry.name).toBeInstanceOf(TbuildError);
      expect((err as TbuildError).message).toBe(`unknown flag --hlep for 'tbuild ${entry.name}'; did you mean --help?`);
    }
  }, 300_000);
});

describe("tbuild --version", () => {
  it("prints tbuild's version from package.json, Node's, and the snapshotter this store would use", async () => {
    const { version } = JSON.parse(readFileSync(path.resolve(import.meta.dirname, "../../package.json"), "utf8")) as { version: string };
    const root = mkdtempSync(path.join(tmpdir(), "tbuild-root-"));
    const long = await tbuild(["--version", "--root", root]);
    expect(long.code).toBe(0);
    expect(long.stdout).toMatch(new RegExp(`^tbuild:\\s+${version.replace(/\./g, "\\.")}\\n`));
    expect(long.stdout).toMatch(new RegExp(`^node:\\s+${process.version.replace(/\./g, "\\.")} \\(linux/(amd64|arm64)\\)$`, "m"));
    expect(long.stdout).toMatch(/^snapshotter:\s+(overlay \(overlayfs mounts here\)|native \(overlayfs does not mount here; native copies each layer\))$/m);
    expect((await tbuild(["version", "--root", root])).stdout).toBe(long.stdout);
    expect((await tbuild(["-v", "--root", root])).stdout).toBe(long.stdout);
    // A store that already holds snapshots keeps their driver, and version says so.
    const forced = mkdtempSync(path.join(tmpdir(), "tbuild-root-"));
    const ctx = context({ Dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "true"]\n' });
    const built = await tbuild(["build", "--root", forced, "--snapshotter", "native", "-q", ctx]);
    expect(built.stderr).toBe("");
    expect((await tbuild(["version", "--root", forced])).stdout).toMatch(new RegExp(`^snapshotter:\\s+native \\(recorded in ${forced}/snapshotter\\)$`, "m"));
  }, 300_000);
});
