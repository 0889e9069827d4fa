import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { TbuildError } from "../errors.js";
import type { MergedView } from "./rootfs.js";

export interface Ids {
  uid: number;
  gid: number;
}

function table(text: string | undefined): string[][] {
  return (text ?? "")
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

const NUMERIC = /^\d+$/;

/** The ids a `user[:group]` stands for, and the user's home directory when known. */
export interface ResolvedUser extends Ids {
  home: string | undefined;
}

/**
 * Resolves `user[:group]` (names or numbers) against the image's /etc/passwd and
 * /etc/group. Without a group, a named user gets its primary group; a numeric one
 * gets its passwd entry's group when it has one, else, for USER, group 0 (what a
 * container runtime does) and, for `COPY --chown`, its own number (what BuildKit does).
 */
export async function resolveUser(spec: string, view: MergedView, what: string, numericDefault: "root-group" | "same-as-uid"): Promise<ResolvedUser> {
  const [user = "", group] = spec.split(":", 2);
  const passwd = table(await view.readSmallFile("/etc/passwd"));
  const row = NUMERIC.test(user) ? passwd.find((r) => r[2] === user) : passwd.find((r) => r[0] === user);
  if (!NUMERIC.test(user) && (row === undefined || !NUMERIC.test(row[2] ?? "") || !NUMERIC.test(row[3] ?? ""))) {
    throw new TbuildError("not-found", `${what}: unknown user '${user}': no such user in the image's /etc/passwd`, { hint: "use a numeric uid, or create the user in an earlier step" });
  }
  const uid = NUMERIC.test(user) ? Number(user) : Number(row![2]);
  const home = row?.[5] === undefined || row[5] === "" ? undefined : row[5];
  if (group === undefined) {
    const primary = row !== undefined && NUMERIC.test(row[3] ?? "") ? Number(row[3]) : numericDefault === "same-as-uid" ? uid : 0;
    return { uid, gid: primary, home };
  }
  if (NUMERIC.test(group)) return { uid, gid: Number(group), home };
  const grow = table(await view.readSmallFile("/etc/group")).find((r) => r[0] === group);
  if (grow === undefined || !NUMERIC.test(grow[2] ?? "")) {
    throw new TbuildError("not-found", `${what}: unknown group '${group}': no such group in the image's /etc/group`, { hint: "use a numeric gid, or create the group in an earlier step" });
  }
  return { uid, gid: Number(grow[2]), home };
}

/**
 * The groups a RUN step's process has, with initgroups(3) semantics as docker and
 * BuildKit give them: the primary group, then every group of the image's /etc/group
 * that lists the user's name as a member. A uid with no passwd entry has only its group.
 */
export async function supplementaryGroups(uid: number, gid: number, view: MergedView): Promise<number[]> {
  const name = table(await view.readSmallFile("/etc/passwd")).find((r) => r[2] === String(uid))?.[0];
  const groups = [gid];
  if (name === undefined) return groups;
  for (const row of table(await view.readSmallFile("/etc/group"))) {
    const id = row[2] ?? "";
    if (NUMERIC.test(id) && (row[3] ?? "").split(",").includes(name) && !groups.includes(Number(id))) groups.push(Number(id));
  }
  return groups;
}

/** `COPY --chown` and WORKDIR ownership. */
export async function resolveIds(spec: string, view: MergedView, what: string): Promise<Ids> {
  const { uid, gid } = await resolveUser(spec, view, what, "same-as-uid");
  return { uid, gid };
}

/** A subordinate id range from /etc/subuid or /etc/subgid. */
interface IdRange {
  start: number;
  count: number;
}

function subordinateRange(file: string): IdRange | undefined {
  const { username } = userInfo();
  const uid = String(process.getuid?.() ?? "");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const [who, start, count] = line.trim().split(":");
    if ((who === username || who === uid) && start !== undefined && count !== undefined) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

let ranges: { uid?: IdRange; gid?: IdRange } | undefined;

/**
 * This process's uid and gid, asked once: tbuild never changes them, and each
 * process.getuid() is a system call (imageIdsOf and hostIdsOf run once per copied
 * entry: ~0.1 s of main-thread time for w1's 20,000 COPY --from entries).
 */
let own: { uid: number | undefined; gid: number | undefined } | undefined;
function ownIds(): { uid: number | undefined; gid: number | undefined } {
  return (own ??= { uid: process.getuid?.(), gid: process.getgid?.() });
}

/**
 * The image ids of a file seen from the host. As root they are the file's own; as a
 * normal user, snapshot files are owned by subordinate ids and the namespace maps
 * root to the user and 1..n to the range (unshare --map-auto), so map them back.
 */
export function imageIdsOf(st: { uid: bigint; gid: bigint }): Ids {
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const { uid: ownUid, gid: ownGid } = ownIds();
  if (ownUid === 0) return { uid, gid };
  ranges ??= { ...optional("uid", subordinateRange("/etc/subuid")), ...optional("gid", subordinateRange("/etc/subgid")) };
  const back = (id: number, own: number | undefined, range: IdRange | undefined): number => {
    if (id === own) return 0;
    if (range !== undefined && id >= range.start && id < range.start + range.count) return id - range.start + 1;
    return 65534; // outside the map: the kernel's overflow id, as the namespace would show it
  };
  return { uid: back(uid, ownUid, ranges.uid), gid: back(gid, ownGid, ranges.gid) };
}

/**
 * The host ids a file with image ids `ids` gets in a snapshot: imageIdsOf's inverse, or
 * undefined when the namespace cannot map them (outside the subordinate range).
 */
export function hostIdsOf(ids: Ids): Ids | undefined {
  const { uid: ownUid, gid: ownGid } = ownIds();
  if (ownUid === 0) return ids;
  ranges ??= { ...optional("uid", subordinateRange("/etc/subuid")), ...optional("gid", subordinateRange("/etc/subgid")) };
  const forth = (id: number, own: number | undefined, range: IdRange | undefined): number | undefined => {
    if (id === 0) return own;
    return range !== undefined && id <= range.count ? range.start + id - 1 : undefined;
  };
  const uid = forth(ids.uid, ownUid, ranges.uid);
  const gid = forth(ids.gid, ownGid, ranges.gid);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

function optional<K extends string>(key: K, value: IdRange | undefined): Partial<Record<K, IdRange>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, IdRange>);
}
