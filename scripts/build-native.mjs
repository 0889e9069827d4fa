// Compiles tbuild's RUN helpers (src/native/run-init.c for namespaces, run-chroot.c for
// containers without them) into dist/native/. It needs a C compiler (Debian: gcc and
// libc6-dev); without one, builds still work but RUN steps are refused with a message
// saying how to get the helper.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

const out = new URL("../dist/native/", import.meta.url);
mkdirSync(out, { recursive: true });
for (const [source, binary] of [["run-init.c", "tbuild-run-init"], ["run-chroot.c", "tbuild-run-chroot"]]) {
  try {
    execFileSync(process.env.CC ?? "cc", ["-O2", "-Wall", "-Wextra", "-o", new URL(binary, out).pathname, new URL(`../src/native/${source}`, import.meta.url).pathname], { stdio: "inherit" });
  } catch (e) {
    console.error(`warning: could not compile the RUN helper ${source} (${e.message}); install gcc and libc6-dev, then run npm run build again`);
  }
}
