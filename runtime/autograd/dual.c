/* dual.c: forward-mode AD. A dual level is a layer of the dispatch stack;
 * a tensor carries at most one tangent per level (kept in its autograd
 * state, as PyTorch keeps fw_grad). An op reaching a level's layer with an
 * input that has a tangent at that level runs one layer down for the
 * primal results, then the op's jvp rule (the jvp column of lg_ops.h)
 * computes the outputs' tangents with differentiable ops run from the top
 * of the stack while the level is suspended: other levels and autograd see
 * the rule's ops, so forward-over-forward, forward-over-reverse and
 * reverse-over-forward compose, and the level never sees its own rule.
 * In place on a dual tensor: the op runs in place below, the rule sees a
 * copy of self's old values, and self's tangent is updated in place (views
 * of it, tangents of views, follow). Level ids are never reused, so a
 * tangent of a level that has exited is never found again; it is freed
 * with its tensor.
 */
#include <string.h>

#include "autograd.h"
#include "dtype.h"

typedef struct lg_tangent {
  uint64_t level;
  lg_tensor *t;
  struct lg_tangent *next;
} lg_tangent;

typedef struct dual_level {
  lg_layer layer;  /* ud points back here */
  uint64_t id;
  int suspended;   /* > 0 while the level's own rule runs */
} dual_level;

void lg_dual_tangents_free(lg_ctx *ctx, lg_autograd_meta *m) {
  lg_tangent *e = m->tangents;
  m->tangents = NULL;
  while (e) {
    lg_tangent *next = e->next;
    lg_tensor_release(e->t);
    lg_cache_free(ctx, e, sizeof *e);
    e = next;
  }
}

static lg_status dual_run(lg_ctx *ctx, const lg_layer *layer, int level,
                          lg_op op, int n_in, lg_tensor *const *in,
                          const lg_params *p, lg_tensor **outs);

/* The level at position i of the stack, or NULL when that is no level. */
static dual_level *level_at(const lg_ctx *ctx, int i) {
  const lg_layer *l = ctx->layers[i];
  return l->run == dual_run ? (dual_level *)l->ud : NULL;
}

/* The active level numbered id, or NULL. */
static dual_level *find_level(const lg_ctx *ctx, uint64_t id) {
  for (int i = ctx->n_layers - 1; i >= 0; i--) {
    dual_level *d = level_at(ctx, i);
    if (d && d->id == id) return d;
  }
  return NULL;
}

static bool level_active(const lg_ctx *ctx, uint64_t id) {
  return find_level(ctx, id) != NULL;
}

static lg_tangent *find(const lg_tensor *t, uint64_t level) {
  const lg_autograd_meta *m = t->autograd;
  for (lg_tangent *e = m ? m->tangents : NULL; e; e = e->next)
    if (e->level == level) return e;
  return NULL;
}

lg_tensor *lg_tensor_tangent(const lg_tensor *t, uint64_t level) {
  lg_tangent *e = find(t, level);
  return e ? e->t : NULL;
}

bool lg_tensor_is_dual(const lg_tensor *t) {
  const lg_autograd_meta *m = t->autograd;
  lg_ctx *ctx = t->storage->ctx;
  for (lg_tangent *e = m ? m->tangents : NULL; e; e = e->next)
    if (level_active(ctx, e->level)) return true;
  return false;
}

uint64_t lg_dual_level_current(const lg_ctx *ctx) {
  for (int i = ctx->n_layers - 1; i >= 0; i--) {
    dual_level *d = level_at(ctx, i);
    if (d) return d->id;
  }
  return 0;
}

/* Sets (tangent non-NULL) or removes t's tangent at level; takes a new
 * reference to tangent. */
static lg_status set_tangent(lg_ctx *ctx, lg_tensor *t, uint64_t level,
                             lg_tensor *tangent) {
  lg_autograd_meta *m = tangent ? lg_autograd_meta_ensure(ctx, t) : t->autograd;
  if (!m) return tangent ? LG_ERR_MEMORY : LG_OK;
  for (lg_tangent **pe = &m->tangents; *pe; pe = &(*pe)->next) {
    if ((*pe)->level != level) continue;
    lg_tensor *old = (*pe)->t;
    if (tangent) {
      (*pe)->t = lg_tensor_retain(tangent);
    } else {
      lg_tangent *dead = *pe;
      *pe = dead->next;
      lg_cache_free(ctx, dead, sizeof *dead);
    }
    lg_tensor_release(old);
    return LG_OK;
  }
  if (!tangent) return LG_OK;
  lg_tangent *e = lg_cache_alloc(ctx, sizeof *e);
  if (!e) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  e->level = level;
  e->t = lg_tensor_retain(tangent);
  e->next = m->tangents;
  m->tangents = e;
  return LG_OK;
}

/* ---- levels ------------------------------------------------------------- */

lg_status lg_dual_level_enter(lg_ctx *ctx, uint64_t *level) {
  dual_level *d = lg_mem_alloc(ctx, sizeof *d);
  if (!d) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  d->layer = (lg_layer){"dual", dual_run, d};
  d->id = ++ctx->dual_levels;
  d->suspended = 0;
  lg_status st = lg_layer_push(ctx, &d->layer);
  if (st) {
    lg_mem_free(ctx, d, sizeof *d);
    return st;
  }
  *level = d->id;
  return LG_OK;
}

lg_status lg_dual_level_exit(lg_ctx *ctx, uint64_t level) {
  dual_level *d = ctx->n_layers > 0 ? level_at(ctx, ctx->n_layers - 1) : NULL;
  if (!d || d->id != level)
    return lg_fail(ctx, LG_ERR_ARG,
                   "dual_level: level %llu is not the innermost layer (levels "
                   "and transforms exit in the reverse order of entering)",
                   (unsigned long long)level);
  lg_status st = lg_layer_pop(ctx, &d->layer);
  if (!st) lg_mem_free(ctx, d, sizeof *d);
  return st;
}

void lg_dual_levels_free(lg_ctx *ctx) {
  for (int i = ctx->n_layers - 1; i >= 0; i--) {
    dual_level *d = level_at(ctx, i);
    if (d) lg_mem_free(ctx, d, sizeof *d);
  }
}

/* ---- making and unpacking duals ----------------------------------------- */

static lg_status check_level(lg_ctx *ctx, const char *fname, uint64_t level) {
  if (!level_active(ctx, level))
    return lg_fail(ctx, LG_ERR_ARG, "%s: no dual level is active; enter one "
                   "with forward_ad.dual_level()", fname);
  return LG_OK;
}

/* A view of t (through the stack) that level d does not see, so it takes
 * no tangent of d; other levels and autograd see it as usual. */
static lg_status view_outside(lg_ctx *ctx, dual_level *d, lg_tensor *t,
                              lg_tensor **out) {
  lg_params p = {0};
  p.n_ints = t->ndim;
  for (int i = 0; i < t->ndim; i++) p.ints[i] = t->sizes[i];
  d->suspended++;
  lg_status st = lg_op_run(ctx, LG_OP_VIEW, 1, &t, &p, out);
  d->suspended--;
  return st;
}

lg_status lg_make_dual(lg_ctx *ctx, lg_tensor *primal, lg_tensor *tangent,
                       uint64_t level, lg_tensor **out) {
  *out = NULL;
  lg_status st = check_level(ctx, "make_dual", level);
  if (st) return st;
  if (!lg_dtype_is_float(primal->dtype))
    return lg_fail(ctx, LG_ERR_DTYPE, "make_dual: expected a float32 or "
                   "float64 primal, got %s", lg_dtype_name(primal->dtype));
  st = lg_check_like(ctx, tangent, primal, "make_dual: the tangent",
                     "the primal's");
  if (st) return st;
  /* a view of the primal (recorded, so gradients still reach it) */
  st = view_outside(ctx, find_level(ctx, level), primal, out);
  if (!st) st = set_tangent(ctx, *out, level, tangent);
  if (st) {
    lg_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

lg_status lg_unpack_dual(lg_ctx *ctx, lg_tensor *t, uint64_t level,
                         lg_tensor **primal, lg_tensor **tangent) {
  *primal = *tangent = NULL;
  dual_level *d = find_level(ctx, level);
  lg_tensor *tan = d ? lg_tensor_tangent(t, level) : NULL;
  if (!tan) {
    *primal = lg_tensor_retain(t);
    return LG_OK;
  }
  lg_status st = view_outside(ctx, d, t, primal);
  if (!st) *tangent = lg_tensor_retain(tan);
  return st;
}

/* ---- the layer ---------------------------------------------------------- */

/* Runs the rule with d suspended; attaches the outputs' tangents. */
static lg_status run_rule(lg_ctx *ctx, dual_level *d, lg_op op, int n_in,
                          lg_tensor *const *primal, lg_tensor *const *tan,
                          const lg_params *p, lg_tensor *const *outs,
                          lg_tensor **out_t) {
  int n_out = lg_op_num_outputs(op);
  for (int k = 0; k < n_out; k++) out_t[k] = NULL;
  lg_params q = *p;
  q.flags &= ~(LG_FLAG_INPLACE | LG_FLAG_OUT);
  d->suspended++;
  lg_status st = lg_jvp_rule(op)(ctx, op, n_in, primal, tan, &q, outs, out_t);
  d->suspended--;
  for (int k = 0; k < n_out && !st; k++) {
    if (!out_t[k]) continue;
    if (!lg_dtype_is_float(outs[k]->dtype)) {
      lg_tensor_release(out_t[k]);
      out_t[k] = NULL;
    } else if (out_t[k]->dtype != outs[k]->dtype ||
               !lg_tensor_has_shape(out_t[k], outs[k]->ndim, outs[k]->sizes)) {
      st = lg_fail(ctx, LG_ERR_RUNTIME, "%s: the jvp rule gave a tangent of "
                   "another shape or dtype than its output", lg_op_name(op));
    }
  }
  if (st)
    for (int k = 0; k < n_out; k++) {
      lg_tensor_release(out_t[k]);
      out_t[k] = NULL;
    }
  return st;
}

/* Whether t's memory can take a write of every element (no expanded,
 * overlapping dims). */
static bool writable(const lg_tensor *t) {
  for (int i = 0; i < t->ndim; i++)
    if (t->strides[i] == 0 && t->sizes[i] > 1) return false;
  return true;
}

/* In place on a dual tensor (see the file comment). */
static lg_status in_place(lg_ctx *ctx, dual_level *d, int level, lg_op op,
                          int n_in, lg_tensor *const *in, lg_tensor *const *tan,
                          const lg_params *p, lg_tensor **outs) {
  lg_tensor *self = in[0], *old = NULL, *new_t = NULL;
  lg_tensor *args[LG_SAVES_MAX_INPUTS];
  if (n_in > LG_SAVES_MAX_INPUTS)
    return lg_fail(ctx, LG_ERR_ARG, "%s: too many inputs for forward mode",
                   lg_op_name(op));
  static const lg_params none;
  lg_status st = lg_dispatch(ctx, level, LG_OP_CLONE, 1, &self, &none, &old);
  if (st) return st;
  for (int i = 0; i < n_in; i++) args[i] = in[i] == self ? old : in[i];
  st = lg_dispatch(ctx, level, op, n_in, in, p, outs);
  if (!st) st = run_rule(ctx, d, op, n_in, args, tan, p, outs, &new_t);
  lg_tensor *self_t = lg_tensor_tangent(self, d->id);
  if (!st && self_t && writable(self_t) && self_t != new_t) {
    /* update the tangent in place, so views of it see the change */
    lg_params cp = {0};
    cp.flags = LG_FLAG_INPLACE;
    lg_tensor *r = NULL;
    d->suspended++;
    if (new_t) {
      lg_tensor *cin[2] = {self_t, new_t};
      st = lg_op_run(ctx, LG_OP_COPY, 2, cin, &cp, &r);
    } else {
      st = lg_op_run(ctx, LG_OP_FILL, 1, &self_t, &cp, &r);
    }
    d->suspended--;
    lg_tensor_release(r);
  } else if (!st && new_t) {
    lg_tensor *fresh = NULL; /* never alias another tensor's tangent */
    d->suspended++;
    st = lg_run1(ctx, LG_OP_CLONE, new_t, NULL, &fresh);
    d->suspended--;
    if (!st) st = set_tangent(ctx, self, d->id, fresh);
    lg_tensor_release(fresh);
  } else if (!st) {
    st = set_tangent(ctx, self, d->id, NULL);
  }
  lg_tensor_release(new_t);
  lg_tensor_release(old);
  if (st) {
    lg_tensor_release(outs[0]);
    outs[0] = NULL;
  }
  return st;
}

static lg_status dual_run(lg_ctx *ctx, const lg_layer *layer, int level,
                          lg_op op, int n_in, lg_tensor *const *in,
                          const lg_params *p, lg_tensor **outs) {
  dual_level *d = layer->ud;
  if (d->suspended) return lg_dispatch(ctx, level, op, n_in, in, p, outs);
  enum { SMALL = 8 };
  lg_tensor *small[SMALL], **tan = small;
  if (n_in > SMALL) {
    tan = lg_mem_alloc(ctx, sizeof *tan * (size_t)n_in);
    if (!tan) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  }
  bool any = false;
  for (int i = 0; i < n_in; i++) {
    tan[i] = lg_tensor_tangent(in[i], d->id);
    any = any || tan[i];
  }
  lg_status st;
  if (!any) {
    st = lg_dispatch(ctx, level, op, n_in, in, p, outs);
  } else if (p->flags & LG_FLAG_OUT) {
    st = lg_fail(ctx, LG_ERR_ARG, "%s: out= arguments don't support "
                 "forward-mode AD, but an argument is a dual tensor",
                 lg_op_name(op));
  } else if (p->flags & LG_FLAG_INPLACE) {
    st = in_place(ctx, d, level, op, n_in, in, tan, p, outs);
  } else {
    int n_out = lg_op_num_outputs(op);
    lg_tensor *out_t[8] = {NULL};
    st = lg_dispatch(ctx, level, op, n_in, in, p, outs);
    if (!st) st = run_rule(ctx, d, op, n_in, in, tan, p, outs, out_t);
    for (int k = 0; k < n_out && !st; k++)
      if (out_t[k]) st = set_tangent(ctx, outs[k], d->id, out_t[k]);
    for (int k = 0; k < n_out; k++) {
      lg_tensor_release(out_t[k]);
      if (st) {
        lg_tensor_release(outs[k]);
        outs[k] = NULL;
      }
    }
  }
  if (tan != small) lg_mem_free(ctx, tan, sizeof *tan * (size_t)n_in);
  return st;
}
