import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BUSYBOX_BASE, context, freshRoot } from "../builder/helpers.js";

const cli = path.resolve(import.meta.dirname, "../../dist/cli/main.js");

/**
 * Runs tbuild under a real pseudo-terminal of `cols` x `rows` (util-linux `script`),
 * returning everything it drew.
 */
function underTerminal(args: string[], cols: number, rows: number): Promise<{ code: number | null; raw: string }> {
  const quoted = [process.execPath, cli, ...args].map((a) => `'${a}'`).join(" ");
  const child = spawn("script", ["-qfec", `stty cols ${cols} rows ${rows}; exec ${quoted}`, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] });
  let raw = "";
  child.stdout.on("data", (c: Buffer) => (raw += c.toString("utf8")));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, raw })));
}

/**
 * The screen left by what was drawn: a small terminal that knows what log-update
 * sends (cursor up, erase line, column 1, carriage return, newline), enough to see the
 * final frame as a person would.
 */
function screen(raw: string): string[] {
  const lines: string[] = [""];
  let row = 0;
  let col = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === "\x1b" && raw[i + 1] === "[") {
      const m = /^\x1b\[([?\d;]*)([A-Za-z])/.exec(raw.slice(i))!;
      const n = Number(m[1] || "1");
      if (m[2] === "A") row = Math.max(0, row - n);
      else if (m[2] === "K") lines[row] = "";
      else if (m[2] === "G") col = 0;
      i += m[0].length - 1;
    } else if (c === "\r") col = 0;
    else if (c === "\n") {
      row++;
      col = 0;
      while (lines.length <= row) lines.push("");
    } else {
      const line = lines[row]!.padEnd(col);
      lines[row] = line.slice(0, col) + c + line.slice(col + 1);
      col++;
    }
  }
  return lines.slice(0, row + 1).filter((l, i, all) => l !== "" || i < all.length - 1);
}

describe("the live tty view", () => {
  it("redraws in place while steps run, folds output under running steps, and ends on the whole build", async () => {
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN for i in 1 2 3 4 5 6 7 8; do echo line-$i; sleep 0.3; done\n" });
    const { code, raw } = await underTerminal(["build", "--progress", "tty", "--root", freshRoot(), ctx], 70, 40);
    expect(code).toBe(0);
    // Redrawn, not appended: many frames, each erasing the one before.
    expect(raw.split("[+] Building").length - 1).toBeGreaterThan(5);
    expect(raw).toContain("\x1b[1A\x1b[2K");
    expect(raw).toMatch(/ => => # line-3/);
    const final = screen(raw);
    const header = final.findIndex((l) => l.startsWith("[+] Building"));
    expect(final[header]).toMatch(/^\[\+\] Building \d+\.\ds \(3\/3\) FINISHED$/);
    expect(final[header + 1]).toMatch(/^ => \[1\/3\] COPY busybox \/bin\/busybox +DONE \d+\.\ds$/);
    expect(final[header + 3]).toMatch(/^ => \[3\/3\] RUN for i in 1 2 3 4 5 6 7 8; do.*… +DONE \d+\.\ds$/);
    // A finished step's output is folded away; the digest line follows the frame.
    expect(final.slice(header).some((l) => l.includes("# line-"))).toBe(false);
    for (const l of final.slice(0, header + 4)) expect(l.length).toBeLessThanOrEqual(70);
  });

  it("fits a narrow terminal and keeps a failed step's whole output on screen", async () => {
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN for i in 1 2 3 4 5 6 7 8 9; do echo out-$i; done; exit 1\n" });
    const { code, raw } = await underTerminal(["build", "--progress", "tty", "--root", freshRoot(), ctx], 32, 40);
    expect(code).toBe(1);
    const final = screen(raw);
    for (const l of final.slice(0, final.findIndex((x) => x.startsWith("------")))) expect(l.length).toBeLessThanOrEqual(32);
    const header = final.findIndex((l) => l.startsWith("[+] Building"));
    expect(final[header]).not.toMatch(/FINISHED/);
    expect(final.filter((l) => / => => # out-\d$/.test(l))).toHaveLength(9);
    expect(final.some((l) => l.startsWith(" => ERROR [3/3] RUN"))).toBe(true);
  });

  it("is plain when auto meets a pipe", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /b\n" });
    const child = spawn(process.execPath, [cli, "build", "--progress", "auto", "--root", freshRoot(), ctx], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    await new Promise((resolve) => child.on("close", resolve));
    expect(stderr).toMatch(/^#1 \[1\/1\] COPY busybox \/b\n#1 DONE \d+\.\ds\n/);
    expect(stderr).not.toContain("\x1b[");
  });
});
