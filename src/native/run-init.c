/*
 * tbuild-run-init: builds a RUN step's sandbox and runs its command.
 *
 * tbuild starts it through `unshare` (a user namespace when rootless, and private mount
 * and pid namespaces), so it is pid 1 of the step. It reads the step's description
 * from fd 3 (records, see read_spec), then:
 *  - makes private UTS and IPC namespaces (and a network namespace for --network=none)
 *    and sets the sandbox hostname;
 *  - mounts the step's root nodev (device nodes from a layer never open host devices),
 *    then /proc, /sys, a small /dev with the usual devices, a private devpts and a
 *    64 MiB /dev/shm, the step's files (resolv.conf, hosts, hostname, secrets, a
 *    heredoc script: written to a tmpfs of this mount namespace, never to disk) and
 *    its --mount mounts. Every mount target is resolved and created inside the root
 *    with openat2(RESOLVE_NO_SYMLINKS) and mounted through its file descriptor, so a
 *    path swapped for a symlink meanwhile (another build sharing a cache mount) cannot
 *    send a mount or a new directory onto the host (BuildKit's CVE-2024-23651 class);
 *  - masks /proc and /sys paths and makes /proc/sys and friends read-only, as docker;
 *  - pivot_root into the root and detaches the old one (a chroot could be left again);
 *  - forks the command with docker's default seccomp profile, docker build's
 *    capabilities (no CAP_MKNOD: there is no device cgroup here; no CAP_NET_RAW on the
 *    host's network), the image user's ids and supplementary groups, stdin /dev/null,
 *    no file descriptor but 0-2, exactly the image's environment (a counted list,
 *    never parsed) and WORKDIR entered from inside the root.
 * As pid 1 it then reaps orphans until the command exits, and exits with its status;
 * the kernel then kills whatever the command left behind. fd 0 is a pipe from tbuild:
 * when it reads end-of-file tbuild is gone (even by SIGKILL), and the step is killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp-allow.h"

#define SETUP_FAILED 125

static void die(const char *fmt, ...) {
  int e = errno;
  va_list ap;
  va_start(ap, fmt);
  fputs("tbuild: RUN: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (e != 0) fprintf(stderr, ": %s", strerror(e));
  fputc('\n', stderr);
  exit(SETUP_FAILED);
}

/* ---- the step description ------------------------------------------------------------ */

enum { MAX_ITEMS = 4096 };

struct file_item {
  char *target;
  unsigned mode, uid, gid;
  char *data;
  size_t len;
};

struct spec {
  char *merged, *staging, *started, *root_kind, *root_arg, *workdir, *net, *hostname;
  unsigned uid, gid;
  gid_t groups[256];
  int ngroups;
  char *mounts[MAX_ITEMS];
  int nmounts;
  struct file_item files[MAX_ITEMS];
  int nfiles;
  char *env[MAX_ITEMS + 1];
  int nenv;
  char *argv[MAX_ITEMS + 1];
  int nargv;
};

/* One record: "TAG LEN\n" then LEN bytes then "\n". Values may hold any byte. */
static int read_record(FILE *in, char tag[32], char **value, size_t *len) {
  size_t n;
  if (fscanf(in, "%31s %zu", tag, &n) != 2 || fgetc(in) != '\n') return 0;
  if (n > (64u << 20)) die("step description: a record of %zu bytes", n);
  char *buf = malloc(n + 1);
  if (buf == NULL) die("out of memory");
  if (fread(buf, 1, n, in) != n || fgetc(in) != '\n') die("step description: record %s cut short", tag);
  buf[n] = '\0';
  *value = buf;
  *len = n;
  return 1;
}

/* Splits a tab-separated record in place into at most max fields. */
static int fields(char *s, char **out, int max) {
  int n = 0;
  while (n < max) {
    out[n++] = s;
    char *tab = strchr(s, '\t');
    if (tab == NULL) break;
    *tab = '\0';
    s = tab + 1;
  }
  return n;
}

static void read_spec(int fd, struct spec *sp) {
  FILE *in = fdopen(fd, "r");
  if (in == NULL) die("cannot read the step description");
  char tag[32];
  char *v;
  size_t len;
  while (read_record(in, tag, &v, &len)) {
    char *f[5];
    if (strcmp(tag, "end") == 0) {
      fclose(in);
      return;
    } else if (strcmp(tag, "merged") == 0) sp->merged = v;
    else if (strcmp(tag, "staging") == 0) sp->staging = v;
    else if (strcmp(tag, "started") == 0) sp->started = v;
    else if (strcmp(tag, "workdir") == 0) sp->workdir = v;
    else if (strcmp(tag, "net") == 0) sp->net = v;
    else if (strcmp(tag, "hostname") == 0) sp->hostname = v;
    else if (strcmp(tag, "rootfs") == 0) {
      if (fields(v, f, 2) != 2) die("step description: bad rootfs");
      sp->root_kind = f[0];
      sp->root_arg = f[1];
    } else if (strcmp(tag, "user") == 0) {
      if (fields(v, f, 3) != 3) die("step description: bad user");
      sp->uid = (unsigned)strtoul(f[0], NULL, 10);
      sp->gid = (unsigned)strtoul(f[1], NULL, 10);
      for (char *g = strtok(f[2], ","); g != NULL && sp->ngroups < 256; g = strtok(NULL, ","))
        sp->groups[sp->ngroups++] = (gid_t)strtoul(g, NULL, 10);
    } else if (strcmp(tag, "mount") == 0) {
      if (sp->nmounts == MAX_ITEMS) die("too many mounts");
      sp->mounts[sp->nmounts++] = v;
    } else if (strcmp(tag, "file") == 0) {
      if (sp->nfiles == MAX_ITEMS || fields(v, f, 4) != 4) die("step description: bad file");
      struct file_item *it = &sp->files[sp->nfiles++];
      it->target = f[0];
      it->mode = (unsigned)strtoul(f[1], NULL, 8);
      it->uid = (unsigned)strtoul(f[2], NULL, 10);
      it->gid = (unsigned)strtoul(f[3], NULL, 10);
    } else if (strcmp(tag, "data") == 0) {
      if (sp->nfiles == 0) die("step description: data without file");
      sp->files[sp->nfiles - 1].data = v;
      sp->files[sp->nfiles - 1].len = len;
    } else if (strcmp(tag, "env") == 0) {
      if (sp->nenv == MAX_ITEMS) die("too many environment variables");
      sp->env[sp->nenv++] = v;
    } else if (strcmp(tag, "arg") == 0) {
      if (sp->nargv == MAX_ITEMS) die("too many arguments");
      sp->argv[sp->nargv++] = v;
    } else die("step description: unknown record %s", tag);
  }
  errno = 0;
  die("step description: cut short");
}

/* ---- mounting through file descriptors --------------------------------------------- */

static char fdpath_buf[64];
static const char *fdpath(int fd) {
  snprintf(fdpath_buf, sizeof fdpath_buf, "/proc/self/fd/%d", fd);
  return fdpath_buf;
}

static int resolve_at(int dirfd, const char *name, int flags, unsigned long long resolve) {
  struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .resolve = resolve};
  return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
}

enum kind { DIR_TARGET, FILE_TARGET };

/*
 * Opens PATH (absolute, in the step's root) as an O_PATH fd, creating missing
 * components (directories, and the last one as KIND) one at a time relative to the
 * directory already open. No component may be a symlink or "..": the walk never
 * leaves the root, whatever else changes the tree at the same time.
 */
static int open_target(int rootfd, const char *path, enum kind kind) {
  char *copy = strdup(path), *save = NULL;
  if (copy == NULL) die("out of memory");
  int cur = dup(rootfd);
  char *comp = strtok_r(copy, "/", &save);
  while (comp != NULL) {
    char *next = strtok_r(NULL, "/", &save);
    int last = next == NULL;
    if (strcmp(comp, "..") == 0 || strcmp(comp, ".") == 0) {
      errno = 0;
      die("refusing to mount on %s: it has a '%s' component", path, comp);
    }
    const unsigned long long how = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
    int fd = resolve_at(cur, comp, O_PATH | O_NOFOLLOW, how);
    if (fd < 0 && errno == ENOENT) {
      if (last && kind == FILE_TARGET) {
        int made = openat(cur, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (made < 0 && errno != EEXIST) die("cannot create the mount point %s", path);
        if (made >= 0) close(made);
      } else if (mkdirat(cur, comp, 0755) != 0 && errno != EEXIST) die("cannot create the mount point %s", path);
      fd = resolve_at(cur, comp, O_PATH | O_NOFOLLOW, how);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == EXDEV) {
        errno = 0;
        die("refusing to mount on %s: /%.*s is a symlink", path, (int)(comp - copy + strlen(comp)), copy);
      }
      die("cannot open the mount point %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) die("cannot inspect %s", path);
    if (!last && !S_ISDIR(st.st_mode)) {
      errno = 0;
      die("refusing to mount on %s: /%s is not a directory", path, copy);
    }
    close(cur);
    cur = fd;
    comp = next;
    if (comp != NULL) comp[-1] = '/';
  }
  free(copy);
  return cur;
}

/* Attaches a copy of the mount tree at SRC (a path or fd) onto the target fd, with ATTRS set first. */
static void bind_fd(int srcdir, const char *src, int target, unsigned long long attrs, int recursive, const char *what) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0) | (*src == '\0' ? AT_EMPTY_PATH : 0);
  int tree = open_tree(srcdir, src, flags);
  if (tree < 0) die("cannot bind %s", what);
  if (attrs != 0) {
    struct mount_attr attr = {.attr_set = attrs};
    if (mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) != 0) die("cannot set the flags of %s", what);
  }
  if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) die("cannot mount %s", what);
  close(tree);
}

static void mount_fs(const char *type, int target, unsigned long flags, const char *data, const char *what) {
  if (mount(type, fdpath(target), type, flags, data) != 0) die("cannot mount %s", what);
}

/*
 * Mounts an overlay with its layer directories given relative to their common parent
 * (entered first): /proc/self/mountinfo shows options as given, so the step does not
 * learn where tbuild's store is on the host.
 */
static void mount_overlay(const char *target, unsigned long flags, const char *options, const char *what) {
  char *opts = strdup(options), *paths[512];
  int n = 0;
  if (opts == NULL) die("out of memory");
  for (char *save = NULL, *o = strtok_r(opts, ",", &save); o != NULL; o = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(o, '=');
    if (eq == NULL || !(strncmp(o, "lowerdir=", 9) == 0 || strncmp(o, "upperdir=", 9) == 0 || strncmp(o, "workdir=", 8) == 0)) continue;
    for (char *save2 = NULL, *d = strtok_r(eq + 1, ":", &save2); d != NULL && n < 512; d = strtok_r(NULL, ":", &save2)) paths[n++] = d;
  }
  size_t common = 0;
  if (n > 0 && paths[0][0] == '/') {
    common = strlen(paths[0]);
    for (int i = 1; i < n; i++) {
      size_t j = 0;
      while (j < common && paths[i][j] == paths[0][j]) j++;
      common = j;
    }
    while (common > 0 && paths[0][common - 1] != '/') common--;
  }
  char parent[4096] = "/";
  if (common > 1) snprintf(parent, sizeof parent, "%.*s", (int)common, paths[0]);
  free(opts);
  /* Rewrite: every absolute path below the common parent loses that prefix. */
  char rewritten[16384] = "";
  size_t len = 0;
  for (const char *p = options; *p != '\0';) {
    int starts = (p == options || p[-1] == '=' || p[-1] == ':') && common > 1 && strncmp(p, parent, common) == 0;
    if (starts) p += common;
    if (len + 2 >= sizeof rewritten) die("overlay options too long for %s", what);
    rewritten[len++] = *p++;
  }
  rewritten[len] = '\0';
  int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cwd < 0 || chdir(parent) != 0) die("cannot enter %s", parent);
  if (mount("overlay", target, "overlay", flags, common > 1 ? rewritten : options) != 0) die("cannot mount %s (overlay)", what);
  if (fchdir(cwd) != 0) die("cannot return to the working directory");
  close(cwd);
}

/* ---- the root and its standard mounts ------------------------------------------------ */

static int mount_root(struct spec *sp) {
  if (strcmp(sp->root_kind, "overlay") == 0) {
    mount_overlay(sp->merged, MS_NODEV, sp->root_arg, "the step's root");
  } else {
    int target = open(sp->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (target < 0) die("cannot open %s", sp->merged);
    bind_fd(AT_FDCWD, sp->root_arg, target, MOUNT_ATTR_NODEV, 1, "the step's root");
    close(target);
  }
  int rootfd = open(sp->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("cannot open the step's root");
  return rootfd;
}

static void mount_dev(int rootfd) {
  int dev = open_target(rootfd, "/dev", DIR_TARGET);
  mount_fs("tmpfs", dev, MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k", "/dev");
  close(dev);
  /* The tmpfs is brand new and ours alone: plain *at calls inside it are safe. */
  dev = resolve_at(rootfd, "dev", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
  int devdir = openat(dev, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dev < 0 || devdir < 0) die("cannot open /dev");
  static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    int f = openat(devdir, nodes[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (f < 0) die("cannot create /dev/%s", nodes[i]);
    close(f);
    int target = openat(devdir, nodes[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char host[32];
    snprintf(host, sizeof host, "/dev/%s", nodes[i]);
    bind_fd(AT_FDCWD, host, target, 0, 0, host);
    close(target);
  }
  static const char *const links[][2] = {{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
                                         {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}, {"core", "/proc/kcore"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat(links[i][1], devdir, links[i][0]) != 0) die("cannot create /dev/%s", links[i][0]);
  if (mkdirat(devdir, "pts", 0755) != 0 || mkdirat(devdir, "shm", 01777) != 0 || mkdirat(devdir, "mqueue", 01777) != 0) die("cannot create /dev directories");

  int pts = openat(devdir, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  /* gid 5 (tty) as docker; a user namespace that does not map it gets the default. */
  if (mount("devpts", fdpath(pts), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") != 0 &&
      mount("devpts", fdpath(pts), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") != 0)
    die("cannot mount /dev/pts");
  int shm = openat(devdir, "shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  mount_fs("tmpfs", shm, MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k", "/dev/shm");
  int mq = openat(devdir, "mqueue", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  mount_fs("mqueue", mq, MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/dev/mqueue");
  close(pts);
  close(shm);
  close(mq);
  close(devdir);
  close(dev);
}

static void mount_proc_sys(int rootfd) {
  int proc = open_target(rootfd, "/proc", DIR_TARGET);
  mount_fs("proc", proc, MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/proc");
  close(proc);
  int sys = open_target(rootfd, "/sys", DIR_TARGET);
  /* sysfs needs a network namespace of our own user namespace's; rootless on the host's network it is the host's /sys, read-only. */
  if (mount("sysfs", fdpath(sys), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
    bind_fd(AT_FDCWD, "/sys", sys, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 1, "/sys");
  close(sys);
}

/* docker's masked and read-only paths (moby daemon/pkg/oci/defaults.go). */
static const char *const masked[] = {"proc/acpi",        "proc/asound",       "proc/interrupts", "proc/kcore",      "proc/keys",
                                     "proc/latency_stats", "proc/sched_debug", "proc/scsi",       "proc/timer_list", "proc/timer_stats",
                                     "sys/devices/virtual/powercap", "sys/firmware"};
static const char *const readonly[] = {"proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger"};

static void restrict_proc_sys(int rootfd) {
  for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++) {
    int t = resolve_at(rootfd, masked[i], O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
    if (t < 0) continue; /* not on this kernel */
    struct stat st;
    if (fstat(t, &st) != 0) die("cannot inspect /%s", masked[i]);
    if (S_ISDIR(st.st_mode)) {
      if (mount("tmpfs", fdpath(t), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") != 0) die("cannot mask /%s", masked[i]);
    } else bind_fd(AT_FDCWD, "/dev/null", t, 0, 0, "/dev/null");
    close(t);
  }
  for (size_t i = 0; i < sizeof readonly / sizeof readonly[0]; i++) {
    int t = resolve_at(rootfd, readonly[i], O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
    if (t < 0) continue;
    bind_fd(t, "", t, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 1, readonly[i]);
    close(t);
  }
}

/* The step's files live on a tmpfs of this mount namespace: gone when the step is. */
static void mount_files(struct spec *sp, int rootfd) {
  if (sp->nfiles == 0) return;
  if (mount("tmpfs", sp->staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") != 0) die("cannot mount a tmpfs for the step's files");
  int stage = open(sp->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (stage < 0) die("cannot open the step's files");
  for (int i = 0; i < sp->nfiles; i++) {
    struct file_item *it = &sp->files[i];
    char name[16];
    snprintf(name, sizeof name, "f%d", i);
    int f = openat(stage, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (f < 0) die("cannot write %s", it->target);
    for (size_t off = 0; off < it->len;) {
      ssize_t w = write(f, it->data + off, it->len - off);
      if (w < 0) die("cannot write %s", it->target);
      off += (size_t)w;
    }
    if (fchown(f, it->uid, it->gid) != 0 || fchmod(f, it->mode) != 0) die("cannot set the owner of %s", it->target);
    close(f);
    /* The content is on the tmpfs now; tbuild's copy in memory is all that is left. */
    memset(it->data, 0, it->len);
    int target = open_target(rootfd, it->target, FILE_TARGET);
    bind_fd(stage, name, target, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, it->target);
    close(target);
  }
  close(stage);
}

/*
 * A RUN --mount line: kind, target, host source, options (ro|rw, chown=U:G, size=N),
 * subpath. Kinds: dir/file bind SOURCE; tmpfs; overlay mounts an overlay with options
 * lowerdir=... at SOURCE (a host scratch directory) and binds its SUBPATH.
 */
static void mount_extra(char *line, int rootfd) {
  char *f[5];
  if (fields(line, f, 5) != 5) die("step description: bad mount");
  const char *kind = f[0], *target = f[1], *source = f[2], *subpath = f[4];
  char *opts = f[3];
  int ro = 0;
  char data[256] = "";
  char overlay_opts[8192] = "";
  for (char *save = NULL, *o = strtok_r(opts, ",", &save); o != NULL; o = strtok_r(NULL, ",", &save)) {
    if (strcmp(o, "ro") == 0) ro = 1;
    else if (strncmp(o, "chown=", 6) == 0) {
      unsigned u, g;
      if (sscanf(o + 6, "%u:%u", &u, &g) != 2 || chown(source, u, g) != 0) die("cannot chown the source of %s", target);
    } else if (strncmp(o, "size=", 5) == 0) snprintf(data, sizeof data, "mode=1777,%s", o);
    else if (strcmp(o, "rw") != 0) {
      if (strlen(overlay_opts) + strlen(o) + 2 >= sizeof overlay_opts) die("mount options too long for %s", target);
      if (overlay_opts[0] != '\0') strcat(overlay_opts, ",");
      strcat(overlay_opts, o);
    }
  }
  unsigned long long attrs = MOUNT_ATTR_NODEV | (ro ? MOUNT_ATTR_RDONLY : 0);
  if (strcmp(kind, "tmpfs") == 0) {
    int t = open_target(rootfd, target, DIR_TARGET);
    mount_fs("tmpfs", t, MS_NOSUID | MS_NODEV | (ro ? MS_RDONLY : 0), data[0] ? data : "mode=1777", target);
    close(t);
  } else if (strcmp(kind, "dir") == 0 || strcmp(kind, "file") == 0) {
    int t = open_target(rootfd, target, strcmp(kind, "dir") == 0 ? DIR_TARGET : FILE_TARGET);
    bind_fd(AT_FDCWD, source, t, attrs, 0, target);
    close(t);
  } else if (strcmp(kind, "overlay") == 0) {
    mount_overlay(source, MS_NODEV, overlay_opts, target);
    int top = open(source, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int src = *subpath == '\0' || strcmp(subpath, "/") == 0 ? dup(top) : resolve_at(top, subpath + (*subpath == '/'), O_PATH, RESOLVE_IN_ROOT);
    if (top < 0 || src < 0) die("cannot open the source of %s", target);
    int t = open_target(rootfd, target, DIR_TARGET);
    bind_fd(src, "", t, attrs, 1, target);
    close(t);
    close(src);
    close(top);
  } else {
    errno = 0;
    die("step description: unknown mount kind %s", kind);
  }
}

/* ---- the command ---------------------------------------------------------------------- */

static void bring_up_loopback(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {0};
  strcpy(ifr.ifr_name, "lo");
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) die("cannot find the loopback interface");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) die("cannot bring up the loopback interface");
  close(s);
}

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "tbuild-run-init: no seccomp architecture for this CPU"
#endif

#define ERRNO_RET(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define ARG0_LOW offsetof(struct seccomp_data, args[0])

static struct sock_filter filter[4096];
static unsigned short nfilter;

static void emit(struct sock_filter f) {
  if (nfilter == sizeof filter / sizeof filter[0]) {
    errno = 0;
    die("seccomp filter too long");
  }
  filter[nfilter++] = f;
}

/* "if the syscall is NR, then the next `body` instructions; else skip them". */
static void if_syscall(int nr, unsigned char body) {
  emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
  emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, body));
}

/*
 * docker's default profile as a classic BPF filter (seccomp-allow.h plus its argument
 * rules), EPERM for everything else, as docker's defaultAction. Another ABI than this
 * CPU's native one (x86's i386 and x32) gets EPERM for every call: the syscall numbers
 * below are the native ones.
 */
static void load_seccomp(void) {
  emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
  emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0));
  emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO_RET(EPERM)));
#if defined(__x86_64__)
  /* x32 calls are native-arch calls with bit 30 set. */
  emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
  emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1));
  emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO_RET(EPERM)));
#endif
  for (size_t i = 0; i < sizeof docker_allowed / sizeof docker_allowed[0]; i++) {
    if_syscall(docker_allowed[i], 1);
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  static const int plain[] = {__NR_chroot, /* CAP_SYS_CHROOT is kept */
#if defined(__x86_64__)
                              __NR_arch_prctl, __NR_modify_ldt
#endif
  };
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
    if_syscall(plain[i], 1);
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  /* Sockets of every family but AF_VSOCK (40). */
  if_syscall(__NR_socket, 4);
  emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW));
  emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 40, 1, 0));
  emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO_RET(EPERM)));
  /* personality only with the values docker allows. */
  static const unsigned personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
  if_syscall(__NR_personality, 12);
  emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW));
  for (size_t i = 0; i < 5; i++) {
    emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, personas[i], 0, 1));
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO_RET(EPERM)));
  /* clone without namespace flags (CLONE_NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWCGROUP). */
  if_syscall(__NR_clone, 4);
  emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW));
  emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x7E020000, 1, 0));
  emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO_RET(EPERM)));
  /* clone3 says ENOSYS, so libcs fall back to clone, whose flags the filter can see. */
  if_syscall(__NR_clone3, 1);
  emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO_RET(ENOSYS)));
  emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ERRNO_RET(EPERM)));

  struct sock_fprog prog = {.len = nfilter, .filter = filter};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) die("cannot load the seccomp filter");
}

/* docker build's RUN capabilities: docker's defaults without CAP_MKNOD. */
static unsigned long long kept_caps(int host_network) {
  static const int keep[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID, CAP_SETUID,
                             CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_SETFCAP};
  unsigned long long set = 0;
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) set |= 1ULL << keep[i];
  /* A raw socket on the host's network would see other processes' traffic. */
  if (host_network) set &= ~(1ULL << CAP_NET_RAW);
  return set;
}

static void set_caps(unsigned long long set) {
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
    if (!(set & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) die("cannot drop a capability");
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2] = {{.effective = (unsigned)set, .permitted = (unsigned)set, .inheritable = 0},
                                           {.effective = (unsigned)(set >> 32), .permitted = (unsigned)(set >> 32), .inheritable = 0}};
  if (syscall(SYS_capset, &hdr, data) != 0) die("cannot set the capabilities");
}

static void exec_command(struct spec *sp) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0 || dup2(null, 0) < 0) die("cannot open /dev/null");
  load_seccomp();
  set_caps(kept_caps(strcmp(sp->net, "none") != 0));
  /* In a user namespace setgroups may be refused; the groups are then already empty. */
  if (setgroups((size_t)sp->ngroups, sp->groups) != 0 && errno != EPERM) die("setgroups");
  if (setresgid(sp->gid, sp->gid, sp->gid) != 0) die("cannot take the group id %u", sp->gid);
  if (setresuid(sp->uid, sp->uid, sp->uid) != 0) die("cannot take the user id %u", sp->uid);
  if (chdir(sp->workdir) != 0) die("cannot enter the working directory %s", sp->workdir);
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) die("cannot close inherited files");
  extern char **environ;
  sp->env[sp->nenv] = NULL;
  sp->argv[sp->nargv] = NULL;
  environ = sp->env;
  execvp(sp->argv[0], sp->argv);
  fprintf(stderr, "tbuild: RUN: cannot execute %s: %s\n", sp->argv[0], strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

/* pid 1: reap everything, end with the command, end everything when tbuild is gone. */
static int supervise(pid_t child) {
  prctl(PR_SET_DUMPABLE, 0);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");
  for (;;) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0 && errno != EINTR) die("poll");
    if (p[0].revents != 0) {
      char c;
      if (read(0, &c, 1) <= 0) {
        kill(-1, SIGKILL);
        return 128 + SIGKILL;
      }
    }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) < 0 && errno != EAGAIN) die("signalfd");
    }
  }
}

int main(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  static struct spec sp;
  read_spec(3, &sp);
  if (sp.merged == NULL || sp.staging == NULL || sp.root_kind == NULL || sp.workdir == NULL || sp.net == NULL || sp.nargv == 0) {
    errno = 0;
    die("step description: incomplete");
  }
  if (sp.started != NULL) {
    int f = open(sp.started, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (f >= 0) close(f);
  }
  int own_net = strcmp(sp.net, "none") == 0;
  if (unshare(CLONE_NEWUTS | CLONE_NEWIPC | (own_net ? CLONE_NEWNET : 0)) != 0) die("cannot make the step's namespaces");
  if (own_net) bring_up_loopback();
  const char *hostname = sp.hostname != NULL ? sp.hostname : "buildkitsandbox";
  if (sethostname(hostname, strlen(hostname)) != 0) die("cannot set the hostname");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("cannot make the mounts private");

  int rootfd = mount_root(&sp);
  mount_proc_sys(rootfd);
  mount_dev(rootfd);
  mount_files(&sp, rootfd);
  for (int i = 0; i < sp.nmounts; i++) mount_extra(sp.mounts[i], rootfd);
  restrict_proc_sys(rootfd);

  /* pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it. */
  if (fchdir(rootfd) != 0) die("cannot enter the step's root");
  if (syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root");
  if (umount2(".", MNT_DETACH) != 0) die("cannot detach the old root");
  if (chdir("/") != 0) die("chdir /");
  close(rootfd);

  /* docker build's open-files limit on a systemd host: soft 1024, hard 524288 (or what we have). */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    struct rlimit want = {.rlim_cur = 1024, .rlim_max = 524288};
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
      want.rlim_max = nofile.rlim_max;
      if (want.rlim_cur > want.rlim_max) want.rlim_cur = want.rlim_max;
      setrlimit(RLIMIT_NOFILE, &want);
    }
  }

  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  fflush(NULL);
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    exec_command(&sp);
  }
  syscall(SYS_close_range, 3U, ~0U, 0U);
  return supervise(child);
}
