/** A layer as an image uses it: the stored (compressed) blob's descriptor plus its diffID. */
export interface LayerDescriptor {
  mediaType: string;
  /** sha256 of the blob as stored (compressed). */
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar, for the image config's rootfs.diff_ids. */
  diffID: string;
}
