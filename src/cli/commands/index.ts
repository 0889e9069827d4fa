import type { Command } from "../command.js";

/** A subcommand as `tbuild --help` lists it; its module loads only when it runs. */
export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<Command>;
}

// Loading on demand keeps start-up short: the registry client (got) and zod alone take
// a quarter of a second to import, which `tbuild images` or a cached build should not pay.
export const commands: CommandEntry[] = [
  { name: "build", summary: "Build an image from a Dockerfile", load: async () => (await import("./build.js")).buildCommand },
  { name: "parse", summary: "Parse a Dockerfile and print its stages and instructions", load: async () => (await import("./parse.js")).parseCommand },
  { name: "images", summary: "List images in the local store", load: async () => (await import("./images.js")).imagesCommand },
  { name: "inspect", summary: "Print an image's descriptor, manifest and config as JSON", load: async () => (await import("./inspect.js")).inspectCommand },
  { name: "tag", summary: "Give a stored image another name", load: async () => (await import("./tag.js")).tagCommand },
  { name: "rmi", summary: "Remove image names from the store (blobs are freed by 'tbuild prune')", load: async () => (await import("./rmi.js")).rmiCommand },
  { name: "save", summary: "Write an image to a tar archive (OCI, or docker load format), or its root filesystem to a directory", load: async () => (await import("./save.js")).saveCommand },
  { name: "load", summary: "Load images from an OCI archive or a 'docker save' tar", load: async () => (await import("./load.js")).loadCommand },
  { name: "import", summary: "Create an image from a root filesystem tarball", load: async () => (await import("./import.js")).importCommand },
  { name: "prune", summary: "Delete blobs, unpacked-layer snapshots and build-cache records nothing uses, and leftovers of dead builds", load: async () => (await import("./prune.js")).pruneCommand },
  { name: "fsck", summary: "Check the store's blobs, images, build cache and snapshots against each other; --repair removes what is broken", load: async () => (await import("./fsck.js")).fsckCommand },
  { name: "du", summary: "Show disk space used by blobs, unpacked-layer snapshots and the build cache, and what prune frees", load: async () => (await import("./du.js")).duCommand },
  { name: "pull", summary: "Download an image from a registry", load: async () => (await import("./pull.js")).pullCommand },
  { name: "push", summary: "Upload an image to a registry", load: async () => (await import("./push.js")).pushCommand },
  { name: "login", summary: "Log in to a registry", load: async () => (await import("./login.js")).loginCommand },
  { name: "logout", summary: "Remove saved registry credentials", load: async () => (await import("./logout.js")).logoutCommand },
  { name: "version", summary: "Show tbuild's and Node's versions and the snapshotter builds would use", load: async () => (await import("./version.js")).versionCommand },
];
