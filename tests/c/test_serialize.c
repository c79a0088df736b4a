/* test_serialize.c: safetensors, .npy and IDX through the C API: round
 * trips, corrupted files, the temporaries a killed save leaves, and an
 * allocation failure injected at every allocation of each load and save
 * (no leaks, no crash, a memory status). */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "core.h" /* lg_ctx_set_cache_limit */
#include "serialize.h"
#include "test_alloc.h"
#include "test_util.h"

static char dir[64];

static const char *tmp_path(const char *name) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  CHECK(fwrite(data, 1, n, f) == n);
  fclose(f);
}

/* A safetensors file of header text and n data bytes (zeros). */
static const char *write_safetensors(const char *name, const char *header,
                                     size_t data_bytes) {
  size_t hlen = strlen(header);
  unsigned char buf[1024] = {0};
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  memcpy(buf + 8, header, hlen);
  const char *path = tmp_path(name);
  write_bytes(path, buf, 8 + hlen + data_bytes);
  return path;
}


static bool same_tensor(const lg_tensor *a, const lg_tensor *b) {
  if (lg_tensor_dtype(a) != lg_tensor_dtype(b) ||
      lg_tensor_ndim(a) != lg_tensor_ndim(b))
    return false;
  for (int d = 0; d < lg_tensor_ndim(a); d++)
    if (lg_tensor_sizes(a)[d] != lg_tensor_sizes(b)[d]) return false;
  for (int64_t i = 0; i < lg_tensor_numel(a); i++)
    if (lg_tensor_get(a, i) != lg_tensor_get(b, i)) return false;
  return true;
}

static void test_safetensors_round_trip(lg_ctx *ctx) {
  int64_t s23[2] = {2, 3}, s0[1] = {0};
  double v[6] = {1.5, -2, 0.25, 1e30, -0.0, 7};
  lg_tensor *f32 = make_tensor(ctx, LG_FLOAT32, 2, s23, v);
  lg_tensor *i64 = make_tensor(ctx, LG_INT64, 2, s23, v);
  lg_tensor *b = make_tensor(ctx, LG_BOOL, 2, s23, v);
  lg_tensor *u8 = make_tensor(ctx, LG_UINT8, 1, s23 + 1, v + 3);
  lg_tensor *scalar = make_tensor(ctx, LG_FLOAT64, 0, NULL, v + 4);
  lg_tensor *empty = make_tensor(ctx, LG_INT32, 1, s0, v);
  lg_params p = {0};
  p.ints[0] = 1, p.ints[1] = 0, p.n_ints = 2;
  lg_tensor *transposed = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_PERMUTE, 1, &f32, &p, &transposed));
  lg_tensor *tensors[7] = {f32, i64, b, u8, scalar, empty, transposed};
  const char *names[7] = {"f32", "i64", "b", "u8", "scalar", "empty", "t"};
  const char *metadata[4] = {"format", "pt", "k\"\n", "v\\"};
  const char *path = tmp_path("round.safetensors");
  CHECK_OK(ctx, lg_safetensors_save(ctx, path, 7, names, tensors, 2, metadata));
  lg_safetensors *file = NULL;
  CHECK_OK(ctx, lg_safetensors_load(ctx, path, &file));
  if (file) {
    CHECK(file->n_tensors == 7 && file->n_metadata == 2);
    for (int64_t i = 0; i < file->n_tensors; i++) {
      int k = -1;
      for (int j = 0; j < 7; j++)
        if (strcmp(names[j], file->names[i]) == 0) k = j;
      CHECK(k >= 0 && same_tensor(file->tensors[i], tensors[k]));
    }
    /* data in name order: b empty f32 i64 scalar t u8 */
    CHECK(strcmp(file->names[0], "b") == 0 && strcmp(file->names[6], "u8") == 0);
    bool found = false;
    for (int64_t i = 0; i < file->n_metadata; i++)
      if (strcmp(file->metadata[2 * i], "k\"\n") == 0)
        found = strcmp(file->metadata[2 * i + 1], "v\\") == 0;
    CHECK(found);
  }
  lg_safetensors_free(ctx, file);
  /* duplicates and reserved names are refused before anything is written */
  const char *dup[2] = {"a", "a"};
  CHECK_FAILS(ctx, lg_safetensors_save(ctx, tmp_path("dup"), 2, dup, tensors,
                                       0, NULL), "duplicate tensor name 'a'");
  CHECK(access(tmp_path("dup"), F_OK) != 0);
  const char *reserved[1] = {"__metadata__"};
  CHECK_FAILS(ctx, lg_safetensors_save(ctx, tmp_path("r"), 1, reserved,
                                       tensors, 0, NULL), "reserved");
  const char *meta_dup[4] = {"a", "1", "a", "2"};
  CHECK_FAILS(ctx, lg_safetensors_save(ctx, tmp_path("r"), 1, names, tensors,
                                       2, meta_dup), "duplicate metadata key");
  for (int i = 0; i < 7; i++) lg_tensor_release(tensors[i]);
}

static void test_safetensors_corrupt(lg_ctx *ctx) {
  static const struct {
    const char *header;
    size_t data;
    const char *fragment;
  } cases[] = {
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 9, "1 trailing bytes"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7, "past the end"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes"},
      {"{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "unsupported dtype F16"},
      {"{\"a\":{\"dtype\":\"Q\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'Q'"},
      {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
       "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, "overlap"},
      {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, "gap"},
      {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
       "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, "duplicate tensor name"},
      {"{\"a\":1}", 0, "expected '{' to open a tensor entry"},
      {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} x", 1, "invalid JSON"},
      {"{\"\\ud83d\\ude00\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1, NULL},
      {"{\"__metadata__\":null}", 0, NULL},
      {"{}", 0, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *path = write_safetensors("c.safetensors", cases[i].header,
                                         cases[i].data);
    lg_safetensors *file = NULL;
    if (cases[i].fragment) {
      CHECK_FAILS(ctx, lg_safetensors_load(ctx, path, &file), cases[i].fragment);
      CHECK(file == NULL);
      CHECK(strstr(lg_ctx_error(ctx), "c.safetensors") != NULL);
    } else {
      CHECK_OK(ctx, lg_safetensors_load(ctx, path, &file));
    }
    lg_safetensors_free(ctx, file);
  }
  /* the decoded surrogate pair is U+1F600 in UTF-8 */
  lg_safetensors *file = NULL;
  const char *path = write_safetensors(
      "e.safetensors",
      "{\"\\ud83d\\ude00\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1);
  CHECK_OK(ctx, lg_safetensors_load(ctx, path, &file));
  CHECK(file && file->n_tensors == 1 &&
        strcmp(file->names[0], "\xF0\x9F\x98\x80") == 0);
  lg_safetensors_free(ctx, file);
  unsigned char huge[16] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, '{', '}'};
  write_bytes(tmp_path("h"), huge, 10);
  CHECK_FAILS(ctx, lg_safetensors_load(ctx, tmp_path("h"), &file),
              "exceeds the limit");
}

static void test_npy(lg_ctx *ctx) {
  int64_t s[3] = {2, 1, 3};
  double v[6] = {1, -2, 3, 4.5, 0, 255};
  for (int d = 0; d < LG_NUM_DTYPES; d++) {
    lg_tensor *t = make_tensor(ctx, (lg_dtype)d, 3, s, v), *back = NULL;
    CHECK_OK(ctx, lg_npy_save(ctx, tmp_path("a.npy"), t));
    CHECK_OK(ctx, lg_npy_load(ctx, tmp_path("a.npy"), &back));
    CHECK(back && same_tensor(t, back));
    lg_tensor_release(t);
    lg_tensor_release(back);
  }
  lg_tensor *t = NULL;
  const char bad[] = "\x93NUMPY\x01\x00\x10\x00{'descr': '>f4'}";
  write_bytes(tmp_path("b.npy"), bad, sizeof bad - 1);
  CHECK_FAILS(ctx, lg_npy_load(ctx, tmp_path("b.npy"), &t), "no 'fortran_order' key");
  const char be[] = "\x93NUMPY\x01\x00\x3a\x00{'descr': '>f4', "
                    "'fortran_order': False, 'shape': (1,), }\n\1\2\3\4";
  write_bytes(tmp_path("c.npy"), be, sizeof be - 1);
  CHECK_FAILS(ctx, lg_npy_load(ctx, tmp_path("c.npy"), &t), "big-endian");
  CHECK(t == NULL);
}

/* gzip-compresses src into dst (gzip framing through deflateInit2). */
static size_t gzip_bytes(const unsigned char *src, size_t n,
                         unsigned char *dst, size_t cap) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return 0;
  z.next_in = (unsigned char *)src;
  z.avail_in = (uInt)n;
  z.next_out = dst;
  z.avail_out = (uInt)cap;
  int r = deflate(&z, Z_FINISH);
  size_t out = cap - z.avail_out;
  deflateEnd(&z);
  return r == Z_STREAM_END ? out : 0;
}

static void test_idx(lg_ctx *ctx) {
  /* i16, 2 x 2, big-endian */
  unsigned char raw[] = {0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 2,
                         0xFF, 0xFE, 0, 1, 0x7F, 0xFF, 0x80, 0};
  unsigned char gz[256];
  size_t gz_n = gzip_bytes(raw, sizeof raw, gz, sizeof gz);
  CHECK(gz_n > 0);
  write_bytes(tmp_path("a.idx"), raw, sizeof raw);
  write_bytes(tmp_path("a.idx.gz"), gz, gz_n);
  double want[4] = {-2, 1, 32767, -32768};
  const char *files[2] = {"a.idx", "a.idx.gz"};
  for (int i = 0; i < 2; i++) {
    lg_tensor *t = NULL;
    CHECK_OK(ctx, lg_idx_load(ctx, tmp_path(files[i]), &t));
    CHECK(t && lg_tensor_dtype(t) == LG_INT32 && lg_tensor_ndim(t) == 2);
    if (t) check_values(files[i], t, want, 4, 0);
    lg_tensor_release(t);
  }
  lg_tensor *t = NULL;
  write_bytes(tmp_path("b.idx.gz"), gz, gz_n - 3);
  CHECK_FAILS(ctx, lg_idx_load(ctx, tmp_path("b.idx.gz"), &t), "truncated");
  gz[gz_n - 6] ^= 0x55; /* the CRC */
  write_bytes(tmp_path("c.idx.gz"), gz, gz_n);
  CHECK_FAILS(ctx, lg_idx_load(ctx, tmp_path("c.idx.gz"), &t),
              "corrupt gzip data");
  raw[2] = 0x0A;
  write_bytes(tmp_path("d.idx"), raw, sizeof raw);
  CHECK_FAILS(ctx, lg_idx_load(ctx, tmp_path("d.idx"), &t), "bad magic");
  CHECK(t == NULL);
}

/* Fails the k-th allocation of each operation for every k until it
 * succeeds; each failure must be a memory status that leaks nothing. */
/* A save killed mid-write leaves <target>.tmp-<pid>-<n> beside the target:
 * the next save to that target removes those of dead processes, and never
 * one of a live process (the parent, this one), another target's, or a
 * name that only looks alike. */
static void test_stale_temporaries(lg_ctx *ctx) {
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  CHECK(dead > 0);
  if (dead <= 0) return;
  CHECK(waitpid(dead, NULL, 0) == dead); /* reaped: the pid is gone */
  char target[256], names[5][300];
  snprintf(target, sizeof target, "%s", tmp_path("t.npy"));
  snprintf(names[0], sizeof names[0], "%s.tmp-%ld-0", target, (long)dead);
  snprintf(names[1], sizeof names[1], "%s.tmp-%ld-3", target,
           (long)getppid());
  snprintf(names[2], sizeof names[2], "%s.tmp-%ld-5", target,
           (long)getpid());
  snprintf(names[3], sizeof names[3], "%s.tmp-%ld-0", tmp_path("u.npy"),
           (long)dead);
  snprintf(names[4], sizeof names[4], "%s.tmp-%ld-x", target, (long)dead);
  for (int i = 0; i < 5; i++) write_bytes(names[i], "partial", 7);
  int64_t s[1] = {2};
  double v[2] = {1, 2};
  lg_tensor *t = make_tensor(ctx, LG_FLOAT32, 1, s, v), *back = NULL;
  CHECK_OK(ctx, lg_npy_save(ctx, target, t));
  CHECKF(access(names[0], F_OK) != 0, "%s was not removed", names[0]);
  for (int i = 1; i < 5; i++) {
    CHECKF(access(names[i], F_OK) == 0, "%s was removed", names[i]);
    unlink(names[i]);
  }
  CHECK_OK(ctx, lg_npy_load(ctx, target, &back));
  CHECK(back && same_tensor(t, back));
  lg_tensor_release(t);
  lg_tensor_release(back);
}

static void test_allocation_failures(void) {
  test_alloc f = TEST_ALLOC_UNLIMITED;
  lg_ctx *ctx = lg_ctx_new(test_alloc_fn, &f);
  CHECK(ctx != NULL);
  if (!ctx) return;
  lg_ctx_set_cache_limit(ctx, 0); /* live blocks below count leaks only */
  int64_t s[2] = {3, 4};
  double v[12] = {0};
  lg_tensor *t = make_tensor(ctx, LG_FLOAT32, 2, s, v);
  lg_params p = {0};
  p.ints[0] = 1, p.ints[1] = 0, p.n_ints = 2;
  lg_tensor *tt = NULL;
  CHECK_OK(ctx, lg_op_run(ctx, LG_OP_PERMUTE, 1, &t, &p, &tt));
  lg_tensor *tensors[2] = {t, tt};
  const char *names[2] = {"x", "xt"}, *meta[2] = {"format", "pt"};
  unsigned char gz[512];
  unsigned char raw[4 + 4 + 300];
  memset(raw, 7, sizeof raw);
  raw[0] = raw[1] = 0, raw[2] = 0x08, raw[3] = 1;
  raw[4] = raw[5] = raw[6] = 0, raw[7] = 44; /* 300 bytes: 0x12C */
  raw[6] = 1;
  size_t gz_n = gzip_bytes(raw, sizeof raw, gz, sizeof gz);
  write_bytes(tmp_path("m.idx.gz"), gz, gz_n);
  for (int op = 0; op < 5; op++) {
    bool done = false;
    for (long k = 0; k < 200 && !done; k++) {
      long live_before = f.live;
      f.budget = k;
      lg_status st;
      lg_safetensors *file = NULL;
      lg_tensor *out = NULL;
      switch (op) {
        case 0:
          st = lg_safetensors_save(ctx, tmp_path("m.safetensors"), 2, names,
                                   tensors, 1, meta);
          break;
        case 1: st = lg_safetensors_load(ctx, tmp_path("m.safetensors"), &file); break;
        case 2: st = lg_npy_save(ctx, tmp_path("m.npy"), tt); break;
        case 3: st = lg_npy_load(ctx, tmp_path("m.npy"), &out); break;
        default: st = lg_idx_load(ctx, tmp_path("m.idx.gz"), &out); break;
      }
      f.budget = LONG_MAX;
      if (st == LG_OK) {
        done = true;
        CHECK(op != 4 || (out && lg_tensor_numel(out) == 300));
      } else {
        CHECK(st == LG_ERR_MEMORY);
        CHECK(strstr(lg_ctx_error(ctx), "m.") != NULL);
        CHECK(f.live == live_before);
      }
      lg_safetensors_free(ctx, file);
      lg_tensor_release(out);
    }
    CHECK(done);
  }
  lg_tensor_release(t);
  lg_tensor_release(tt);
  CHECK(lg_ctx_bytes_in_use(ctx) == 0);
  lg_ctx_free(ctx);
  CHECK(f.live == 0);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/luagrad-serialize-XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  lg_ctx *ctx = lg_ctx_new(NULL, NULL);
  test_safetensors_round_trip(ctx);
  test_safetensors_corrupt(ctx);
  test_npy(ctx);
  test_idx(ctx);
  test_stale_temporaries(ctx);
  CHECK(lg_ctx_bytes_in_use(ctx) == 0);
  lg_ctx_free(ctx);
  test_allocation_failures();
  char command[128];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return test_report("test_serialize");
}
