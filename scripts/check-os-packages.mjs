// Run before `npm test`: checks that the Debian packages examples/quickstart.sh installs
// (it prints its one list with --packages) are present, so a missing one is reported as
// the apt-get command to type instead of as dozens of `spawn docker-registry ENOENT` failures.
import { spawnSync } from "node:child_process";

const list = spawnSync("bash", [new URL("../examples/quickstart.sh", import.meta.url).pathname, "--packages"], { encoding: "utf8" });
const wanted = list.status === 0 ? list.stdout.trim().split(/\s+/) : [];
if (wanted.length === 0) {
  console.error(`note: could not list the OS packages the tests use (bash examples/quickstart.sh --packages: ${list.stderr?.trim() || list.error?.message}); not checking them`);
  process.exit(0);
}
const query = spawnSync("dpkg-query", ["-W", "-f", "${Package} ${Status}\\n", ...wanted], { encoding: "utf8" });
if (query.error !== undefined) {
  console.error(`note: not a Debian system (no dpkg-query); the tests expect the programs of these Debian packages: ${wanted.join(" ")}`);
  process.exit(0);
}
const installed = new Set(query.stdout.split("\n").filter((l) => l.endsWith(" install ok installed")).map((l) => l.split(" ")[0]));
const missing = wanted.filter((p) => !installed.has(p));
if (missing.length > 0) {
  const sudo = process.geteuid?.() === 0 ? "" : "sudo ";
  console.error(`The tests need Debian packages that are not installed: ${missing.join(" ")}`);
  console.error(`Install them with:\n  ${sudo}apt-get install -y ${missing.join(" ")}\n(or run bash examples/quickstart.sh, which installs them)`);
  process.exit(1);
}
