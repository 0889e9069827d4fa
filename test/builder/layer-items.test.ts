/**
 * A layer written from items that fail at once (COPY --from's layer fast path gives up on
 * the first entry it cannot reproduce): the failure is the step's to handle, never an
 * uncaught exception of the process, even when the content store is slow to open a writer.
 */
import { readdir } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { LocalContentStore } from "../../src/content/local.js";
import { layerFromItems } from "../../src/builder/steps/common.js";
import type { LayerItem } from "../../src/snapshotter/differ.js";
import { tempDir } from "../store/helpers.js";

describe("a layer from items that fail", () => {
  it("rejects with the items' own error and leaves no blob, when the store opens its writer late", async () => {
    const store = new LocalContentStore(await tempDir());
    const open = store.writer.bind(store);
    // The writer arrives after the items have failed: the tar stream is destroyed before storeLayer pipes it.
    store.writer = async (...args: Parameters<typeof open>) => {
      await new Promise((r) => setTimeout(r, 100));
      return open(...args);
    };
    const gaveUp = new Error("the layer cannot be reproduced");
    const items = (async function* (): AsyncGenerator<LayerItem> {
      throw gaveUp;
    })();
    await expect(layerFromItems(items, { content: store, compression: "gzip", sourceDateEpoch: undefined })).rejects.toBe(gaveUp);
    await new Promise((r) => setTimeout(r, 300));
    expect(await readdir(store.blobsDir).catch(() => [])).toEqual([]);
    expect(await readdir(store.ingestDir).catch(() => [])).toEqual([]);
  });
});
