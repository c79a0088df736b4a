/* file_access.c: which files a context may open, as its host decided
 * (everywhere, beneath directories, or through the host's opener; see
 * luagrad.h), and the one place the serializers open files through.
 *
 * Invariant: under a directory grant a path is resolved with realpath
 * before it is checked, and the resolved path is what gets opened (with
 * O_NOFOLLOW), so neither `..` nor a symlink leaves the directory. A
 * refusal never tells whether the file exists: outside and missing read
 * alike. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_io.h"

typedef struct lg_file_dir {
  char *path; /* resolved, without a trailing '/' ("" for the root) */
  size_t size;
  unsigned access;
} lg_file_dir;

struct lg_file_access {
  unsigned everywhere;  /* LG_FILES_* granted for any path */
  lg_file_dir *dirs;
  size_t n_dirs, cap_dirs;
  lg_file_open_fn open; /* the host's opener, or NULL */
  void *open_ud;
};

#define DISABLED "file access is disabled by the host"
#define OUTSIDE "not found, or outside the directories the host allows"

/* The policy, made on first use (a new context allows everything). */
static struct lg_file_access *policy(lg_ctx *ctx) {
  if (ctx->files) return ctx->files;
  struct lg_file_access *f = lg_mem_alloc(ctx, sizeof *f);
  if (!f) return NULL;
  memset(f, 0, sizeof *f);
  f->everywhere = LG_FILES_ALL;
  ctx->files = f;
  return f;
}

void lg_file_access_free(lg_ctx *ctx) {
  struct lg_file_access *f = ctx->files;
  if (!f) return;
  for (size_t i = 0; i < f->n_dirs; i++)
    lg_mem_free(ctx, f->dirs[i].path, f->dirs[i].size);
  lg_mem_free(ctx, f->dirs, f->cap_dirs * sizeof *f->dirs);
  lg_mem_free(ctx, f, sizeof *f);
  ctx->files = NULL;
}

lg_status lg_ctx_allow_files(lg_ctx *ctx, unsigned access) {
  struct lg_file_access *f = policy(ctx);
  if (!f) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  f->everywhere = access & LG_FILES_ALL;
  return LG_OK;
}

lg_status lg_ctx_set_file_opener(lg_ctx *ctx, lg_file_open_fn open, void *ud) {
  struct lg_file_access *f = policy(ctx);
  if (!f) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  f->open = open;
  f->open_ud = ud;
  return LG_OK;
}

lg_status lg_ctx_allow_directory(lg_ctx *ctx, const char *dir,
                                 unsigned access) {
  char resolved[PATH_MAX];
  if (!dir || !realpath(dir, resolved))
    return lg_fail(ctx, LG_ERR_IO, "allow_directory: %s does not resolve to "
                   "a directory", dir ? dir : "NULL");
  struct stat st;
  if (stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode))
    return lg_fail(ctx, LG_ERR_IO, "allow_directory: %s is not a directory",
                   dir);
  struct lg_file_access *f = policy(ctx);
  size_t len = strlen(resolved);
  if (len == 1) len = 0; /* "/": every absolute path is beneath it */
  if (!f || !lg_io_grow(ctx, &f->dirs, &f->cap_dirs, sizeof *f->dirs,
                        f->n_dirs + 1))
    return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  char *copy = lg_mem_alloc(ctx, len + 1);
  if (!copy) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  memcpy(copy, resolved, len);
  copy[len] = '\0';
  f->dirs[f->n_dirs++] = (lg_file_dir){copy, len + 1, access & LG_FILES_ALL};
  return LG_OK;
}

/* Whether any grant allows want (LG_FILES_READ or LG_FILES_WRITE). */
static bool granted_anywhere(const struct lg_file_access *f, unsigned want) {
  if (!f || f->open || (f->everywhere & want)) return true;
  for (size_t i = 0; i < f->n_dirs; i++)
    if (f->dirs[i].access & want) return true;
  return false;
}

lg_status lg_file_permitted(lg_ctx *ctx, bool write) {
  const struct lg_file_access *f = ctx->files;
  if (granted_anywhere(f, write ? LG_FILES_WRITE : LG_FILES_READ))
    return LG_OK;
  if (write && granted_anywhere(f, LG_FILES_READ))
    return lg_fail(ctx, LG_ERR_IO, "writing files is disabled by the host");
  return lg_fail(ctx, LG_ERR_IO, DISABLED);
}

/* Whether the resolved path lies beneath a directory granting want. */
static bool beneath_grant(const struct lg_file_access *f, const char *path,
                          unsigned want) {
  for (size_t i = 0; i < f->n_dirs; i++) {
    const lg_file_dir *d = &f->dirs[i];
    size_t n = d->size - 1;
    if ((d->access & want) && strncmp(path, d->path, n) == 0 &&
        (path[n] == '/' || path[n] == '\0'))
      return true;
  }
  return false;
}

/* Opens a file for reading as the policy allows: *fd, or fails. */
static lg_status open_for_reading(const lg_io_job *job, int *fd) {
  char buf[128];
  const struct lg_file_access *f = job->ctx->files;
  *fd = -1;
  if (f && f->open) {
    *fd = f->open(f->open_ud, job->path, 0);
    if (*fd < 0) return lg_io_fail(job, LG_ERR_IO, "the host did not open it");
    return LG_OK;
  }
  const char *path = job->path;
  char resolved[PATH_MAX];
  int flags = O_RDONLY | O_CLOEXEC;
  if (f && !(f->everywhere & LG_FILES_READ)) {
    if (lg_file_permitted(job->ctx, false)) return LG_ERR_IO;
    if (!realpath(path, resolved) || !beneath_grant(f, resolved,
                                                    LG_FILES_READ))
      return lg_io_fail(job, LG_ERR_IO, OUTSIDE);
    path = resolved;
    flags |= O_NOFOLLOW;
  }
  *fd = open(path, flags);
  if (*fd < 0)
    return lg_io_fail(job, LG_ERR_IO, "cannot open: %s",
                      lg_io_errno_text(errno, buf, sizeof buf));
  return LG_OK;
}

/* Opens a regular file for reading; its size in *size. */
lg_status lg_io_open_input(const lg_io_job *job, int *fd, uint64_t *size) {
  lg_status st = open_for_reading(job, fd);
  if (st) return st;
  struct stat st_buf;
  if (fstat(*fd, &st_buf) != 0 || !S_ISREG(st_buf.st_mode)) {
    close(*fd);
    *fd = -1;
    return lg_io_fail(job, LG_ERR_IO, "not a regular file");
  }
  *size = (uint64_t)st_buf.st_size;
  return LG_OK;
}

lg_status lg_file_exists(lg_ctx *ctx, const char *path, bool *exists) {
  lg_io_job job = {ctx, "exists", path};
  *exists = false;
  if (lg_file_permitted(ctx, false)) return LG_ERR_IO;
  int fd;
  uint64_t size;
  if (lg_io_open_input(&job, &fd, &size) == LG_OK) {
    close(fd);
    *exists = true;
  }
  lg_ctx_clear_error(ctx);
  return LG_OK;
}

lg_status lg_file_write(lg_ctx *ctx, const char *what, const char *path,
                        const void *data, size_t n) {
  lg_io_job job = {ctx, what, path};
  lg_io_out o;
  lg_status st = lg_io_out_open(&job, &o);
  if (!st) st = lg_io_out_write(&job, &o, data, n);
  if (!st) return lg_io_out_commit(&job, &o);
  lg_io_out_abort(&job, &o);
  return st;
}

/* Where a write to job->path goes under the policy: *target is the path
 * to write (the given one, or its resolved form in buf); *direct is set
 * when the host's opener takes the write (no temporary file). */
lg_status lg_io_write_target(const lg_io_job *job, char *buf, size_t size,
                             const char **target, bool *direct) {
  const struct lg_file_access *f = job->ctx->files;
  *target = job->path;
  *direct = f && f->open;
  if (!f || f->open || (f->everywhere & LG_FILES_WRITE)) return LG_OK;
  if (lg_file_permitted(job->ctx, true)) return LG_ERR_IO;
  const char *slash = strrchr(job->path, '/');
  const char *base = slash ? slash + 1 : job->path;
  char dir[PATH_MAX];
  size_t dir_len = slash ? (size_t)(slash - job->path) : 0;
  if (dir_len >= sizeof dir || !*base || strcmp(base, ".") == 0 ||
      strcmp(base, "..") == 0)
    return lg_io_fail(job, LG_ERR_IO, OUTSIDE);
  if (!slash) strcpy(dir, ".");
  else if (dir_len == 0) strcpy(dir, "/");
  else {
    memcpy(dir, job->path, dir_len);
    dir[dir_len] = '\0';
  }
  char resolved[PATH_MAX];
  if (!realpath(dir, resolved) || !beneath_grant(f, resolved, LG_FILES_WRITE))
    return lg_io_fail(job, LG_ERR_IO, OUTSIDE);
  size_t rl = strlen(resolved);
  if (rl == 1) rl = 0; /* the root: "/name", not "//name" */
  if (rl + 1 + strlen(base) + 1 > size)
    return lg_io_fail(job, LG_ERR_IO, "path too long");
  memcpy(buf, resolved, rl);
  buf[rl] = '/';
  strcpy(buf + rl + 1, base);
  *target = buf;
  return LG_OK;
}

/* The host's opener for writing target; -1 when it refused. */
int lg_io_open_direct(const lg_io_job *job, const char *target) {
  const struct lg_file_access *f = job->ctx->files;
  return f->open(f->open_ud, target, 1);
}
