/* layer.c: vmap levels (vmap.h): entering and leaving them, the dispatch
 * layer of a level (unwrap the inputs batched at it, run the op's batching
 * rule or the per-example loop, wrap the outputs), and the helpers the
 * rules in runtime/ops/<family>_batch.c share. */
#include <string.h>

#include "vmap.h"

static lg_vmap_state *state_of(lg_ctx *ctx) {
  if (!ctx->vmap) {
    ctx->vmap = lg_mem_alloc(ctx, sizeof *ctx->vmap);
    if (ctx->vmap) memset(ctx->vmap, 0, sizeof *ctx->vmap);
  }
  return ctx->vmap;
}

void lg_vmap_state_free(lg_ctx *ctx) {
  if (!ctx->vmap) return;
  for (int i = 0; i < ctx->vmap->n_levels; i++)
    lg_mem_free(ctx, ctx->vmap->levels[i], sizeof(lg_vmap_level));
  lg_mem_free(ctx, ctx->vmap, sizeof *ctx->vmap);
  ctx->vmap = NULL;
}

void vb_release(int n, lg_tensor **t) {
  for (int i = 0; i < n; i++) {
    lg_tensor_release(t[i]);
    t[i] = NULL;
  }
}

/* ---- the layer -------------------------------------------------------- */

/* Wraps the rule's outputs (new references in phys) at the level. */
static lg_status wrap_outputs(lg_ctx *ctx, const lg_vmap_level *L, int nout,
                              lg_tensor **phys, const int *obd,
                              lg_tensor **outs) {
  lg_status st = LG_OK;
  for (int k = 0; k < nout; k++) {
    outs[k] = NULL;
    if (st == LG_OK && phys[k]) {
      if (obd[k] < 0) /* a rule may return an unbatched output */
        outs[k] = lg_tensor_retain(phys[k]);
      else
        st = lg_vmap_wrap(ctx, phys[k], obd[k], L->level, &outs[k]);
    }
  }
  vb_release(nout, phys);
  if (st) vb_release(nout, outs);
  return st;
}

static lg_status vmap_run(lg_ctx *ctx, const lg_layer *layer, int below,
                          lg_op op, int n_in, lg_tensor *const *in,
                          const lg_params *p, lg_tensor **outs) {
  const lg_vmap_level *L = layer->ud;
  enum { MAX_IN = 64 };
  bool any = false;
  for (int i = 0; i < n_in; i++)
    if (in[i]->batched && in[i]->batched->level == L->level) any = true;
  if (!any) return lg_dispatch(ctx, below, op, n_in, in, p, outs);
  const char *name = lg_op_name(op);
  if (n_in > MAX_IN)
    return lg_fail(ctx, LG_ERR_ARG, "%s: more than %d inputs inside vmap",
                   name, MAX_IN);
  if (p->flags & LG_FLAG_OUT)
    return lg_fail(ctx, LG_ERR_ARG, "%s: out= is not supported inside vmap "
                   "on batched tensors", name);
  bool inplace = (p->flags & LG_FLAG_INPLACE) != 0;
  int bd[MAX_IN];
  lg_tensor *phys[MAX_IN];
  for (int i = 0; i < n_in; i++) {
    lg_tensor *v = lg_vmap_value(in[i], L->level, &bd[i]);
    phys[i] = v ? v : in[i];
    if (!v) bd[i] = -1;
  }
  if ((inplace || op == LG_OP_COPY || op == LG_OP_FILL) && bd[0] < 0)
    return lg_fail(ctx, LG_ERR_ARG,
                   "%s: an in-place op can't write batched values into a "
                   "tensor that is not batched inside vmap (make it batched, "
                   "or use the out-of-place op)", name);
  int nout = lg_op_num_outputs(op);
  lg_tensor *pout[8] = {0};
  int obd[8] = {0};
  lg_batch_fn rule = lg_batch_rule(op);
  lg_vmap_state *S = ctx->vmap;
  int saved = S->below;
  S->below = below;
  lg_status st = rule == lg_batch_none
                     ? lg_batch_loop(ctx, op, n_in, phys, bd, p, pout, obd)
                     : rule(ctx, op, n_in, phys, bd, p, pout, obd);
  S->below = saved;
  if (st) return st;
  if (inplace || op == LG_OP_COPY || op == LG_OP_FILL) {
    vb_release(nout, pout);
    outs[0] = lg_tensor_retain(in[0]);
    return LG_OK;
  }
  return wrap_outputs(ctx, L, nout, pout, obd, outs);
}

lg_status lg_vmap_push(lg_ctx *ctx, int64_t batch_size, int randomness,
                       int *level) {
  lg_vmap_state *S = state_of(ctx);
  if (!S) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  if (S->n_levels == LG_VMAP_MAX_LEVELS)
    return lg_fail(ctx, LG_ERR_ARG, "vmap: more than %d nested levels",
                   LG_VMAP_MAX_LEVELS);
  if (batch_size < 0)
    return lg_fail(ctx, LG_ERR_ARG, "vmap: negative batch size %lld",
                   (long long)batch_size);
  lg_vmap_level *L = lg_mem_alloc(ctx, sizeof *L);
  if (!L) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  L->layer = (lg_layer){"vmap", vmap_run, L};
  L->level = ++S->next_level;
  L->batch_size = batch_size;
  L->randomness = randomness;
  lg_status st = lg_layer_push(ctx, &L->layer);
  if (st) {
    lg_mem_free(ctx, L, sizeof *L);
    return st;
  }
  S->levels[S->n_levels++] = L;
  *level = L->level;
  return LG_OK;
}

lg_status lg_vmap_pop(lg_ctx *ctx, int level) {
  lg_vmap_state *S = ctx->vmap;
  if (!S || S->n_levels == 0 || S->levels[S->n_levels - 1]->level != level)
    return lg_fail(ctx, LG_ERR_ARG, "vmap: level %d is not the innermost "
                   "one", level);
  lg_vmap_level *L = S->levels[S->n_levels - 1];
  lg_status st = lg_layer_pop(ctx, &L->layer);
  if (st) return st;
  S->n_levels--;
  lg_mem_free(ctx, L, sizeof *L);
  return LG_OK;
}

const char *lg_vmap_take_warning(lg_ctx *ctx) {
  lg_vmap_state *S = ctx->vmap;
  if (!S || S->n_pending == 0) return NULL;
  return lg_op_name((lg_op)S->pending[--S->n_pending]);
}

/* ---- helpers of the rules ------------------------------------------------ */

lg_status vb_run(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                 const lg_params *p, lg_tensor **outs) {
  static const lg_params none;
  return lg_dispatch(ctx, ctx->vmap->below, op, n_in, in, p ? p : &none,
                     outs);
}

lg_status vb_run1(lg_ctx *ctx, lg_op op, lg_tensor *x, const lg_params *p,
                  lg_tensor **out) {
  lg_tensor *in[1] = {x};
  *out = NULL;
  return vb_run(ctx, op, 1, in, p, out);
}

int64_t vb_batch_size(int n_in, lg_tensor *const *in, const int *bdim) {
  for (int i = 0; i < n_in; i++)
    if (bdim[i] >= 0) return in[i]->sizes[bdim[i]];
  return 1;
}

int vb_rank(const lg_tensor *x, int bdim) {
  return bdim >= 0 ? x->ndim - 1 : x->ndim;
}

int64_t vb_dim(int64_t dim, int rank) {
  return (dim < 0 ? dim + rank : dim) + 1;
}

lg_status vb_front(lg_ctx *ctx, lg_tensor *x, int bdim, int rank,
                   lg_tensor **out) {
  *out = NULL;
  if (bdim < 0) {
    *out = lg_tensor_retain(x);
    return LG_OK;
  }
  int own = x->ndim - 1, pad = rank > own ? rank - own : 0;
  if (bdim == 0 && pad == 0) {
    *out = lg_tensor_retain(x);
    return LG_OK;
  }
  if (own + pad + 1 > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_ARG, "vmap: more than %d dims", LG_MAX_DIMS);
  /* the shape after the move: batch dim first, pad size-1 dims, the rest */
  int64_t sizes[LG_MAX_DIMS];
  int n = 0;
  sizes[n++] = x->sizes[bdim];
  for (int i = 0; i < pad; i++) sizes[n++] = 1;
  for (int i = 0; i < x->ndim; i++)
    if (i != bdim) sizes[n++] = x->sizes[i];
  /* through the ops (permute, then view), so autograd sees the moves */
  lg_params pp = {0};
  pp.n_ints = x->ndim;
  pp.ints[0] = bdim;
  for (int i = 0, k = 1; i < x->ndim; i++)
    if (i != bdim) pp.ints[k++] = i;
  lg_tensor *moved = NULL;
  lg_status st = bdim == 0 ? (moved = lg_tensor_retain(x), LG_OK)
                           : vb_run1(ctx, LG_OP_PERMUTE, x, &pp, &moved);
  if (st || pad == 0) {
    *out = moved;
    return st;
  }
  lg_params pv = {0};
  pv.n_ints = n;
  memcpy(pv.ints, sizes, sizeof(int64_t) * (size_t)n);
  st = vb_run1(ctx, LG_OP_RESHAPE, moved, &pv, out);
  lg_tensor_release(moved);
  return st;
}

lg_status vb_all(lg_ctx *ctx, lg_tensor *x, int bdim, int64_t b,
                 lg_tensor **out) {
  if (bdim >= 0) return vb_front(ctx, x, bdim, 0, out);
  *out = NULL;
  if (x->ndim + 1 > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_ARG, "vmap: more than %d dims", LG_MAX_DIMS);
  lg_params pu = {0};
  pu.dim = 0;
  lg_tensor *u = NULL;
  lg_status st = vb_run1(ctx, LG_OP_UNSQUEEZE, x, &pu, &u);
  if (st) return st;
  lg_params pe = {0};
  pe.n_ints = u->ndim;
  for (int i = 0; i < u->ndim; i++) pe.ints[i] = u->sizes[i];
  pe.ints[0] = b;
  st = vb_run1(ctx, LG_OP_EXPAND, u, &pe, out);
  lg_tensor_release(u);
  return st;
}

lg_status vb_fold(lg_ctx *ctx, lg_tensor *x, int n, lg_tensor **out) {
  lg_params p = {0};
  int64_t m = 1;
  for (int i = 0; i < n; i++) m *= x->sizes[i];
  p.ints[0] = m;
  p.n_ints = 1;
  for (int i = n; i < x->ndim; i++) p.ints[p.n_ints++] = x->sizes[i];
  return vb_run1(ctx, LG_OP_RESHAPE, x, &p, out);
}

lg_status vb_unfold(lg_ctx *ctx, lg_tensor *x, int64_t b, lg_tensor **out) {
  *out = NULL;
  if (x->ndim + 1 > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_ARG, "vmap: more than %d dims", LG_MAX_DIMS);
  lg_params p = {0};
  p.ints[0] = b;
  p.ints[1] = b ? x->sizes[0] / b : 0;
  p.n_ints = 2;
  for (int i = 1; i < x->ndim; i++) p.ints[p.n_ints++] = x->sizes[i];
  return vb_run1(ctx, LG_OP_RESHAPE, x, &p, out);
}

lg_status vb_fold_channels(lg_ctx *ctx, lg_tensor *x, lg_tensor **out) {
  *out = NULL;
  if (x->ndim < 3)
    return lg_fail(ctx, LG_ERR_ARG, "vmap: expected examples of at least 2 "
                   "dims (N, C, ...), got %dD", x->ndim - 1);
  lg_params pp = {0}, pr = {0};
  pp.n_ints = pr.n_ints = x->ndim;
  for (int i = 0; i < x->ndim; i++) pp.ints[i] = i;
  pp.ints[0] = 1, pp.ints[1] = 0;
  pr.n_ints = x->ndim - 1;
  pr.ints[0] = x->sizes[1];
  pr.ints[1] = x->sizes[0] * x->sizes[2];
  for (int i = 3; i < x->ndim; i++) pr.ints[i - 1] = x->sizes[i];
  lg_tensor *moved = NULL;
  lg_status st = vb_run1(ctx, LG_OP_PERMUTE, x, &pp, &moved);
  if (!st) st = vb_run1(ctx, LG_OP_RESHAPE, moved, &pr, out);
  lg_tensor_release(moved);
  return st;
}

lg_status vb_unfold_channels(lg_ctx *ctx, lg_tensor *x, int64_t b,
                             lg_tensor **out) {
  *out = NULL;
  if (x->ndim < 2 || x->ndim + 1 > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_ARG, "vmap: can't split %dD channels", x->ndim);
  lg_params p = {0};
  p.n_ints = x->ndim + 1;
  p.ints[0] = x->sizes[0];
  p.ints[1] = b;
  p.ints[2] = b ? x->sizes[1] / b : 0;
  for (int i = 2; i < x->ndim; i++) p.ints[i + 1] = x->sizes[i];
  return vb_run1(ctx, LG_OP_RESHAPE, x, &p, out);
}

/* ---- random draws ----------------------------------------------------- */

lg_status lg_vmap_random_check(lg_ctx *ctx, const char *name,
                               bool different) {
  lg_vmap_state *S = ctx->vmap;
  for (int i = 0; S && i < S->n_levels; i++) {
    int r = S->levels[i]->randomness;
    if (r == LG_RANDOMNESS_ERROR)
      return lg_fail(ctx, LG_ERR_ARG, "%s: a random op inside vmap with "
                     "randomness = \"error\"; pass randomness = "
                     "\"different\" (each example draws its own numbers) or "
                     "\"same\" (all examples draw the same) to func.vmap",
                     name);
    if (r == LG_RANDOMNESS_DIFFERENT && !different)
      return lg_fail(ctx, LG_ERR_ARG, "%s: randomness = \"different\" is not "
                     "supported for it inside vmap; use \"same\"", name);
  }
  return LG_OK;
}

lg_status lg_vmap_random_plain(lg_ctx *ctx, const char *name, int n,
                               const lg_tensor *const *ts) {
  if (!ctx->vmap || ctx->vmap->n_levels == 0) return LG_OK;
  lg_status st = lg_vmap_random_check(ctx, name, false);
  for (int i = 0; i < n && !st; i++)
    if (ts[i] && ts[i]->batched)
      st = lg_fail(ctx, LG_ERR_ARG, "%s: batched tensors (inside vmap) are "
                   "not supported by it yet", name);
  return st;
}

lg_status lg_vmap_random_empty(lg_ctx *ctx, const char *name, lg_dtype dtype,
                               int ndim, const int64_t *sizes,
                               lg_tensor **out) {
  lg_status st = lg_vmap_random_check(ctx, name, true);
  if (st) return st;
  lg_vmap_state *S = ctx->vmap;
  int64_t all[LG_MAX_DIMS];
  int n = 0;
  for (int i = 0; S && i < S->n_levels; i++)
    if (S->levels[i]->randomness == LG_RANDOMNESS_DIFFERENT) {
      if (n == LG_MAX_DIMS) break;
      all[n++] = S->levels[i]->batch_size;
    }
  if (n == 0) return lg_empty(ctx, dtype, ndim, sizes, out);
  if (ndim < 0 || n + ndim > LG_MAX_DIMS)
    return lg_fail(ctx, LG_ERR_ARG, "%s: more than %d dims inside vmap",
                   name, LG_MAX_DIMS);
  for (int i = 0; i < ndim; i++) all[n + i] = sizes[i];
  return lg_empty(ctx, dtype, n + ndim, all, out);
}

lg_status lg_vmap_random_wrap(lg_ctx *ctx, lg_tensor **t) {
  lg_vmap_state *S = ctx->vmap;
  for (int i = 0; S && i < S->n_levels; i++) {
    if (S->levels[i]->randomness != LG_RANDOMNESS_DIFFERENT) continue;
    lg_tensor *w = NULL;
    lg_status st = lg_vmap_wrap(ctx, *t, 0, S->levels[i]->level, &w);
    lg_tensor_release(*t);
    *t = w;
    if (st) return st;
  }
  return LG_OK;
}

/* ---- the per-example loop -------------------------------------------- */

static void warn_once(lg_ctx *ctx, lg_op op) {
  lg_vmap_state *S = ctx->vmap;
  if (S->warned[op]) return;
  S->warned[op] = 1;
  S->pending[S->n_pending++] = op;
}

/* Concatenates n tensors on dim 0 (through the ops), in groups of at most
 * LOOP_GROUP so that cat's backward stays within a rule's temporaries. */
enum { LOOP_GROUP = 16 };
static lg_status cat0(lg_ctx *ctx, int64_t n, lg_tensor **parts,
                      lg_tensor **out) {
  lg_params pc = {0};
  *out = NULL;
  if (n <= LOOP_GROUP) return vb_run(ctx, LG_OP_CAT, (int)n, parts, &pc, out);
  /* LOOP_GROUP groups of `per` parts, each concatenated (recursively) */
  int64_t per = (n + LOOP_GROUP - 1) / LOOP_GROUP;
  lg_tensor *g[LOOP_GROUP] = {0};
  lg_status st = LG_OK;
  int k = 0;
  for (int64_t i = 0; i < n && !st; i += per, k++)
    st = cat0(ctx, n - i < per ? n - i : per, parts + i, &g[k]);
  if (!st) st = vb_run(ctx, LG_OP_CAT, k, g, &pc, out);
  vb_release(k, g);
  return st;
}

/* Stacks n equally shaped tensors on a new dim 0 (through the ops). */
static lg_status stack0(lg_ctx *ctx, int64_t n, lg_tensor **parts,
                        lg_tensor **out) {
  lg_status st = LG_OK;
  lg_tensor **u = lg_mem_alloc(ctx, sizeof *u * (size_t)(n ? n : 1));
  if (!u) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  memset(u, 0, sizeof *u * (size_t)(n ? n : 1));
  lg_params pu = {0};
  for (int64_t i = 0; i < n && !st; i++)
    st = vb_run1(ctx, LG_OP_UNSQUEEZE, parts[i], &pu, &u[i]);
  if (!st) st = cat0(ctx, n, u, out);
  vb_release((int)n, u);
  lg_mem_free(ctx, u, sizeof *u * (size_t)(n ? n : 1));
  return st;
}

lg_status lg_batch_loop(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                        const int *in_bdim, const lg_params *p,
                        lg_tensor **outs, int *out_bdim) {
  enum { MAX_IN = 64 };
  int64_t b = vb_batch_size(n_in, in, in_bdim);
  int nout = lg_op_num_outputs(op);
  if (b == 0)
    return lg_fail(ctx, LG_ERR_ARG, "%s: no rule for an empty batch inside "
                   "vmap", lg_op_name(op));
  warn_once(ctx, op);
  size_t bytes = sizeof(lg_tensor *) * (size_t)(b * nout);
  lg_tensor **res = lg_mem_alloc(ctx, bytes);
  if (!res) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  memset(res, 0, bytes);
  lg_status st = LG_OK;
  for (int64_t e = 0; e < b && !st; e++) {
    lg_tensor *slice[MAX_IN] = {0};
    for (int i = 0; i < n_in && !st; i++) {
      if (in_bdim[i] < 0) {
        slice[i] = lg_tensor_retain(in[i]);
        continue;
      }
      lg_params ps = {0};
      ps.dim = in_bdim[i];
      ps.start = e;
      st = vb_run1(ctx, LG_OP_SELECT, in[i], &ps, &slice[i]);
    }
    lg_tensor *o[8] = {0};
    if (!st) st = vb_run(ctx, op, n_in, slice, p, o);
    for (int k = 0; k < nout; k++) res[(size_t)k * (size_t)b + (size_t)e] = o[k];
    vb_release(n_in, slice);
  }
  for (int k = 0; k < nout && !st; k++) {
    st = stack0(ctx, b, res + (size_t)k * (size_t)b, &outs[k]);
    out_bdim[k] = 0;
  }
  vb_release((int)(b * nout), res);
  lg_mem_free(ctx, res, bytes);
  if (st) vb_release(nout, outs);
  return st;
}
