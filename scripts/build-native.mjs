// Compiles tbuild's RUN helper (src/native/run-init.c) into dist/native/. It needs a C
// compiler (Debian: gcc and libc6-dev); without one, builds still work but RUN steps
// are refused with a message saying how to get the helper.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

const out = new URL("../dist/native/", import.meta.url);
mkdirSync(out, { recursive: true });
const source = new URL("../src/native/run-init.c", import.meta.url).pathname;
try {
  execFileSync(process.env.CC ?? "cc", ["-O2", "-Wall", "-Wextra", "-o", new URL("tbuild-run-init", out).pathname, source], { stdio: "inherit" });
} catch (e) {
  console.error(`warning: could not compile the RUN helper (${e.message}); install gcc and libc6-dev, then run npm run build again`);
}
