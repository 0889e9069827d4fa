/**
 * The zod tbuild's schemas are written with: zod/mini, with English messages. The
 * classic `zod` entry brings every locale and all its methods along (~800 KB, ~150 ms of
 * every command's start-up, even bundled); mini's functions are tree-shaken to what the
 * schemas use. Mini ships no messages of its own, so English is configured here, once.
 */
import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

export * from "zod/mini";

// jitless: schemas parse a handful of small documents per command; compiling a fast path
// for each (new Function) costs more than it saves.
config({ ...en(), jitless: true });
