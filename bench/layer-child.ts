/**
 * One sample of the `layer` benchmark, in a process of its own so its peak RSS is its
 * own: diffs the prepared snapshot into a content store (tar + gzip + diffID + digest in
 * one pass) and prints what it made, its time and process.resourceUsage().maxRSS.
 *
 *   node layer-child.js SNAPSHOTTER-ROOT DRIVER KEY CONTENT-STORE-DIR
 */
import { LocalContentStore } from "../src/content/local.js";
import { openSnapshotter } from "../src/snapshotter/index.js";

const [root, driver, key, storeDir] = process.argv.slice(2) as [string, "overlay" | "native", string, string];
const snapshotter = await openSnapshotter({ root, driver });
const start = process.hrtime.bigint();
const layer = await snapshotter.diff(key, new LocalContentStore(storeDir));
const ms = Number(process.hrtime.bigint() - start) / 1e6;
process.stdout.write(JSON.stringify({ ms, ...layer, maxRssKiB: process.resourceUsage().maxRSS }) + "\n");
