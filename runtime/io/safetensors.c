/* safetensors.c: safetensors files (tensors and state dicts) to and from
 * tensors: a strict parser for the JSON header, load, free and save. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dtype.h"
#include "file_io.h"
#include "serialize.h"

/* ---- safetensors: dtypes ------------------------------------------------- */

/* The dtype names read and written, and their dtypes. */
static const lg_io_dtype_name st_dtypes[] = {
    {"F32", LG_FLOAT32}, {"F64", LG_FLOAT64}, {"I32", LG_INT32},
    {"I64", LG_INT64},   {"U8", LG_UINT8},    {"BOOL", LG_BOOL}};

/* Dtypes of the format that luagrad has no tensor type for. */
static const char *const st_unsupported[] = {
    "F16", "BF16", "I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2",
    "F8_E8M0", "E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", "C128"};

static const char *st_dtype_name(lg_dtype dtype) {
  for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
    if (st_dtypes[i].dtype == dtype) return st_dtypes[i].name;
  return "?";
}

/* ---- safetensors: the JSON header -------------------------------------------
 * A small strict parser for the subset the format uses: one top-level
 * object whose members are tensors ({"dtype": string, "shape": [ints],
 * "data_offsets": [int, int]}) or "__metadata__" (an object of strings, or
 * null). Strings are decoded in place inside the header buffer (a decoded
 * string is never longer than its JSON text) and NUL-terminated there. */

typedef struct st_entry {
  const char *name;
  lg_dtype dtype;
  int ndim;
  int64_t shape[LG_MAX_DIMS];
  uint64_t begin, end;
} st_entry;

typedef struct st_parser {
  lg_io_cursor c;
  st_entry *entries;
  size_t n_entries, entries_cap;
  const char **metadata; /* key, value, ... */
  size_t n_metadata, metadata_cap;
  bool seen_metadata;
} st_parser;

static bool hex4(const char *p, const char *end, uint32_t *out) {
  if (end - p < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return false;
    v = v << 4 | (uint32_t)d;
  }
  *out = v;
  return true;
}

static size_t put_utf8(uint32_t cp, char *w) {
  if (cp < 0x80) {
    w[0] = (char)cp;
    return 1;
  }
  size_t n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  for (size_t i = n - 1; i > 0; i--, cp >>= 6)
    w[i] = (char)(0x80 | (cp & 0x3F));
  w[0] = (char)(((0xFF00u >> n) & 0xFF) | cp); /* C0, E0 or F0 */
  return n;
}

/* A JSON string, decoded in place; *out points at it (NUL-terminated). */
static lg_status json_string(lg_io_cursor *P, const char **out) {
  lg_io_skip_space(P);
  if (P->p >= P->end || *P->p != '"')
    return lg_io_parse_error(P, "expected a string");
  char *w = P->p, *r = P->p + 1;
  const char *start = w;
  for (;;) {
    if (r >= P->end) return lg_io_parse_error(P, "unterminated string");
    unsigned char c = (unsigned char)*r;
    if (c == '"') {
      r++;
      break;
    }
    if (c < 0x20) {
      P->p = r;
      return lg_io_parse_error(P, "control character inside a string");
    }
    if (c >= 0x80) {
      size_t n = lg_io_utf8_length((const unsigned char *)r,
                                   (const unsigned char *)P->end);
      if (!n) {
        P->p = r;
        return lg_io_parse_error(P, "invalid UTF-8 inside a string");
      }
      memmove(w, r, n);
      w += n;
      r += n;
      continue;
    }
    if (c != '\\') {
      *w++ = *r++;
      continue;
    }
    P->p = r;
    if (r + 1 >= P->end) return lg_io_parse_error(P, "unterminated string");
    char e = r[1];
    r += 2;
    switch (e) {
      case '"': *w++ = '"'; break;
      case '\\': *w++ = '\\'; break;
      case '/': *w++ = '/'; break;
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'u': {
        uint32_t cp, low;
        if (!hex4(r, P->end, &cp))
          return lg_io_parse_error(P, "bad \\u escape");
        r += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (P->end - r >= 6 && r[0] == '\\' && r[1] == 'u' &&
              hex4(r + 2, P->end, &low) && low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            r += 6;
          } else {
            return lg_io_parse_error(P,
                                     "unpaired UTF-16 surrogate in \\u escape");
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return lg_io_parse_error(P,
                                   "unpaired UTF-16 surrogate in \\u escape");
        }
        if (cp == 0)
          return lg_io_parse_error(P,
                                   "\\u0000 (NUL) is not supported in strings");
        w += put_utf8(cp, w);
        break;
      }
      default: return lg_io_parse_error(P, "invalid escape in a string");
    }
  }
  *w = '\0';
  P->p = r;
  *out = start;
  return LG_OK;
}

static lg_status json_literal(lg_io_cursor *P, const char *word) {
  size_t n = strlen(word);
  lg_io_skip_space(P);
  if ((size_t)(P->end - P->p) < n || memcmp(P->p, word, n) != 0)
    return lg_io_parse_error(P, "unexpected value");
  P->p += n;
  return LG_OK;
}

/* "dtype" of a tensor entry: a name from st_dtypes. */
static lg_status st_parse_dtype(st_parser *P, st_entry *e) {
  const char *name;
  lg_status st = json_string(&P->c, &name);
  if (st) return st;
  for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
    if (strcmp(name, st_dtypes[i].name) == 0) {
      e->dtype = st_dtypes[i].dtype;
      return LG_OK;
    }
  for (size_t i = 0; i < sizeof st_unsupported / sizeof st_unsupported[0];
       i++)
    if (strcmp(name, st_unsupported[i]) == 0)
      return lg_io_fail(P->c.job, LG_ERR_IO,
                        "tensor '%.80s': unsupported dtype "
                        "%s (supported: F32 F64 I32 I64 U8 BOOL)",
                        e->name, name);
  return lg_io_fail(P->c.job, LG_ERR_IO,
                    "tensor '%.80s': unknown dtype (supported: F32 F64 "
                    "I32 I64 U8 BOOL)", e->name);
}

/* "shape" of a tensor entry: an array of at most LG_MAX_DIMS sizes. */
static lg_status st_parse_shape(st_parser *P, st_entry *e) {
  lg_status st = lg_io_expect(&P->c, '[', "expected '[' to open a shape");
  if (st) return st;
  e->ndim = 0;
  if (lg_io_accept(&P->c, ']')) return LG_OK;
  do {
    uint64_t v;
    if ((st = lg_io_parse_uint(&P->c, &v))) return st;
    if (e->ndim == LG_MAX_DIMS)
      return lg_io_fail(P->c.job, LG_ERR_IO, "tensor '%.80s' has more than %d "
                        "dims", e->name, LG_MAX_DIMS);
    if (v > INT64_MAX)
      return lg_io_fail(P->c.job, LG_ERR_IO, "tensor '%.80s': size %llu is too "
                        "large", e->name, (unsigned long long)v);
    e->shape[e->ndim++] = (int64_t)v;
  } while (lg_io_accept(&P->c, ','));
  return lg_io_expect(&P->c, ']', "expected ',' or ']' in a shape");
}

static lg_status st_parse_offsets(st_parser *P, st_entry *e) {
  lg_status st;
  if ((st = lg_io_expect(&P->c, '[', "expected '[' to open data_offsets")) ||
      (st = lg_io_parse_uint(&P->c, &e->begin)) ||
      (st =
           lg_io_expect(&P->c, ',', "expected two integers in data_offsets")) ||
      (st = lg_io_parse_uint(&P->c, &e->end)) ||
      (st = lg_io_expect(&P->c, ']', "expected two integers in data_offsets")))
    return st;
  return LG_OK;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} in any order. */
static lg_status st_parse_tensor(st_parser *P, const char *name) {
  if (!lg_io_grow(P->c.job->ctx, &P->entries, &P->entries_cap, sizeof(st_entry),
                  P->n_entries + 1))
    return lg_io_out_of_memory(P->c.job);
  st_entry *e = &P->entries[P->n_entries++];
  memset(e, 0, sizeof *e);
  e->name = name;
  lg_status st =
      lg_io_expect(&P->c, '{', "expected '{' to open a tensor entry");
  if (st) return st;
  bool seen[3] = {false, false, false};
  static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
  if (lg_io_accept(&P->c, '}'))
    return lg_io_fail(P->c.job, LG_ERR_IO,
                      "tensor '%.80s': missing dtype, shape "
                      "and data_offsets",
                      name);
  do {
    const char *key;
    if ((st = json_string(&P->c, &key))) return st;
    if ((st = lg_io_expect(&P->c, ':', "expected ':' after a key"))) return st;
    int which = -1;
    for (int i = 0; i < 3; i++)
      if (strcmp(key, fields[i]) == 0) which = i;
    if (which < 0)
      return lg_io_fail(P->c.job, LG_ERR_IO, "tensor '%.80s': unknown field "
                        "(expected dtype, shape, data_offsets)", name);
    if (seen[which])
      return lg_io_fail(P->c.job, LG_ERR_IO, "tensor '%.80s': duplicate field "
                        "'%s'", name, fields[which]);
    seen[which] = true;
    st = which == 0   ? st_parse_dtype(P, e)
         : which == 1 ? st_parse_shape(P, e)
                      : st_parse_offsets(P, e);
    if (st) return st;
  } while (lg_io_accept(&P->c, ','));
  if ((st = lg_io_expect(&P->c, '}', "expected ',' or '}' in a tensor entry")))
    return st;
  for (int i = 0; i < 3; i++)
    if (!seen[i])
      return lg_io_fail(P->c.job, LG_ERR_IO,
                        "tensor '%.80s': missing field '%s'", name, fields[i]);
  return LG_OK;
}

/* "__metadata__": an object of string values, or null. */
static lg_status st_parse_metadata(st_parser *P) {
  if (P->seen_metadata)
    return lg_io_fail(P->c.job, LG_ERR_IO, "duplicate __metadata__");
  P->seen_metadata = true;
  lg_io_skip_space(&P->c);
  if (P->c.p < P->c.end && *P->c.p == 'n') return json_literal(&P->c, "null");
  lg_status st = lg_io_expect(&P->c, '{', "expected '{' to open __metadata__");
  if (st || lg_io_accept(&P->c, '}')) return st;
  do {
    const char *key, *value;
    if ((st = json_string(&P->c, &key))) return st;
    if ((st = lg_io_expect(&P->c, ':', "expected ':' after a key"))) return st;
    lg_io_skip_space(&P->c);
    if (P->c.p < P->c.end && *P->c.p != '"')
      return lg_io_fail(P->c.job, LG_ERR_IO, "__metadata__ value of '%.80s' is "
                        "not a string", key);
    if ((st = json_string(&P->c, &value))) return st;
    if (!lg_io_grow(P->c.job->ctx, &P->metadata, &P->metadata_cap,
                    sizeof(const char *), 2 * P->n_metadata + 2))
      return lg_io_out_of_memory(P->c.job);
    P->metadata[2 * P->n_metadata] = key;
    P->metadata[2 * P->n_metadata + 1] = value;
    P->n_metadata++;
  } while (lg_io_accept(&P->c, ','));
  return lg_io_expect(&P->c, '}', "expected ',' or '}' in __metadata__");
}

static lg_status st_parse_header(st_parser *P) {
  lg_status st = lg_io_expect(&P->c, '{', "expected '{' at the start");
  if (st) return st;
  if (!lg_io_accept(&P->c, '}')) {
    do {
      const char *key;
      if ((st = json_string(&P->c, &key))) return st;
      if ((st = lg_io_expect(&P->c, ':', "expected ':' after a key")))
        return st;
      st = strcmp(key, "__metadata__") == 0 ? st_parse_metadata(P)
                                             : st_parse_tensor(P, key);
      if (st) return st;
    } while (lg_io_accept(&P->c, ','));
    if ((st = lg_io_expect(&P->c, '}', "expected ',' or '}' after a member")))
      return st;
  }
  lg_io_skip_space(&P->c);
  if (P->c.p != P->c.end)
    return lg_io_parse_error(&P->c, "unexpected text after the object");
  return LG_OK;
}

/* ---- safetensors: load --------------------------------------------------- */

static int compare_entry_names(const void *data, size_t a, size_t b) {
  const st_entry *e = data;
  return strcmp(e[a].name, e[b].name);
}

static int compare_entry_offsets(const void *data, size_t a, size_t b) {
  const st_entry *e = data;
  if (e[a].begin != e[b].begin) return e[a].begin < e[b].begin ? -1 : 1;
  if (e[a].end != e[b].end) return e[a].end < e[b].end ? -1 : 1;
  return 0;
}

/* Names and metadata keys unique; offsets consistent with shapes and
 * covering [0, data_size) exactly. Leaves idx sorted by offset. */
static lg_status st_validate(st_parser *P, size_t *idx, uint64_t data_size) {
  const lg_io_job *job = P->c.job;
  size_t n = P->n_entries;
  for (size_t i = 0; i < n; i++) idx[i] = i;
  lg_io_sort_indices(idx, n, compare_entry_names, P->entries);
  for (size_t i = 1; i < n; i++)
    if (strcmp(P->entries[idx[i]].name, P->entries[idx[i - 1]].name) == 0)
      return lg_io_fail(job, LG_ERR_IO, "duplicate tensor name '%.80s'",
                        P->entries[idx[i]].name);
  for (size_t i = 0; i < P->n_metadata; i++) idx[i] = 2 * i;
  lg_io_sort_indices(idx, P->n_metadata, lg_io_compare_strings, P->metadata);
  for (size_t i = 1; i < P->n_metadata; i++)
    if (strcmp(P->metadata[idx[i]], P->metadata[idx[i - 1]]) == 0)
      return lg_io_fail(job, LG_ERR_IO, "duplicate __metadata__ key '%.80s'",
                        P->metadata[idx[i]]);
  for (size_t i = 0; i < n; i++) {
    const st_entry *e = &P->entries[i];
    char shape[160];
    lg_shape_str(shape, sizeof shape, e->ndim, e->shape);
    int64_t numel = lg_shape_numel(e->ndim, e->shape);
    size_t elem = lg_dtype_size(e->dtype);
    if (numel < 0 || (uint64_t)numel > INT64_MAX / elem)
      return lg_io_fail(job, LG_ERR_IO, "tensor '%.80s': shape %s is too large",
                        e->name, shape);
    if (e->begin > e->end)
      return lg_io_fail(job, LG_ERR_IO, "tensor '%.80s': data_offsets [%llu, "
                        "%llu] end before they begin", e->name,
                        (unsigned long long)e->begin,
                        (unsigned long long)e->end);
    if (e->end > data_size)
      return lg_io_fail(job, LG_ERR_IO, "tensor '%.80s': data_offsets [%llu, "
                        "%llu) run past the end of the data (%llu bytes after "
                        "the header)", e->name, (unsigned long long)e->begin,
                        (unsigned long long)e->end,
                        (unsigned long long)data_size);
    if (e->end - e->begin != (uint64_t)numel * elem)
      return lg_io_fail(job, LG_ERR_IO,
                        "tensor '%.80s': shape %s of %s needs "
                        "%llu bytes but data_offsets [%llu, %llu) span %llu",
                        e->name, shape, st_dtype_name(e->dtype),
                        (unsigned long long)((uint64_t)numel * elem),
                        (unsigned long long)e->begin,
                        (unsigned long long)e->end,
                        (unsigned long long)(e->end - e->begin));
  }
  for (size_t i = 0; i < n; i++) idx[i] = i;
  lg_io_sort_indices(idx, n, compare_entry_offsets, P->entries);
  uint64_t at = 0;
  const char *previous = NULL;
  for (size_t i = 0; i < n; i++) {
    const st_entry *e = &P->entries[idx[i]];
    if (e->begin < at)
      return lg_io_fail(job, LG_ERR_IO, "tensors '%.80s' and '%.80s' overlap "
                        "(data_offsets begin at %llu, before %llu)", previous,
                        e->name, (unsigned long long)e->begin,
                        (unsigned long long)at);
    if (e->begin > at)
      return lg_io_fail(job, LG_ERR_IO, "gap in the data: bytes [%llu, %llu) "
                        "before tensor '%.80s' belong to no tensor",
                        (unsigned long long)at, (unsigned long long)e->begin,
                        e->name);
    at = e->end;
    previous = e->name;
  }
  if (at != data_size)
    return lg_io_fail(job, LG_ERR_IO, "%llu trailing bytes after the last "
                      "tensor's data", (unsigned long long)(data_size - at));
  return LG_OK;
}

/* Creates the tensors in file order and reads their data. */
static lg_status st_read_tensors(st_parser *P, const size_t *idx, int fd,
                                 lg_safetensors *file) {
  const lg_io_job *job = P->c.job;
  for (size_t i = 0; i < P->n_entries; i++) {
    const st_entry *e = &P->entries[idx[i]];
    lg_tensor *t = NULL;
    lg_status st = lg_empty(job->ctx, e->dtype, e->ndim, e->shape, &t);
    if (st) return lg_io_rethrow(job, st, "allocating a tensor");
    file->names[i] = e->name;
    file->tensors[i] = t;
    size_t bytes = (size_t)(e->end - e->begin), elem = lg_dtype_size(e->dtype);
    if (bytes == 0) continue;
    char what[128];
    snprintf(what, sizeof what, "data of tensor '%.80s'", e->name);
    if ((st = lg_io_read_exact(job, fd, lg_tensor_data(t), bytes, what)))
      return st;
    lg_io_little_endian_to_host(lg_tensor_data(t), elem, bytes / elem);
    if (e->dtype == LG_BOOL) lg_io_normalize_bools(lg_tensor_data(t), bytes);
  }
  return LG_OK;
}

/* Reads a safetensors file (see serialize.h). */
lg_status lg_safetensors_load(lg_ctx *ctx, const char *path,
                              lg_safetensors **out) {
  lg_io_job job = {ctx, "safetensors load", path};
  *out = NULL;
  int fd;
  uint64_t file_size;
  lg_status st = lg_io_open_input(&job, &fd, &file_size);
  if (st) return st;
  st_parser P = {.c = {.job = &job, .kind = "invalid JSON header"}};
  lg_safetensors *file = NULL;
  size_t *idx = NULL, idx_count = 0;
  unsigned char prefix[8];
  if (file_size < 8)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "file too small (%llu bytes) to hold the "
                    "8-byte header length", (unsigned long long)file_size));
  if ((st = lg_io_read_exact(&job, fd, prefix, 8, "header length"))) goto done;
  uint64_t header_size = lg_io_load_le(prefix, 8);
  if (header_size > LG_SAFETENSORS_MAX_HEADER)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "header length %llu exceeds the limit of "
                    "%u bytes", (unsigned long long)header_size,
                    LG_SAFETENSORS_MAX_HEADER));
  if (header_size > file_size - 8)
    FAIL(lg_io_fail(&job, LG_ERR_IO, "header length %llu is larger than the "
                    "rest of the file (%llu bytes)",
                    (unsigned long long)header_size,
                    (unsigned long long)(file_size - 8)));
  file = lg_mem_alloc(ctx, sizeof *file);
  if (!file) FAIL(lg_io_out_of_memory(&job));
  memset(file, 0, sizeof *file);
  file->header_size = (size_t)header_size;
  file->header = lg_mem_alloc(ctx, file->header_size);
  if (!file->header) FAIL(lg_io_out_of_memory(&job));
  if ((st = lg_io_read_exact(&job, fd, file->header, file->header_size,
                             "header")))
    goto done;
  P.c.base = P.c.p = file->header;
  P.c.end = file->header + file->header_size;
  if ((st = st_parse_header(&P))) goto done;
  idx_count = P.n_entries > P.n_metadata ? P.n_entries : P.n_metadata;
  idx = lg_mem_alloc(ctx, idx_count * sizeof *idx);
  if (!idx) FAIL(lg_io_out_of_memory(&job));
  if ((st = st_validate(&P, idx, file_size - 8 - header_size))) goto done;
  /* the result takes the metadata array */
  file->metadata = P.metadata;
  file->metadata_capacity = P.metadata_cap;
  file->n_metadata = (int64_t)P.n_metadata;
  P.metadata = NULL;
  size_t n = P.n_entries;
  const char **names = lg_mem_alloc(ctx, n * sizeof *names);
  lg_tensor **tensors = lg_mem_alloc(ctx, n * sizeof *tensors);
  if (!names || !tensors) {
    lg_mem_free(ctx, names, n * sizeof *names);
    lg_mem_free(ctx, tensors, n * sizeof *tensors);
    st = lg_io_out_of_memory(&job);
    goto done;
  }
  for (size_t i = 0; i < n; i++) names[i] = NULL, tensors[i] = NULL;
  file->names = names;
  file->tensors = tensors;
  file->n_tensors = (int64_t)n;
  st = st_read_tensors(&P, idx, fd, file);
done:
  close(fd);
  lg_mem_free(ctx, idx, idx_count * sizeof *idx);
  lg_mem_free(ctx, P.entries, P.entries_cap * sizeof *P.entries);
  lg_mem_free(ctx, P.metadata, P.metadata_cap * sizeof *P.metadata);
  if (st) {
    lg_safetensors_free(ctx, file);
    return st;
  }
  *out = file;
  return LG_OK;
}

/* Frees a loaded file and the tensors still in it. */
void lg_safetensors_free(lg_ctx *ctx, lg_safetensors *file) {
  if (!file) return;
  size_t n = (size_t)file->n_tensors;
  if (file->tensors)
    for (size_t i = 0; i < n; i++) lg_tensor_release(file->tensors[i]);
  lg_mem_free(ctx, file->tensors, n * sizeof *file->tensors);
  lg_mem_free(ctx, file->names, n * sizeof *file->names);
  lg_mem_free(ctx, file->metadata,
              file->metadata_capacity * sizeof *file->metadata);
  lg_mem_free(ctx, file->header, file->header_size);
  lg_mem_free(ctx, file, sizeof *file);
}

/* ---- safetensors: save --------------------------------------------------- */

/* A JSON string with the escapes the format's readers expect. */
static void text_json_string(lg_io_text *b, const char *s) {
  lg_io_text_str(b, "\"");
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      lg_io_text_add(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      lg_io_text_str(b, esc);
    } else {
      lg_io_text_add(b, p, 1);
    }
  }
  lg_io_text_str(b, "\"");
}

static lg_status st_check_string(const lg_io_job *job, const char *s,
                                 const char *what) {
  if (!s) return lg_io_fail(job, LG_ERR_ARG, "%s is missing", what);
  if (!lg_io_valid_utf8(s))
    return lg_io_fail(job, LG_ERR_ARG, "%s '%.80s' is not valid UTF-8", what,
                      s);
  return LG_OK;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes. */
static lg_status st_build_header(const lg_io_job *job, lg_io_text *b, size_t n,
                                 const size_t *order,
                                 const char *const *names,
                                 lg_tensor *const *tensors,
                                 size_t n_metadata,
                                 const char *const *metadata) {
  lg_io_text_str(b, "{");
  if (n_metadata) {
    lg_io_text_str(b, "\"__metadata__\":{");
    for (size_t i = 0; i < n_metadata; i++) {
      if (i) lg_io_text_str(b, ",");
      text_json_string(b, metadata[2 * i]);
      lg_io_text_str(b, ":");
      text_json_string(b, metadata[2 * i + 1]);
    }
    lg_io_text_str(b, "}");
  }
  uint64_t offset = 0;
  for (size_t k = 0; k < n; k++) {
    const lg_tensor *t = tensors[order[k]];
    uint64_t bytes = 0;
    lg_status st = lg_io_tensor_bytes(job, t, &bytes);
    if (st) return st;
    if (n_metadata || k) lg_io_text_str(b, ",");
    text_json_string(b, names[order[k]]);
    lg_io_text_str(b, ":{\"dtype\":\"");
    lg_io_text_str(b, st_dtype_name(t->dtype));
    lg_io_text_str(b, "\",\"shape\":[");
    for (int d = 0; d < t->ndim; d++) {
      if (d) lg_io_text_str(b, ",");
      lg_io_text_int(b, t->sizes[d]);
    }
    lg_io_text_str(b, "],\"data_offsets\":[");
    lg_io_text_int(b, (int64_t)offset);
    lg_io_text_str(b, ",");
    if (bytes > (uint64_t)INT64_MAX - offset)
      return lg_io_fail(job, LG_ERR_MEMORY,
                        "the tensors are too large to save");
    offset += bytes;
    lg_io_text_int(b, (int64_t)offset);
    lg_io_text_str(b, "]}");
  }
  lg_io_text_str(b, "}");
  while (!b->failed && b->length % 8) lg_io_text_str(b, " ");
  if (b->failed) return lg_io_out_of_memory(job);
  if (b->length > LG_SAFETENSORS_MAX_HEADER)
    return lg_io_fail(job, LG_ERR_ARG, "the header would be %zu bytes, over "
                      "the limit of %u", b->length, LG_SAFETENSORS_MAX_HEADER);
  return LG_OK;
}

/* Writes a safetensors file (see serialize.h). */
lg_status lg_safetensors_save(lg_ctx *ctx, const char *path, int64_t n,
                              const char *const *names,
                              lg_tensor *const *tensors, int64_t n_metadata,
                              const char *const *metadata) {
  lg_io_job job = {ctx, "safetensors save", path};
  if (n < 0 || n_metadata < 0 || (uint64_t)n > SIZE_MAX / sizeof(size_t) ||
      (uint64_t)n_metadata > SIZE_MAX / sizeof(size_t) / 2)
    return lg_io_fail(&job, LG_ERR_ARG, "bad tensor or metadata count");
  size_t count = (size_t)n, meta_count = (size_t)n_metadata;
  lg_status st = LG_OK;
  for (size_t i = 0; i < count && !st; i++) {
    if ((st = st_check_string(&job, names[i], "tensor name"))) break;
    if (strcmp(names[i], "__metadata__") == 0)
      st = lg_io_fail(&job, LG_ERR_ARG, "'__metadata__' is reserved and cannot "
                      "name a tensor");
    else if (!tensors[i])
      st = lg_io_fail(&job, LG_ERR_ARG, "tensor '%.80s' is missing", names[i]);
  }
  for (size_t i = 0; i < 2 * meta_count && !st; i++)
    st = st_check_string(&job, metadata[i],
                         i % 2 ? "metadata value" : "metadata key");
  if (st) return st;
  size_t idx_count = count > meta_count ? count : meta_count;
  size_t *order = lg_mem_alloc(ctx, idx_count * sizeof *order);
  if (!order) return lg_io_out_of_memory(&job);
  for (size_t i = 0; i < meta_count; i++) order[i] = 2 * i;
  lg_io_sort_indices(order, meta_count, lg_io_compare_strings, metadata);
  for (size_t i = 1; i < meta_count && !st; i++)
    if (strcmp(metadata[order[i]], metadata[order[i - 1]]) == 0)
      st = lg_io_fail(&job, LG_ERR_ARG, "duplicate metadata key '%.80s'",
                      metadata[order[i]]);
  for (size_t i = 0; i < count; i++) order[i] = i;
  lg_io_sort_indices(order, count, lg_io_compare_strings, names);
  for (size_t i = 1; i < count && !st; i++)
    if (strcmp(names[order[i]], names[order[i - 1]]) == 0)
      st = lg_io_fail(&job, LG_ERR_ARG, "duplicate tensor name '%.80s'",
                      names[order[i]]);
  lg_io_text header = {.ctx = ctx};
  if (!st)
    st = st_build_header(&job, &header, count, order, names, tensors,
                         meta_count, metadata);
  lg_io_out o = {.fd = -1};
  if (!st) st = lg_io_out_open(&job, &o);
  if (!st) {
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
      prefix[i] = (unsigned char)((uint64_t)header.length >> (8 * i));
    st = lg_io_out_write(&job, &o, prefix, 8);
    if (!st) st = lg_io_out_write(&job, &o, header.data, header.length);
    for (size_t k = 0; k < count && !st; k++)
      st = lg_io_write_tensor_data(&job, &o, tensors[order[k]]);
    if (!st) st = lg_io_out_commit(&job, &o);
    else lg_io_out_abort(&job, &o);
  }
  lg_io_text_free(&header);
  lg_mem_free(ctx, order, idx_count * sizeof *order);
  return st;
}
