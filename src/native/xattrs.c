/*
 * tbuild-xattrs: reads and writes extended attributes of many files in one process.
 *
 * Node has no getxattr/setxattr, and one process per file would cost more than the
 * layer itself, so the snapshotter hands this program a whole tree or a whole list.
 * Symbolic links are never followed (the l* calls, nftw with FTW_PHYS): an image's
 * symlink must not make tbuild read or write a host file.
 *
 * usage: tbuild-xattrs tree ROOT   records for every file under ROOT that has attributes
 *        tbuild-xattrs get         NUL-terminated paths on stdin; records for those with
 *                                  attributes (missing paths are left out)
 *        tbuild-xattrs set         records on stdin; each attribute is set on its path
 *        tbuild-xattrs serve       any number of the above, one after another, in one
 *                                  process: a build asks a few times per step, and a
 *                                  process each time (as a normal user, three: unshare,
 *                                  newuidmap, newgidmap) cost more than the asking.
 *
 * A record, on stdout or stdin, is binary and needs no escaping:
 *   PATH \0  COUNT(u32 little-endian)  COUNT x ( NAME \0  LENGTH(u32 LE)  VALUE bytes )
 * Errors go to stderr as one line naming the path (and attribute); the exit code is 1.
 * A file system without attribute support reads as having none.
 *
 * serve: each request is OP(1 byte: 't', 'g' or 's')  LENGTH(u32 LE)  LENGTH bytes, which
 * are what stdin holds for that command (for 't', ROOT \0). Each answer is STATUS(1 byte:
 * 0 done, 1 failed)  LENGTH(u32 LE)  LENGTH bytes: the command's records, or its error
 * line. A failed request ends nothing; the end of stdin ends the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

/* Where commands read and write: stdin and stdout, or one request's bytes when serving. */
static FILE *in, *out;

/* Serving: die() ends the request, not the process (see serve()). */
static jmp_buf *failed_request;
static char failure[4096];

static void die(const char *path, const char *name, int err) {
  if (failed_request != NULL) {
    snprintf(failure, sizeof failure, "%s%s%s: %s", path, name ? ": " : "", name ? name : "", strerror(err));
    longjmp(*failed_request, 1);
  }
  fprintf(stderr, "tbuild-xattrs: %s%s%s: %s\n", path, name ? ": " : "", name ? name : "", strerror(err));
  exit(1);
}

static void *grow(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) die("(memory)", NULL, ENOMEM);
  return q;
}

/* One file's record, assembled here and written only if it has attributes. */
static unsigned char *rec;
static size_t rec_len, rec_cap;

static void rec_put(const void *p, size_t n) {
  if (rec_len + n > rec_cap) rec = grow(rec, rec_cap = (rec_len + n) * 2);
  memcpy(rec + rec_len, p, n);
  rec_len += n;
}

static void rec_u32(uint32_t v) {
  unsigned char b[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff};
  rec_put(b, 4);
}

/* Buffers reused across files, so a tree of many files allocates only a few times. */
static char *names;
static size_t names_cap;
static char *value;
static size_t value_cap;

/* The attribute names of `path`, NUL-separated; 0 when it has none. Sizes can change
 * between the two calls when another process sets an attribute, hence the loop. */
static ssize_t list_names(const char *path) {
  for (;;) {
    ssize_t n = llistxattr(path, NULL, 0);
    if (n <= 0) return n;
    if ((size_t)n > names_cap) names = grow(names, names_cap = (size_t)n);
    n = llistxattr(path, names, names_cap);
    if (n >= 0) return n;
    if (errno != ERANGE) return -1;
  }
}

static ssize_t get_value(const char *path, const char *name) {
  for (;;) {
    ssize_t n = lgetxattr(path, name, NULL, 0);
    if (n < 0) return -1;
    if ((size_t)n > value_cap) value = grow(value, value_cap = (size_t)n);
    n = lgetxattr(path, name, value, value_cap);
    if (n >= 0) return n;
    if (errno != ERANGE) return -1;
  }
}

/* No attribute support, or the file went away meanwhile: nothing to report. */
static int ignorable(int err) {
  return err == ENOTSUP || err == ENOENT || err == ENOTDIR;
}

/* Writes the record of `path`, if it has attributes. An attribute removed between
 * listing and reading it is simply not reported. */
static void emit(const char *path) {
  ssize_t len = list_names(path);
  if (len < 0) {
    if (ignorable(errno)) return;
    die(path, NULL, errno);
  }
  if (len == 0) return;
  rec_len = 0;
  rec_put(path, strlen(path) + 1);
  size_t count_at = rec_len;
  rec_u32(0);
  uint32_t count = 0;
  for (char *p = names; p < names + len; p += strlen(p) + 1) {
    ssize_t n = get_value(path, p);
    if (n < 0) {
      if (errno == ENODATA || ignorable(errno)) continue;
      die(path, p, errno);
    }
    rec_put(p, strlen(p) + 1);
    rec_u32((uint32_t)n);
    rec_put(value, (size_t)n);
    count++;
  }
  if (count == 0) return;
  for (int i = 0; i < 4; i++) rec[count_at + i] = (count >> (8 * i)) & 0xff;
  fwrite(rec, 1, rec_len, out);
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  /* Serving, a failure stops the walk through nftw's own return, which closes what it
   * opened (a jump out of nftw would leak its directory descriptors). */
  jmp_buf here, *outer = failed_request;
  if (outer != NULL && setjmp(here) != 0) {
    failed_request = outer;
    return 1;
  }
  if (outer != NULL) failed_request = &here;
  /* FTW_DNR: a directory we may not read. Its own attributes are still reported below;
   * what is inside it cannot be, and silently missing it would drop attributes from a
   * layer, so it is an error. A file that vanished during the walk (FTW_NS) is skipped. */
  if (type == FTW_DNR) die(path, NULL, EACCES);
  if (type != FTW_NS) emit(path);
  failed_request = outer;
  return 0;
}

static void tree(const char *root) {
  int r = nftw(root, visit, 64, FTW_PHYS);
  if (r == 1) longjmp(*failed_request, 1);
  if (r != 0 && errno != ENOENT) die(root, NULL, errno);
}

/* Reads a NUL-terminated string from stdin into *buf; 0 at a clean end of input. */
static int read_string(char **buf, size_t *cap) {
  size_t n = 0;
  int c;
  while ((c = getc(in)) != EOF) {
    if (n + 1 > *cap) *buf = grow(*buf, *cap = *cap ? *cap * 2 : 256);
    (*buf)[n++] = (char)c;
    if (c == 0) return 1;
  }
  if (n > 0) die("(stdin)", NULL, EPROTO);
  return 0;
}

static uint32_t read_u32(void) {
  unsigned char b[4];
  if (fread(b, 1, 4, in) != 4) die("(stdin)", NULL, EPROTO);
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void set_all(void) {
  char *path = NULL, *name = NULL;
  size_t path_cap = 0, name_cap = 0;
  while (read_string(&path, &path_cap)) {
    uint32_t count = read_u32();
    for (uint32_t i = 0; i < count; i++) {
      if (!read_string(&name, &name_cap)) die("(stdin)", NULL, EPROTO);
      uint32_t n = read_u32();
      if (n > value_cap) value = grow(value, value_cap = n);
      if (fread(value, 1, n, in) != n) die("(stdin)", NULL, EPROTO);
      if (lsetxattr(path, name, value, n, 0) != 0) die(path, name, errno);
    }
  }
  free(path);
  free(name);
}

static void get_all(void) {
  char *path = NULL;
  size_t cap = 0;
  while (read_string(&path, &cap)) emit(path);
  free(path);
}

static void put_answer(unsigned char status, const void *p, size_t n) {
  unsigned char head[5] = {status, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff};
  if (fwrite(head, 1, 5, stdout) != 5 || fwrite(p, 1, n, stdout) != n || fflush(stdout) != 0) exit(1);
}

/* One request and its answer, kept out of serve()'s frame: a failed request returns there by longjmp. */
static unsigned char *request;
static size_t request_cap;
static char *answer;
static size_t answer_len;

/* Requests from stdin until it ends; a broken request stream ends the process. */
static void serve(void) {
  request = grow(NULL, request_cap = 256);
  for (;;) {
    int op = getchar();
    if (op == EOF) return;
    in = stdin;
    uint32_t n = read_u32();
    if (n > request_cap) request = grow(request, request_cap = n);
    if (fread(request, 1, n, stdin) != n) exit(1);
    answer = NULL;
    answer_len = 0;
    in = fmemopen(request, n ? n : 1, "r");
    out = open_memstream(&answer, &answer_len);
    if (in == NULL || out == NULL) die("(memory)", NULL, ENOMEM);
    if (n == 0) getc(in); /* fmemopen needs a byte; an empty request reads as empty */
    jmp_buf here;
    failed_request = &here;
    int failed = setjmp(here);
    if (!failed) {
      if (op == 't') {
        char *root = NULL;
        size_t cap = 0;
        if (!read_string(&root, &cap)) die("(request)", NULL, EPROTO);
        tree(root);
        free(root);
      } else if (op == 'g') {
        get_all();
      } else if (op == 's') {
        set_all();
      } else {
        die("(request)", NULL, EPROTO);
      }
    }
    failed_request = NULL;
    fclose(in);
    fclose(out);
    if (failed) put_answer(1, failure, strlen(failure));
    else put_answer(0, answer, answer_len);
    free(answer);
  }
}

int main(int argc, char **argv) {
  in = stdin;
  out = stdout;
  if (argc == 3 && strcmp(argv[1], "tree") == 0) {
    tree(argv[2]);
  } else if (argc == 2 && strcmp(argv[1], "get") == 0) {
    get_all();
  } else if (argc == 2 && strcmp(argv[1], "set") == 0) {
    set_all();
  } else if (argc == 2 && strcmp(argv[1], "serve") == 0) {
    serve();
    return 0;
  } else {
    fprintf(stderr, "usage: tbuild-xattrs tree ROOT | get | set | serve\n");
    return 2;
  }
  if (fflush(stdout) != 0) die("(stdout)", NULL, errno);
  return 0;
}
