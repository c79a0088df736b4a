/* format.c: tensors as PyTorch-style text ("tensor([1., 2., 3.])"), and
 * the per-context print options that shape it.
 *
 * A port of torch/_tensor_str.py (PyTorch 1.13) with its print options
 * (precision, threshold, edgeitems, linewidth, sci_mode; by default 4,
 * 1000, 3, 80, chosen per tensor): one formatter per tensor picks integer,
 * fixed or scientific notation and a common width from the (summarised)
 * values; nested brackets, line wrapping and the "..." elision follow the
 * same rules, so the text matches PyTorch's except that a dtype suffix
 * names luagrad's dtype ("dtype=float64"). As in PyTorch, a forced
 * sci_mode changes the notation after the width was measured in the
 * notation the values would have chosen.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "dtype.h"

#define PREFIX "tensor("
#define MAX_PRECISION 30
/* the longest value: "%.0f" of DBL_MAX (309 digits), a sign, the point and
 * MAX_PRECISION digits */
#define VALUE_CHARS 384

/* ---- print options ---------------------------------------------------- */

bool lg_print_options_profile(const char *name, lg_print_options *out) {
  lg_print_options o = {4, 1000, 3, 80, -1};
  if (strcmp(name, "short") == 0) {
    o.precision = 2;
    o.edgeitems = 2;
  } else if (strcmp(name, "full") == 0) {
    o.threshold = INFINITY;
  } else if (strcmp(name, "default") != 0) {
    return false;
  }
  *out = o;
  return true;
}

lg_print_options lg_ctx_print_options(const lg_ctx *ctx) { return ctx->print; }

lg_status lg_ctx_set_print_options(lg_ctx *ctx, const lg_print_options *o) {
  static const char fname[] = "set_printoptions";
  if (o->precision < 0 || o->precision > MAX_PRECISION)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected an integer from 0 to %d "
                   "for precision, got %d", fname, MAX_PRECISION, o->precision);
  if (!(o->threshold >= 0)) /* NaN too */
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected a number >= 0 for "
                   "threshold, got %g", fname, o->threshold);
  if (o->edgeitems < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected an integer >= 1 for "
                   "edgeitems, got %d", fname, o->edgeitems);
  if (o->linewidth < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected an integer >= 1 for "
                   "linewidth, got %d", fname, o->linewidth);
  if (o->sci_mode < -1 || o->sci_mode > 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected -1 (auto), 0 or 1 for "
                   "sci_mode, got %d", fname, o->sci_mode);
  ctx->print = *o;
  return LG_OK;
}

/* ---- a growing buffer from the context's allocator ---------------------- */

typedef struct text_buffer {
  lg_ctx *ctx;
  char *data;
  size_t len, cap; /* cap counts the byte for the terminating NUL */
  bool failed;
} text_buffer;

static void put(text_buffer *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap) cap *= 2;
    char *grown = b->ctx->alloc(b->ctx->alloc_ud, b->data, b->cap, cap);
    if (!grown) {
      b->failed = true;
      return;
    }
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void put_str(text_buffer *b, const char *s) { put(b, s, strlen(s)); }

static void put_spaces(text_buffer *b, int n) {
  for (int i = 0; i < n; i++) put(b, " ", 1);
}

/* ---- the formatter (PyTorch's _Formatter) ------------------------------- */

typedef struct formatter {
  const lg_print_options *opts;
  bool floating;
  bool int_mode;  /* floats that are all integers print as "1." */
  bool sci_mode;  /* "1.0000e+10" */
  int width;
  /* statistics of the nonzero finite values while scanning */
  bool any_nonzero_finite;
  double min_abs, max_abs;
} formatter;

/* Writes one value without padding; returns its length. Floats use C's
 * printf, which rounds like Python's format for the same double. */
static int value_string(const formatter *f, lg_dtype dtype, const char *p,
                        char *buf) {
  int precision = f->opts->precision, n;
  double v = f->floating ? lg_load_double(p, dtype) : 0;
  if (dtype == LG_BOOL)
    n = snprintf(buf, VALUE_CHARS, "%s", *(const bool *)p ? "True" : "False");
  else if (!f->floating)
    n = snprintf(buf, VALUE_CHARS, "%lld", (long long)lg_load_int(p, dtype));
  else if (isnan(v))
    n = snprintf(buf, VALUE_CHARS, "nan");
  else if (isinf(v))
    n = snprintf(buf, VALUE_CHARS, "%s", v < 0 ? "-inf" : "inf");
  else if (f->sci_mode)
    n = snprintf(buf, VALUE_CHARS, "%.*e", precision, v);
  else if (f->int_mode)
    n = snprintf(buf, VALUE_CHARS, "%.0f.", v);
  else
    n = snprintf(buf, VALUE_CHARS, "%.*f", precision, v);
  return n < VALUE_CHARS ? n : VALUE_CHARS - 1; /* cannot happen; stays in buf */
}

typedef void (*visit_fn)(formatter *f, lg_dtype dtype, const char *p);

/* Calls fn on every element printing shows: all of them, or with
 * summarize only the first and last edgeitems along each dim. */
static void visit(const lg_tensor *t, int dim, int64_t offset, bool summarize,
                  formatter *f, visit_fn fn) {
  int64_t edge = f->opts->edgeitems;
  size_t item = lg_dtype_size(t->dtype);
  if (dim == t->ndim) {
    fn(f, t->dtype, (const char *)t->storage->data + (size_t)offset * item);
    return;
  }
  int64_t size = t->sizes[dim];
  for (int64_t i = 0; i < size; i++) {
    if (summarize && size > 2 * edge && i == edge) i = size - edge;
    visit(t, dim + 1, offset + i * t->strides[dim], summarize, f, fn);
  }
}

/* First scan: integer widths, or float statistics. */
static void scan_stats(formatter *f, lg_dtype dtype, const char *p) {
  if (!f->floating) {
    char buf[VALUE_CHARS];
    int n = value_string(f, dtype, p, buf);
    if (n > f->width) f->width = n;
    return;
  }
  double v = lg_load_double(p, dtype);
  if (!isfinite(v) || v == 0) return;
  double a = fabs(v);
  if (!f->any_nonzero_finite || a < f->min_abs) f->min_abs = a;
  if (!f->any_nonzero_finite || a > f->max_abs) f->max_abs = a;
  f->any_nonzero_finite = true;
  if (v != ceil(v)) f->int_mode = false;
}

/* Second scan (floats): the width of the nonzero finite values. */
static void scan_width(formatter *f, lg_dtype dtype, const char *p) {
  double v = lg_load_double(p, dtype);
  if (!isfinite(v) || v == 0) return;
  char buf[VALUE_CHARS];
  int n = value_string(f, dtype, p, buf);
  if (n > f->width) f->width = n;
}

static void formatter_init(formatter *f, const lg_tensor *t, bool summarize,
                           const lg_print_options *opts) {
  memset(f, 0, sizeof *f);
  f->opts = opts;
  f->floating = lg_dtype_is_float(t->dtype);
  f->int_mode = true;
  f->width = 1;
  visit(t, 0, t->offset, summarize, f, scan_stats);
  if (!f->floating || !f->any_nonzero_finite) return;
  double ratio = f->max_abs / f->min_abs;
  f->sci_mode = ratio > 1000.0 || f->max_abs > 1.0e8 ||
                (!f->int_mode && f->min_abs < 1.0e-4);
  visit(t, 0, t->offset, summarize, f, scan_width);
  if (opts->sci_mode >= 0) f->sci_mode = opts->sci_mode == 1;
}

/* One value padded on the left to the common width. */
static void put_value(text_buffer *b, const formatter *f, const lg_tensor *t,
                      int64_t offset) {
  char buf[VALUE_CHARS];
  const char *p = (const char *)t->storage->data +
                  (size_t)offset * lg_dtype_size(t->dtype);
  int n = value_string(f, t->dtype, p, buf);
  put_spaces(b, f->width - n);
  put(b, buf, (size_t)n);
}

/* ---- layout ------------------------------------------------------------- */

/* The last dim: values wrapped to the line width (_vector_str). */
static void put_vector(text_buffer *b, const formatter *f, const lg_tensor *t,
                       int64_t offset, int indent, bool summarize) {
  int dim = t->ndim - 1;
  int64_t size = t->sizes[dim], edge = f->opts->edgeitems;
  int per_line = (f->opts->linewidth - indent) / (f->width + 2);
  if (per_line < 1) per_line = 1;
  bool elide = summarize && size > 2 * edge;
  int64_t items = elide ? 2 * edge + 1 : size;
  put(b, "[", 1);
  for (int64_t k = 0; k < items; k++) {
    if (k > 0) {
      if (k % per_line == 0) {
        put(b, ",\n", 2);
        put_spaces(b, indent + 1);
      } else {
        put(b, ", ", 2);
      }
    }
    if (elide && k == edge) {
      put(b, " ...", 4);
      continue;
    }
    int64_t i = elide && k > edge ? size - (items - k) : k;
    put_value(b, f, t, offset + i * t->strides[dim]);
  }
  put(b, "]", 1);
}

/* Dims dim.. of t from offset (_tensor_str_with_formatter). */
static void put_dims(text_buffer *b, const formatter *f, const lg_tensor *t,
                     int dim, int64_t offset, int indent, bool summarize) {
  if (dim == t->ndim - 1) {
    put_vector(b, f, t, offset, indent, summarize);
    return;
  }
  int64_t size = t->sizes[dim], edge = f->opts->edgeitems;
  int rest = t->ndim - dim; /* dims of this sub-tensor */
  bool elide = summarize && size > 2 * edge;
  int64_t items = elide ? 2 * edge + 1 : size;
  put(b, "[", 1);
  for (int64_t k = 0; k < items; k++) {
    if (k > 0) {
      put(b, ",", 1);
      for (int i = 0; i < rest - 1; i++) put(b, "\n", 1);
      put_spaces(b, indent + 1);
    }
    if (elide && k == edge) {
      put(b, "...", 3);
      continue;
    }
    int64_t i = elide && k > edge ? size - (items - k) : k;
    put_dims(b, f, t, dim + 1, offset + i * t->strides[dim], indent + 1,
             summarize);
  }
  put(b, "]", 1);
}

/* Appends ", item" or, past the line width, ",\n       item"
 * (_add_suffixes); *last_line tracks the length of the current line the
 * way PyTorch counts it. */
static void put_suffix(text_buffer *b, const char *item, size_t *last_line,
                       int linewidth) {
  size_t n = strlen(item);
  if (*last_line + n + 2 > (size_t)linewidth) {
    put(b, ",\n", 2);
    put_spaces(b, (int)strlen(PREFIX));
    *last_line = strlen(PREFIX) + n;
  } else {
    put(b, ", ", 2);
    *last_line += n + 2;
  }
  put(b, item, n);
}

/* PyTorch-style text of t; suffix (may be NULL) is one more item before
 * the closing parenthesis, such as "grad_fn=<AddBackward0>" (a leading
 * ", " is accepted and dropped). *text is NUL-terminated, *length excludes
 * the NUL; free it with lg_string_free(ctx, *text, *length). */
lg_status lg_tensor_format(lg_ctx *ctx, const lg_tensor *t, const char *suffix,
                           char **out_text, size_t *length) {
  *out_text = NULL;
  if (length) *length = 0;
  text_buffer b = {ctx, NULL, 0, 0, false};
  int64_t numel = lg_tensor_numel(t);
  int indent = (int)strlen(PREFIX);
  char items[2][160];
  int n_items = 0;
  put_str(&b, PREFIX);
  if (numel == 0) {
    put_str(&b, "[]");
    if (t->ndim != 1) { /* size=(0, 3), as a Python tuple */
      size_t used = (size_t)snprintf(items[n_items], sizeof items[0], "size=(");
      for (int i = 0; i < t->ndim && used < sizeof items[0]; i++)
        used += (size_t)snprintf(items[n_items] + used, sizeof items[0] - used,
                                 i ? ", %lld" : "%lld", (long long)t->sizes[i]);
      if (used < sizeof items[0])
        snprintf(items[n_items] + used, sizeof items[0] - used, "%s)",
                 t->ndim == 1 ? "," : "");
      n_items++;
    }
    if (t->dtype != LG_FLOAT32)
      snprintf(items[n_items++], sizeof items[0], "dtype=%s",
               lg_dtype_name(t->dtype));
  } else {
    bool summarize = (double)numel > ctx->print.threshold;
    formatter f;
    formatter_init(&f, t, summarize, &ctx->print);
    if (t->ndim == 0)
      put_value(&b, &f, t, t->offset);
    else
      put_dims(&b, &f, t, 0, t->offset, indent, summarize);
    if (t->dtype != LG_FLOAT32 && t->dtype != LG_INT64 && t->dtype != LG_BOOL)
      snprintf(items[n_items++], sizeof items[0], "dtype=%s",
               lg_dtype_name(t->dtype));
  }
  if (!b.failed) {
    /* PyTorch's count: len(s) - s.rfind('\n') + 1 */
    const char *newline = strrchr(b.data, '\n');
    size_t last_line = newline ? (size_t)(b.data + b.len - newline) + 1
                               : b.len + 2;
    int linewidth = ctx->print.linewidth;
    for (int i = 0; i < n_items; i++)
      put_suffix(&b, items[i], &last_line, linewidth);
    if (suffix && strncmp(suffix, ", ", 2) == 0) suffix += 2;
    if (suffix && *suffix) put_suffix(&b, suffix, &last_line, linewidth);
    put(&b, ")", 1);
  }
  if (b.failed) {
    if (b.data) ctx->alloc(ctx->alloc_ud, b.data, b.cap, 0);
    return lg_fail(ctx, LG_ERR_MEMORY, "tostring: out of memory");
  }
  /* shrink to the exact size so lg_string_free can name it */
  char *exact = ctx->alloc(ctx->alloc_ud, b.data, b.cap, b.len + 1);
  if (exact) b.data = exact;
  else {
    ctx->alloc(ctx->alloc_ud, b.data, b.cap, 0);
    return lg_fail(ctx, LG_ERR_MEMORY, "tostring: out of memory");
  }
  *out_text = b.data;
  if (length) *length = b.len;
  return LG_OK;
}

/* Frees text from lg_tensor_format (length as it returned). */
void lg_string_free(lg_ctx *ctx, char *text, size_t length) {
  if (text) ctx->alloc(ctx->alloc_ud, text, length + 1, 0);
}
