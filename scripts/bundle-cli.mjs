// Bundles the CLI (dist/cli/tbuild.js, tsc's output, and every module it imports, with
// the dependencies) into one CommonJS file, dist/cli/tbuild.cjs, which the package's
// `bin`, dist/cli/main.js (src/cli/main.ts), runs with V8's code cache. Node 20 has no
// compile cache: resolving, reading and compiling ~235 module files cost a no-change build
// more than its work; one file costs a single read and parse. CommonJS because a script
// (vm.Script) is what V8's code cache takes in Node 20. The library entry (dist/index.js)
// and the snapshotter's worker script (spawned as a file of its own) stay unbundled. Run
// by `npm run build` and `prepack`, after tsc.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const outfile = path.join(dist, "cli", "tbuild.cjs");

// Modules find files next to them through import.meta.url (the native helpers in
// dist/native/, the worker script, package.json): in the bundle each module's
// import.meta.url is rewritten to the URL its own file has in dist/, so those paths
// resolve as they do unbundled, wherever the package is installed.
const ownUrls = {
  name: "own-import-meta-url",
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const contents = await readFile(args.path, "utf8");
      if (!args.path.startsWith(dist) || !contents.includes("import.meta.url")) return undefined;
      const rel = path.relative(path.dirname(outfile), args.path);
      const own = `new URL(${JSON.stringify(rel)}, require("node:url").pathToFileURL(__filename)).href`;
      return { contents: contents.replaceAll("import.meta.url", own), loader: "js" };
    });
  },
};

await build({
  entryPoints: [path.join(dist, "cli", "tbuild.js")],
  outfile,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // import() of a built-in (readline for login) becomes require(): a vm.Script has no
  // module loader of its own for import() on every Node 20.
  supported: { "dynamic-import": false },
  plugins: [ownUrls],
  logLevel: "warning",
});
