/* sort.c: the sorting kernels: sort, topk, kthvalue and median along a dim
 * (values and 1-based int64 indices), cummax/cummin (running extremes and
 * where they were reached) and unique (sorted distinct elements or slices,
 * the inverse map and the counts).
 *
 * A "line" is the n elements along the dim with every other index fixed;
 * the outputs are contiguous and hold their lines at the same outer
 * position with their own length along the dim. Each line is copied into a
 * key scratch (double for float dtypes, int64 for the others, so int64
 * values compare exactly) and a permutation of 0..n-1 is merge-sorted by
 * it: always stable, so stable = true is honoured and ties otherwise come
 * out in input order too. NaN sorts above every number, as in PyTorch
 * (last ascending, first descending). topk keeps a heap of the best k
 * (O(n log k)) and kthvalue/median select (quickselect, O(n)), both in the
 * stable sort's order (ties by position), so they pick what sort would.
 *
 * Params conventions:
 *  - SORT: p->dim; p->ints[0] = 1 for descending (p->ints[1], stable, is
 *    accepted and always true here).
 *  - TOPK: p->dim; p->length = k; p->ints[0] = 1 for the largest;
 *    p->ints[1] = sorted (always sorted here, a valid order for false).
 *  - KTHVALUE: p->dim; p->length = k (1-based); LG_FLAG_KEEPDIM.
 *  - MEDIAN: p->dim; LG_FLAG_KEEPDIM; the lower median, NaN when the line
 *    holds one (at the first NaN), as torch.median.
 *  - CUMMAX/CUMMIN: p->dim; a tie or a NaN moves the index to the later
 *    element, as PyTorch's cummax_helper.
 *  - UNIQUE: p->dim, or the flattened tensor when p->n_ints == -1; outputs
 *    the distinct values (slices along dim) in ascending (lexicographic)
 *    order, the 1-based inverse (input's shape when flattened, else
 *    (size of dim)) and the int64 counts.
 */
#include <math.h>
#include <string.h>

#include "core.h"
#include "dtype.h"

/* ---- lines -------------------------------------------------------------- */

/* The geometry of x's lines along dim: count lines of n elements, element
 * step stride in x; a line number l splits into outer (dims before) and
 * inner (dims after) positions, l = outer * inner_count + inner. */
typedef struct lines {
  const lg_tensor *x;
  int64_t dim, n, stride, count, inner_count;
} lines;

static void lines_init(lines *ln, const lg_tensor *x, int64_t dim) {
  ln->x = x;
  ln->dim = dim;
  ln->n = x->ndim ? x->sizes[dim] : 1;
  ln->stride = x->ndim ? x->strides[dim] : 1;
  ln->inner_count = 1;
  for (int d = (int)dim + 1; d < x->ndim; d++) ln->inner_count *= x->sizes[d];
  ln->count = ln->n ? lg_tensor_numel(x) / ln->n : 0;
  if (!ln->n) { /* no elements: still count the lines of the other dims */
    ln->count = 1;
    for (int d = 0; d < x->ndim; d++)
      if (d != dim) ln->count *= x->sizes[d];
  }
}

/* Element offset in x of the first element of line l. */
static int64_t line_offset(const lines *ln, int64_t l) {
  int64_t off = 0;
  for (int d = ln->x->ndim - 1; d >= 0; d--) {
    if (d == ln->dim) continue;
    int64_t size = ln->x->sizes[d];
    off += (l % size) * ln->x->strides[d];
    l /= size;
  }
  return off;
}

/* Element offset of line l's first element in a contiguous output whose
 * dim has length m. */
static int64_t out_line_offset(const lines *ln, int64_t l, int64_t m) {
  int64_t outer = l / ln->inner_count, inner = l % ln->inner_count;
  return outer * m * ln->inner_count + inner;
}

/* The keys of one line: f for float dtypes, i for the others. */
typedef struct keys {
  bool is_float;
  double *f;
  int64_t *i;
} keys;

/* Loads line l of x into k (positions 0..n-1). */
static void load_line(const lines *ln, int64_t l, keys *k) {
  const lg_tensor *x = ln->x;
  size_t item = lg_dtype_size(x->dtype);
  const char *base = (const char *)x->storage->data +
                     (x->offset + line_offset(ln, l)) * (int64_t)item;
  for (int64_t j = 0; j < ln->n; j++) {
    const char *p = base + j * ln->stride * (int64_t)item;
    if (k->is_float) k->f[j] = lg_load_double(p, x->dtype);
    else k->i[j] = lg_load_int(p, x->dtype);
  }
}

/* Whether key a sorts strictly before key b (NaN above every number). */
static inline bool key_before(const keys *k, int64_t a, int64_t b,
                              bool descending) {
  if (!k->is_float)
    return descending ? k->i[a] > k->i[b] : k->i[a] < k->i[b];
  double x = k->f[a], y = k->f[b];
  if (isnan(x) || isnan(y)) return descending ? !isnan(y) : !isnan(x);
  return descending ? x > y : x < y;
}

/* Defines NAME(perm, tmp, n, data): a stable bottom-up merge sort of
 * perm[0..n) (element numbers of data) by BEFORE(data, a, b), "a sorts
 * strictly before b", inlined, from insertion-sorted runs of RUN; tmp has
 * room for n entries. */
#define RUN 16
#define DEFINE_MERGE_SORT(NAME, DATA_T, BEFORE)                              \
  static void NAME(int64_t *perm, int64_t *tmp, int64_t n, DATA_T data) {    \
    for (int64_t lo = 0; lo < n; lo += RUN) { /* insertion-sorted runs */    \
      int64_t hi = lo + RUN < n ? lo + RUN : n;                              \
      for (int64_t i = lo + 1; i < hi; i++) {                                \
        int64_t v = perm[i], j = i;                                          \
        for (; j > lo && BEFORE(data, v, perm[j - 1]); j--)                  \
          perm[j] = perm[j - 1];                                             \
        perm[j] = v;                                                         \
      }                                                                      \
    }                                                                        \
    for (int64_t width = RUN; width < n; width *= 2) {                       \
      for (int64_t lo = 0; lo < n; lo += 2 * width) {                        \
        int64_t mid = lo + width < n ? lo + width : n;                       \
        int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;                \
        int64_t a = lo, b = mid, o = lo;                                     \
        while (a < mid && b < hi) { /* branch-free: random data */          \
          int64_t pa = perm[a], pb = perm[b];                                \
          bool take_b = BEFORE(data, pb, pa);                                \
          tmp[o++] = take_b ? pb : pa;                                       \
          b += take_b;                                                       \
          a += !take_b;                                                      \
        }                                                                    \
        while (a < mid) tmp[o++] = perm[a++];                                \
        while (b < hi) tmp[o++] = perm[b++];                                 \
      }                                                                      \
      memcpy(perm, tmp, sizeof(int64_t) * (size_t)n);                        \
    }                                                                        \
  }

/* The order of one line's keys, ascending or descending. */
typedef struct line_order {
  const keys *k;
  bool descending;
} line_order;

static inline bool line_before(const line_order *o, int64_t a, int64_t b) {
  return key_before(o->k, a, b, o->descending);
}
DEFINE_MERGE_SORT(merge_sort_line, const line_order *, line_before)
/* The same without NaN, by plain comparisons of one key type. */
#define F_ASC(k, a, b) ((k)->f[a] < (k)->f[b])
#define F_DESC(k, a, b) ((k)->f[a] > (k)->f[b])
#define I_ASC(k, a, b) ((k)->i[a] < (k)->i[b])
#define I_DESC(k, a, b) ((k)->i[a] > (k)->i[b])
DEFINE_MERGE_SORT(merge_sort_f_asc, const keys *, F_ASC)
DEFINE_MERGE_SORT(merge_sort_f_desc, const keys *, F_DESC)
DEFINE_MERGE_SORT(merge_sort_i_asc, const keys *, I_ASC)
DEFINE_MERGE_SORT(merge_sort_i_desc, const keys *, I_DESC)

/* Sorts perm[0..n) (set to 0..n-1 first) by the line's order. */
static void sort_line(const line_order *o, int64_t *perm, int64_t *tmp,
                      int64_t n) {
  const keys *k = o->k;
  bool has_nan = false;
  for (int64_t j = 0; j < n; j++) perm[j] = j;
  for (int64_t j = 0; k->is_float && j < n && !has_nan; j++)
    has_nan = isnan(k->f[j]);
  if (has_nan) merge_sort_line(perm, tmp, n, o);
  else if (k->is_float && o->descending) merge_sort_f_desc(perm, tmp, n, k);
  else if (k->is_float) merge_sort_f_asc(perm, tmp, n, k);
  else if (o->descending) merge_sort_i_desc(perm, tmp, n, k);
  else merge_sort_i_asc(perm, tmp, n, k);
}

/* Whether element a comes after element b in the line's order with ties
 * broken by position: a strict total order, the stable sort's. */
static bool comes_after(const line_order *o, int64_t a, int64_t b) {
  if (key_before(o->k, b, a, o->descending)) return true;
  if (key_before(o->k, a, b, o->descending)) return false;
  return a > b;
}

static inline bool total_before(const line_order *o, int64_t a, int64_t b) {
  return comes_after(o, b, a);
}
DEFINE_MERGE_SORT(merge_sort_total, const line_order *, total_before)

static void swap_at(int64_t *v, int64_t i, int64_t j) {
  int64_t t = v[i];
  v[i] = v[j];
  v[j] = t;
}

/* Restores the heap h[0..k) below i: every parent comes after its
 * children (the last of the k kept at the top). */
static void sift_down(const line_order *o, int64_t *h, int64_t k, int64_t i) {
  for (;;) {
    int64_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < k && comes_after(o, h[l], h[w])) w = l;
    if (r < k && comes_after(o, h[r], h[w])) w = r;
    if (w == i) return;
    swap_at(h, i, w);
    i = w;
  }
}

/* perm[0..k) := the first k of the line's n elements in order (a heap of
 * the best k so far, O(n log k), then the k sorted). */
static void select_first(const line_order *o, int64_t *perm, int64_t *tmp,
                         int64_t n, int64_t k) {
  for (int64_t j = 0; j < k; j++) perm[j] = j;
  for (int64_t i = k / 2 - 1; i >= 0; i--) sift_down(o, perm, k, i);
  for (int64_t j = k; j < n && k > 0; j++)
    if (comes_after(o, perm[0], j)) {
      perm[0] = j;
      sift_down(o, perm, k, 0);
    }
  merge_sort_total(perm, tmp, k, o);
}

/* Rearranges perm[0..n) so that perm[nth] is the element the stable sort
 * puts there (quickselect, median-of-three pivots, O(n) expected). */
static void select_nth(const line_order *o, int64_t *perm, int64_t n,
                       int64_t nth) {
  for (int64_t j = 0; j < n; j++) perm[j] = j;
  int64_t lo = 0, hi = n - 1;
  while (hi > lo) {
    int64_t mid = lo + (hi - lo) / 2;
    if (comes_after(o, perm[lo], perm[mid])) swap_at(perm, lo, mid);
    if (comes_after(o, perm[mid], perm[hi])) swap_at(perm, mid, hi);
    if (comes_after(o, perm[lo], perm[mid])) swap_at(perm, lo, mid);
    int64_t pivot = perm[mid], i = lo, j = hi;
    while (i <= j) {
      while (comes_after(o, pivot, perm[i])) i++;
      while (comes_after(o, perm[j], pivot)) j--;
      if (i <= j) swap_at(perm, i++, j--);
    }
    if (nth <= j) hi = j;
    else if (nth >= i) lo = i;
    else return;
  }
}

/* Scratch for one line of n: keys, perm and the merge buffer in one
 * allocation. */
typedef struct scratch {
  keys k;
  int64_t *perm, *tmp;
  void *block;
  size_t bytes;
} scratch;

static lg_status scratch_alloc(lg_ctx *ctx, const char *name, int64_t n,
                               bool is_float, scratch *s) {
  int64_t m = n > 0 ? n : 1;
  s->bytes = sizeof(int64_t) * (size_t)m * 3; /* doubles are 8 bytes too */
  s->block = lg_mem_alloc(ctx, s->bytes);
  if (!s->block) return lg_fail(ctx, LG_ERR_MEMORY, "%s: out of memory", name);
  int64_t *words = s->block;
  s->k.is_float = is_float;
  s->k.f = (double *)(void *)words;
  s->k.i = words;
  s->perm = words + m;
  s->tmp = words + 2 * m;
  return LG_OK;
}

/* ---- sort, topk, kthvalue, median --------------------------------------- */

/* Writes element perm[from + j] of the line keys to values and indices for
 * j < m (the outputs' line starts at vo, step inner). */
static void store_picks(const scratch *s, const lg_tensor *x, int64_t from,
                        int64_t m, char *values, int64_t *indices, int64_t vo,
                        int64_t step) {
  size_t item = lg_dtype_size(x->dtype);
  for (int64_t j = 0; j < m; j++) {
    int64_t src = s->perm[from + j], at = vo + j * step;
    if (s->k.is_float)
      lg_store_double(values + at * (int64_t)item, x->dtype, s->k.f[src]);
    else
      lg_store_int(values + at * (int64_t)item, x->dtype, s->k.i[src]);
    indices[at] = src + 1;
  }
}

/* Orders line l's picks into s->perm and returns where they start: the
 * whole line sorted (SORT), the first k (TOPK), or the one element of
 * KTHVALUE (position k - 1) or MEDIAN (the lower middle, or the first NaN
 * when the line holds one: NaNs sort last, by position). */
static int64_t order_line(lg_op op, const lg_params *p, scratch *s,
                          const line_order *o, int64_t n) {
  int64_t nth = p->length - 1;
  if (op == LG_OP_SORT || (op == LG_OP_TOPK && p->length == n)) {
    sort_line(o, s->perm, s->tmp, n);
    return 0;
  }
  if (op == LG_OP_TOPK) {
    select_first(o, s->perm, s->tmp, n, p->length);
    return 0;
  }
  if (op == LG_OP_MEDIAN) {
    int64_t numbers = n;
    if (s->k.is_float) {
      numbers = 0;
      for (int64_t j = 0; j < n; j++) numbers += !isnan(s->k.f[j]);
    }
    nth = numbers < n ? numbers : (n - 1) / 2;
  }
  select_nth(o, s->perm, n, nth);
  return nth;
}

/* The check of k for topk (0..n) and kthvalue (1..n). */
static lg_status check_k(lg_ctx *ctx, const char *name, int64_t k,
                         int64_t lo, int64_t dim, int64_t n) {
  if (k >= lo && k <= n) return LG_OK;
  return lg_fail(ctx, LG_ERR_INDEX,
                 "%s: k = %lld is out of range for dim %lld of size %lld "
                 "(expected %lld..%lld)", name, (long long)k,
                 (long long)dim + 1, (long long)n, (long long)lo,
                 (long long)n);
}

/* x (..., N, ...) along p->dim -> values and int64 1-based indices:
 * SORT (..., N, ...), TOPK (..., k, ...), KTHVALUE and MEDIAN (..., ...)
 * (size 1 with KEEPDIM). */
lg_status lg_kernel_sort(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                         int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  const char *name = lg_op_name(op);
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: has no in-place form", name);
  int64_t dim;
  lg_status st = lg_wrap_dim(ctx, name, p->dim, x->ndim, &dim);
  if (st) return st;
  lines ln;
  lines_init(&ln, x, dim);
  int64_t m = ln.n; /* picks per line */
  bool descending = p->ints[0] != 0, reduces = false;
  switch (op) {
    case LG_OP_SORT: break;
    case LG_OP_TOPK:
      if ((st = check_k(ctx, name, p->length, 0, dim, ln.n))) return st;
      m = p->length;
      break;
    case LG_OP_KTHVALUE:
      if ((st = check_k(ctx, name, p->length, 1, dim, ln.n))) return st;
      m = 1, descending = false, reduces = true;
      break;
    case LG_OP_MEDIAN:
      if (ln.n == 0)
        return lg_fail(ctx, LG_ERR_SHAPE, "median: expected a non-empty dim "
                       "%lld, got size 0", (long long)dim + 1);
      m = 1, descending = false, reduces = true;
      break;
    default:
      return lg_fail(ctx, LG_ERR_ARG, "sort: %s is not a sorting op", name);
  }
  int ndim = x->ndim;
  int64_t sizes[LG_MAX_DIMS];
  memcpy(sizes, x->sizes, sizeof(int64_t) * (size_t)ndim);
  if (ndim) sizes[dim] = m;
  if (reduces && ndim && !(p->flags & LG_FLAG_KEEPDIM)) {
    memmove(sizes + dim, sizes + dim + 1,
            sizeof(int64_t) * (size_t)(ndim - dim - 1));
    ndim--;
  }
  if ((st = lg_empty(ctx, x->dtype, ndim, sizes, &out[0]))) return st;
  if ((st = lg_empty(ctx, LG_INT64, ndim, sizes, &out[1]))) goto fail;
  scratch s = {0};
  if (m > 0 && (st = scratch_alloc(ctx, name, ln.n,
                                    lg_dtype_is_float(x->dtype), &s)))
    goto fail;
  char *values = lg_data_ptr(out[0]);
  int64_t *indices = lg_tensor_data(out[1]);
  line_order order = {&s.k, descending};
  for (int64_t l = 0; l < ln.count && m > 0; l++) {
    load_line(&ln, l, &s.k);
    int64_t from = order_line(op, p, &s, &order, ln.n);
    store_picks(&s, x, from, m, values, indices, out_line_offset(&ln, l, m),
                ln.inner_count);
  }
  if (s.block) lg_mem_free(ctx, s.block, s.bytes);
  return LG_OK;
fail:
  lg_tensor_release(out[0]);
  lg_tensor_release(out[1]);
  out[0] = out[1] = NULL;
  return st;
}

/* ---- cummax, cummin ----------------------------------------------------- */

/* x (..., N, ...) along p->dim -> running max (CUMMAX) or min (CUMMIN)
 * and the 1-based index where each was reached, both of x's shape. */
lg_status lg_kernel_cumextreme(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                               int n_in, const lg_params *p,
                               lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  const char *name = lg_op_name(op);
  if (op != LG_OP_CUMMAX && op != LG_OP_CUMMIN)
    return lg_fail(ctx, LG_ERR_ARG, "cumextreme: %s is not cummax/cummin",
                   name);
  if (p->flags & LG_FLAG_INPLACE)
    return lg_fail(ctx, LG_ERR_ARG, "%s: has no in-place form", name);
  int64_t dim;
  lg_status st = lg_wrap_dim(ctx, name, p->dim, x->ndim, &dim);
  if (st) return st;
  if ((st = lg_empty(ctx, x->dtype, x->ndim, x->sizes, &out[0]))) return st;
  if ((st = lg_empty(ctx, LG_INT64, x->ndim, x->sizes, &out[1]))) {
    lg_tensor_release(out[0]);
    out[0] = NULL;
    return st;
  }
  lines ln;
  lines_init(&ln, x, dim);
  bool want_max = op == LG_OP_CUMMAX, is_float = lg_dtype_is_float(x->dtype);
  size_t item = lg_dtype_size(x->dtype);
  const char *xd = (const char *)x->storage->data;
  char *values = lg_data_ptr(out[0]);
  int64_t *indices = lg_tensor_data(out[1]);
  for (int64_t l = 0; l < ln.count && ln.n > 0; l++) {
    const char *base = xd + (x->offset + line_offset(&ln, l)) * (int64_t)item;
    int64_t o = out_line_offset(&ln, l, ln.n), best = 0;
    double bf = 0;
    int64_t bi = 0;
    for (int64_t j = 0; j < ln.n; j++, o += ln.inner_count) {
      const char *e = base + j * ln.stride * (int64_t)item;
      if (is_float) {
        double v = lg_load_double(e, x->dtype);
        bool take = j == 0 || isnan(v) ||
                    (!isnan(bf) && (want_max ? v >= bf : v <= bf));
        if (take) bf = v, best = j;
        lg_store_double(values + o * (int64_t)item, x->dtype, bf);
      } else {
        int64_t v = lg_load_int(e, x->dtype);
        if (j == 0 || (want_max ? v >= bi : v <= bi)) bi = v, best = j;
        lg_store_int(values + o * (int64_t)item, x->dtype, bi);
      }
      indices[o] = best + 1;
    }
  }
  return LG_OK;
}

/* ---- unique ------------------------------------------------------------- */

/* Rows of a unique: r rows of w keys each, row-major in k (row i's keys
 * at i * w). */
typedef struct rows {
  keys k;
  int64_t w;
} rows;

/* -1, 0 or 1 as row a sorts before, with or after row b (lexicographic;
 * NaN above numbers and equal to NaN). */
static int row_compare(const rows *r, int64_t a, int64_t b) {
  for (int64_t j = 0; j < r->w; j++) {
    int64_t ia = a * r->w + j, ib = b * r->w + j;
    if (key_before(&r->k, ia, ib, false)) return -1;
    if (key_before(&r->k, ib, ia, false)) return 1;
  }
  return 0;
}

static inline bool row_before(const rows *r, int64_t a, int64_t b) {
  return row_compare(r, a, b) < 0;
}
DEFINE_MERGE_SORT(merge_sort_rows, const rows *, row_before)

/* Copies x's elements into r: row i is slice i along dim (all elements
 * in row-major order as one row each when flat). */
static void load_rows(const lg_tensor *x, int64_t dim, bool flat, rows *r) {
  int64_t numel = lg_tensor_numel(x);
  lines ln;
  if (!flat) lines_init(&ln, x, dim);
  for (int64_t e = 0; e < numel; e++) {
    int64_t slot = e; /* flat: element e is row e */
    if (!flat) { /* e = (outer, i, inner) -> row i, column outer*inner + in */
      int64_t inner = e % ln.inner_count, rest = e / ln.inner_count;
      int64_t i = rest % ln.n, outer = rest / ln.n;
      slot = i * r->w + outer * ln.inner_count + inner;
    }
    const char *p = (const char *)x->storage->data +
                    lg_flat_to_offset(x, e);
    if (r->k.is_float) r->k.f[slot] = lg_load_double(p, x->dtype);
    else r->k.i[slot] = lg_load_int(p, x->dtype);
  }
}

/* x -> distinct values, inverse, counts (see the header). */
lg_status lg_kernel_unique(lg_ctx *ctx, lg_op op, lg_tensor *const *in,
                           int n_in, const lg_params *p, lg_tensor **out) {
  (void)n_in;
  lg_tensor *x = in[0];
  const char *name = lg_op_name(op);
  bool flat = p->n_ints == -1 || x->ndim == 0;
  int64_t dim = 0, numel = lg_tensor_numel(x);
  lg_status st;
  if (!flat && (st = lg_wrap_dim(ctx, name, p->dim, x->ndim, &dim))) return st;
  int64_t n = flat ? numel : x->sizes[dim];
  rows r = {{lg_dtype_is_float(x->dtype), NULL, NULL}, n ? numel / n : 0};
  size_t bytes = sizeof(int64_t) * (size_t)(numel + 2 * n + 1);
  int64_t *block = lg_mem_alloc(ctx, bytes);
  if (!block) return lg_fail(ctx, LG_ERR_MEMORY, "%s: out of memory", name);
  r.k.f = (double *)(void *)block;
  r.k.i = block;
  int64_t *perm = block + numel, *tmp = perm + n;
  load_rows(x, dim, flat, &r);
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  merge_sort_rows(perm, tmp, n, &r);
  /* tmp[j]: the group of sorted position j; u groups */
  int64_t u = 0;
  for (int64_t j = 0; j < n; j++) {
    if (j > 0 && row_compare(&r, perm[j - 1], perm[j]) != 0) u++;
    tmp[j] = u;
  }
  if (n > 0) u++;
  int64_t sizes[LG_MAX_DIMS];
  int vdim = flat ? 1 : x->ndim;
  if (flat) sizes[0] = u;
  else memcpy(sizes, x->sizes, sizeof(int64_t) * (size_t)x->ndim);
  if (!flat) sizes[dim] = u;
  st = lg_empty(ctx, x->dtype, vdim, sizes, &out[0]);
  if (!st) st = flat ? lg_empty(ctx, LG_INT64, x->ndim, x->sizes, &out[1])
                     : lg_empty(ctx, LG_INT64, 1, &n, &out[1]);
  if (!st) st = lg_empty(ctx, LG_INT64, 1, &u, &out[2]);
  if (st) {
    for (int i = 0; i < 3; i++) lg_tensor_release(out[i]), out[i] = NULL;
    lg_mem_free(ctx, block, bytes);
    return st;
  }
  int64_t *inverse = lg_tensor_data(out[1]), *counts = lg_tensor_data(out[2]);
  char *values = lg_data_ptr(out[0]);
  size_t item = lg_dtype_size(x->dtype);
  int64_t inner = 1;
  for (int d = (int)dim + 1; !flat && d < x->ndim; d++) inner *= x->sizes[d];
  memset(counts, 0, sizeof(int64_t) * (size_t)u);
  for (int64_t j = 0; j < n; j++) {
    int64_t g = tmp[j], row = perm[j];
    inverse[row] = g + 1;
    if (counts[g]++) continue; /* the group's first row gives its values */
    for (int64_t c = 0; c < r.w; c++) {
      int64_t at = flat ? g : (c / inner) * u * inner + g * inner + c % inner;
      char *dst = values + at * (int64_t)item;
      if (r.k.is_float) lg_store_double(dst, x->dtype, r.k.f[row * r.w + c]);
      else lg_store_int(dst, x->dtype, r.k.i[row * r.w + c]);
    }
  }
  lg_mem_free(ctx, block, bytes);
  return LG_OK;
}
