// Bundles the CLI (dist/cli/tbuild.js, tsc's output, and every module it imports, with
// the dependencies) into one file, dist/cli/main.js, the package's `bin`. Node 20 has no
// compile cache: resolving, reading and compiling ~235 module files cost a no-change build
// more than its work; one file costs a single read and parse. The library entry
// (dist/index.js) and the snapshotter's worker script (spawned as a file of its own) stay
// unbundled. Run by `npm run build` and `prepack`, after tsc.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const outfile = path.join(dist, "cli", "main.js");

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
      return { contents: contents.replaceAll("import.meta.url", `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: "js" };
    });
  },
};

await build({
  entryPoints: [path.join(dist, "cli", "tbuild.js")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // Dependencies written as CommonJS call require() for Node's built-ins.
  banner: { js: 'import { createRequire as __tbuildRequire } from "node:module"; const require = __tbuildRequire(import.meta.url);' },
  plugins: [ownUrls],
  logLevel: "warning",
});
