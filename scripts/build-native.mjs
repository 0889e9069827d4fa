// Compiles tbuild's small C helpers (src/native/*.c: the RUN helpers for namespaces and
// for chroot, and the xattr helper) into dist/native/linux-ARCH/, static,
// so the same files run on any Linux of that CPU (src/native/binaries.ts picks them).
//
//   node scripts/build-native.mjs          this machine's CPU, with $CC or cc. Without a
//                                          compiler it warns: builds without RUN still work.
//   node scripts/build-native.mjs --all    every CPU the npm package ships (prepack): fails
//                                          unless all compile (Debian: gcc libc6-dev
//                                          gcc-aarch64-linux-gnu libc6-dev-arm64-cross, or
//                                          gcc-x86-64-linux-gnu libc6-dev-amd64-cross on arm64).
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

const HELPERS = { "tbuild-run-init": "run-init.c", "tbuild-run-chroot": "run-chroot.c", "tbuild-xattrs": "xattrs.c" };
/** Node's name for a CPU -> the Debian cross compiler for it. */
const CROSS = { x64: "x86_64-linux-gnu-gcc", arm64: "aarch64-linux-gnu-gcc" };

function compile(arch, cc) {
  const out = new URL(`../dist/native/linux-${arch}/`, import.meta.url);
  mkdirSync(out, { recursive: true });
  for (const [name, source] of Object.entries(HELPERS)) {
    const src = new URL(`../src/native/${source}`, import.meta.url).pathname;
    execFileSync(cc, ["-O2", "-Wall", "-Wextra", "-static", "-s", "-o", new URL(name, out).pathname, src], { stdio: "inherit" });
  }
}

if (process.argv.includes("--all")) {
  for (const [arch, cross] of Object.entries(CROSS)) {
    const cc = arch === process.arch ? (process.env.CC ?? "cc") : cross;
    try {
      compile(arch, cc);
    } catch (e) {
      console.error(`error: cannot compile tbuild's helpers for linux/${arch} with ${cc} (${e.message}); the package must ship them for every CPU in scripts/build-native.mjs`);
      process.exit(1);
    }
  }
} else {
  try {
    compile(process.arch, process.env.CC ?? "cc");
  } catch (e) {
    console.error(`warning: could not compile tbuild's helpers (${e.message}); install gcc and libc6-dev, then run npm run build again`);
  }
}
