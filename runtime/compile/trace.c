/* trace.c: recording one run of a function into a plan (func.compile).
 *
 * While ctx->trace is set, lg_run_kernel hands every outermost kernel call
 * here (dispatch.c): the call runs as usual and becomes a step; its tensors
 * become values, found again by identity (the trace holds a reference to
 * each, so no address is reused while it records). Outputs that share an
 * input's storage are views, resolved now: replay never calls view kernels.
 * The trace also keeps, per storage, the version its last recorded use left:
 * a version that moved in between was written outside any op (a fused C
 * optimizer step, a host write), which the plan could not replay, so it
 * taints the trace like a value read (lg_trace_taint) and lg_trace_end then
 * fails with the first reason. Two calls that are not kernels are recorded
 * as steps of their own: the fused optimizer updates (lg_trace_optim) and
 * the random draws (lg_trace_draw; a replay draws afresh from the context's
 * stream, so compiled calls give the numbers eager calls would).
 */
#include <stdio.h>
#include <string.h>

#include "compile.h"

typedef struct seen_storage {
  const lg_storage *s;
  uint64_t version;  /* what the last recorded use left; UINT64_MAX: none */
  bool born;         /* allocated while the trace recorded               */
  int root;          /* the first non-view value on it, -1 when none      */
} seen_storage;

typedef struct lg_tracer lg_tracer;
struct lg_tracer {
  lg_plan *plan;            /* being filled                              */
  lg_tensor **src;          /* per value: the traced tensor (held)       */
  int cap_src;
  /* tensor -> value: open addressing over pointers */
  const lg_tensor **keys;
  int *key_val;
  int cap_keys, n_keys;
  seen_storage *storages;
  int n_storages, cap_storages;
  char taint[LG_ERROR_SIZE]; /* "" while the trace is replayable          */
};

lg_status lg_grow(lg_ctx *ctx, void **items, int *cap, int need,
                  size_t item) {
  if (need <= *cap) return LG_OK;
  int cap2 = *cap ? *cap : 16;
  while (cap2 < need) cap2 *= 2;
  void *grown = lg_mem_alloc(ctx, item * (size_t)cap2);
  if (!grown) return lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
  if (*cap) {
    memcpy(grown, *items, item * (size_t)*cap);
    lg_mem_free(ctx, *items, item * (size_t)*cap);
  }
  *items = grown;
  *cap = cap2;
  return LG_OK;
}
#define GROW(ctx, arr, cap, need) \
  lg_grow(ctx, (void **)&(arr), &(cap), need, sizeof *(arr))

/* ---- tensor -> value ------------------------------------------------------ */

static size_t hash_ptr(const void *p, int cap) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 17;
  x *= (uintptr_t)0x9e3779b97f4a7c15u;
  return (size_t)(x >> 7) & (size_t)(cap - 1);
}

static int lookup(const lg_tracer *tr, const lg_tensor *t) {
  if (!tr->cap_keys) return -1;
  for (size_t i = hash_ptr(t, tr->cap_keys);; i = (i + 1) & (size_t)(tr->cap_keys - 1)) {
    if (!tr->keys[i]) return -1;
    if (tr->keys[i] == t) return tr->key_val[i];
  }
}

static lg_status insert_key(lg_ctx *ctx, lg_tracer *tr, const lg_tensor *t,
                            int v) {
  if (2 * (tr->n_keys + 1) > tr->cap_keys) {
    int cap = tr->cap_keys ? tr->cap_keys * 2 : 64;
    const lg_tensor **keys = lg_mem_alloc(ctx, sizeof *keys * (size_t)cap);
    int *vals = lg_mem_alloc(ctx, sizeof *vals * (size_t)cap);
    if (!keys || !vals) {
      lg_mem_free(ctx, keys, sizeof *keys * (size_t)cap);
      lg_mem_free(ctx, vals, sizeof *vals * (size_t)cap);
      return lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
    }
    memset(keys, 0, sizeof *keys * (size_t)cap);
    for (int i = 0; i < tr->cap_keys; i++) {
      if (!tr->keys[i]) continue;
      size_t j = hash_ptr(tr->keys[i], cap);
      while (keys[j]) j = (j + 1) & (size_t)(cap - 1);
      keys[j] = tr->keys[i];
      vals[j] = tr->key_val[i];
    }
    if (tr->cap_keys) {
      lg_mem_free(ctx, tr->keys, sizeof *tr->keys * (size_t)tr->cap_keys);
      lg_mem_free(ctx, tr->key_val, sizeof *tr->key_val * (size_t)tr->cap_keys);
    }
    tr->keys = keys;
    tr->key_val = vals;
    tr->cap_keys = cap;
  }
  size_t i = hash_ptr(t, tr->cap_keys);
  while (tr->keys[i]) i = (i + 1) & (size_t)(tr->cap_keys - 1);
  tr->keys[i] = t;
  tr->key_val[i] = v;
  tr->n_keys++;
  return LG_OK;
}

/* ---- storages: versions and birth ------------------------------------------ */

static seen_storage *find_storage(lg_tracer *tr, const lg_storage *s) {
  for (int i = tr->n_storages - 1; i >= 0; i--)
    if (tr->storages[i].s == s) return &tr->storages[i];
  return NULL;
}

static seen_storage *add_storage(lg_ctx *ctx, lg_tracer *tr,
                                 const lg_storage *s) {
  seen_storage *e = find_storage(tr, s);
  if (e) return e;
  if (GROW(ctx, tr->storages, tr->cap_storages, tr->n_storages + 1))
    return NULL;
  e = &tr->storages[tr->n_storages++];
  e->s = s;
  e->version = UINT64_MAX;
  e->born = false;
  e->root = -1;
  return e;
}

void lg_trace_note_storage(lg_ctx *ctx, const lg_storage *s) {
  lg_tracer *tr = ctx->trace;
  if (ctx->trace_depth) return; /* a kernel's own result or scratch */
  seen_storage *e = add_storage(ctx, tr, s);
  if (e) e->born = true;
  else lg_trace_taint(ctx, "out of memory while tracing");
}

/* A storage about to be read by a recorded step: its version must be what
 * the last recorded use left. */
static void check_version(lg_ctx *ctx, lg_tracer *tr, const lg_tensor *t) {
  seen_storage *e = add_storage(ctx, tr, t->storage);
  if (!e) {
    lg_trace_taint(ctx, "out of memory while tracing");
    return;
  }
  if (e->version != UINT64_MAX && e->version != t->storage->version)
    lg_trace_taint(ctx, "a %s tensor of shape {%lld...} was written outside "
                   "an op during the trace (a fused optimizer step or a C "
                   "write), which a replay would not repeat",
                   lg_dtype_name(t->dtype),
                   t->ndim ? (long long)t->sizes[0] : 1LL);
}

static void settle_version(lg_tracer *tr, const lg_tensor *t) {
  seen_storage *e = find_storage(tr, t->storage);
  if (e) e->version = t->storage->version;
}

/* ---- values -------------------------------------------------------------- */

static lg_status new_val(lg_ctx *ctx, lg_tracer *tr, lg_tensor *t, int kind,
                         int *id) {
  lg_plan *plan = tr->plan;
  if (GROW(ctx, plan->vals, plan->cap_vals, plan->n_vals + 1) ||
      GROW(ctx, tr->src, tr->cap_src, plan->n_vals + 1))
    return LG_ERR_MEMORY;
  int v = plan->n_vals;
  lg_plan_val *val = &plan->vals[v];
  memset(val, 0, sizeof *val);
  val->kind = kind;
  val->arg = val->root = -1;
  val->dtype = t->dtype;
  val->ndim = t->ndim;
  memcpy(val->sizes, t->sizes, sizeof val->sizes);
  memcpy(val->strides, t->strides, sizeof val->strides);
  val->def = -1;
  val->last = -1;
  if (insert_key(ctx, tr, t, v)) return LG_ERR_MEMORY;
  tr->src[v] = lg_tensor_retain(t);
  plan->n_vals++;
  *id = v;
  seen_storage *e = add_storage(ctx, tr, t->storage);
  if (!e) return lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
  if (kind != LG_VAL_VIEW && e->root < 0) e->root = v;
  return LG_OK;
}

static lg_status view_val(lg_ctx *ctx, lg_tracer *tr, lg_tensor *t, int in,
                          int *id);

/* The value of an input: known, or a constant seen for the first time. */
static lg_status input_val(lg_ctx *ctx, lg_tracer *tr, lg_tensor *t, int *id) {
  *id = lookup(tr, t);
  if (*id >= 0) return LG_OK;
  if (t->batched) {
    lg_trace_taint(ctx, "a vmap-batched tensor reached the trace");
  }
  /* a tensor made outside any op on the storage of a known value (detach,
   * an alias the binding made) views that value */
  seen_storage *e = find_storage(tr, t->storage);
  if (e && e->root >= 0) return view_val(ctx, tr, t, e->root, id);
  return new_val(ctx, tr, t, LG_VAL_CONST, id);
}

/* The root (non-view) value under v. */
static int root_of(const lg_plan *plan, int v) {
  return plan->vals[v].kind == LG_VAL_VIEW ? plan->vals[v].root : v;
}

/* An output sharing the storage of input value `in`: a view of its root. */
static lg_status view_val(lg_ctx *ctx, lg_tracer *tr, lg_tensor *t, int in,
                          int *id) {
  int root = root_of(tr->plan, in);
  lg_status st = new_val(ctx, tr, t, LG_VAL_VIEW, id);
  if (st) return st;
  lg_plan_val *val = &tr->plan->vals[*id];
  val->root = root;
  val->delta = t->offset - tr->src[root]->offset;
  return LG_OK;
}

/* Snapshot of a constant made during the trace before its first in-place
 * write: replay restores it, as running f again would recreate it. */
static lg_status snapshot_if_born(lg_ctx *ctx, lg_tracer *tr, int v) {
  lg_plan *plan = tr->plan;
  int r = root_of(plan, v);
  lg_plan_val *val = &plan->vals[r];
  if (val->kind != LG_VAL_CONST || val->snapshot) return LG_OK;
  const lg_storage *s = tr->src[r]->storage;
  seen_storage *e = find_storage(tr, s);
  if (!e || !e->born) return LG_OK;
  val->snapshot = lg_mem_alloc(ctx, s->nbytes ? s->nbytes : 1);
  if (!val->snapshot) return lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
  val->snapshot_bytes = s->nbytes;
  memcpy(val->snapshot, s->data, s->nbytes);
  return LG_OK;
}

/* The values of a recorded step's inputs, into plan->operands from first
 * (grown to hold extra more after them), each storage's version checked. */
static lg_status record_inputs(lg_ctx *ctx, lg_tracer *tr, lg_tensor *const *in,
                               int n_in, int first, int extra) {
  lg_plan *plan = tr->plan;
  if (GROW(ctx, plan->operands, plan->cap_operands, first + n_in + extra))
    return LG_ERR_MEMORY;
  for (int i = 0; i < n_in; i++) {
    int v;
    lg_status st = input_val(ctx, tr, in[i], &v);
    if (st) return st;
    check_version(ctx, tr, in[i]);
    plan->operands[first + i] = v;
  }
  return LG_OK;
}

/* ---- recording ------------------------------------------------------------ */

/* A new step of op over the operands from `first` (n_in inputs, n_out
 * outputs), appended to the plan. */
static lg_plan_step *add_step(lg_ctx *ctx, lg_plan *plan, lg_op op, int first,
                              int n_in, int n_out) {
  int s = plan->n_steps;
  if (GROW(ctx, plan->steps, plan->cap_steps, s + 1)) return NULL;
  lg_plan_step *step = &plan->steps[s];
  memset(step, 0, sizeof *step);
  step->op = op;
  step->n_in = n_in;
  step->n_out = n_out;
  step->first = first;
  plan->n_operands = first + n_in + n_out;
  plan->n_steps++;
  return step;
}


lg_status lg_trace_kernel(lg_ctx *ctx, lg_op op, int n_in,
                          lg_tensor *const *in, const lg_params *p,
                          lg_tensor **outs) {
  lg_tracer *tr = ctx->trace;
  lg_plan *plan = tr->plan;
  int n_out = lg_op_num_outputs(op);
  bool writes = p && (p->flags & (LG_FLAG_INPLACE | LG_FLAG_OUT));
  /* the values read, before the kernel runs (constants get their first
   * version, in-place targets their snapshot) */
  int first = plan->n_operands;
  lg_status rst = record_inputs(ctx, tr, in, n_in, first, n_out);
  if (rst) return rst;
  if (p && (p->flags & LG_FLAG_OUT) && outs[0]) {
    int v;
    lg_status st = input_val(ctx, tr, outs[0], &v);
    if (st) return st;
    check_version(ctx, tr, outs[0]);
  }
  if (writes) {
    lg_tensor *target = (p->flags & LG_FLAG_OUT) ? outs[0] : in[0];
    lg_status st = snapshot_if_born(ctx, tr, lookup(tr, target));
    if (st) return st;
  }
  ctx->trace_depth++;
  lg_status st = lg_run_kernel(ctx, op, n_in, in, p, outs);
  ctx->trace_depth--;
  if (st) return st;
  /* the outputs: written in place, views, aliases or new intermediates */
  bool recorded = false;
  for (int k = 0; k < n_out; k++) {
    lg_tensor *t = outs[k];
    int v = lookup(tr, t);
    if (v >= 0 && !(writes && k == 0)) {
      /* the kernel returned a tensor the trace already knows (an input
       * unchanged): replay reuses that value */
      plan->operands[first + n_in + k] = v;
      continue;
    }
    if (v < 0) {
      int shared = -1;
      for (int i = 0; i < n_in && shared < 0; i++)
        if (in[i]->storage == t->storage) shared = plan->operands[first + i];
      if (shared >= 0) {
        st = view_val(ctx, tr, t, shared, &v);
      } else {
        st = new_val(ctx, tr, t, LG_VAL_ARENA, &v);
        recorded = true;
      }
      if (st) return st;
    } else {
      recorded = true; /* in place / out= */
    }
    plan->operands[first + n_in + k] = v;
  }
  for (int i = 0; i < n_in; i++) settle_version(tr, in[i]);
  for (int k = 0; k < n_out; k++) settle_version(tr, outs[k]);
  if (!recorded) return LG_OK; /* views and aliases: nothing to run */
  int s = plan->n_steps;
  lg_plan_step *step = add_step(ctx, plan, op, first, n_in, n_out);
  if (!step) return LG_ERR_MEMORY;
  if (p) step->p = *p;
  for (int k = 0; k < n_out; k++) {
    lg_plan_val *val = &plan->vals[plan->operands[first + n_in + k]];
    if (writes && k == 0) {
      plan->vals[root_of(plan, plan->operands[first + n_in])].written = true;
    } else if (val->kind == LG_VAL_ARENA && val->def < 0) {
      val->def = s;
    }
  }
  return LG_OK;
}

/* A fused optimizer update (optim.c) as a step of its own: it reads the
 * gradient (and the step count), and writes the others in place. */
lg_status lg_trace_optim(lg_ctx *ctx, const lg_optim_call *call) {
  lg_tracer *tr = ctx->trace;
  lg_plan *plan = tr->plan;
  lg_tensor *in[LG_OPTIM_SLOTS];
  int slot_of[LG_OPTIM_SLOTS];
  int n_in = 0;
  unsigned slots = 0;
  for (int k = 0; k < LG_OPTIM_SLOTS; k++)
    if (call->t[k]) {
      slot_of[n_in] = k;
      in[n_in++] = call->t[k];
      slots |= 1u << k;
    }
  int first = plan->n_operands;
  lg_status st = record_inputs(ctx, tr, in, n_in, first, 0);
  for (int i = 0; i < n_in && !st; i++)
    if (slot_of[i] != LG_OPTIM_GRAD && slot_of[i] != LG_OPTIM_STEP)
      st = snapshot_if_born(ctx, tr, plan->operands[first + i]);
  if (st) return st;
  ctx->trace_depth++;
  st = lg_optim_step(ctx, call);
  ctx->trace_depth--;
  if (st) return st;
  for (int i = 0; i < n_in; i++) settle_version(tr, in[i]);
  lg_plan_step *step = add_step(ctx, plan, LG_PLAN_OPTIM, first, n_in, 0);
  if (!step) return LG_ERR_MEMORY;
  step->optim = *call;
  memset(step->optim.t, 0, sizeof step->optim.t);
  step->slots = slots;
  for (int i = 0; i < n_in; i++)
    if (slot_of[i] != LG_OPTIM_GRAD && slot_of[i] != LG_OPTIM_STEP)
      plan->vals[root_of(plan, plan->operands[first + i])].written = true;
  return LG_OK;
}

/* A random draw into out (just drawn, made during the trace) as a step:
 * a replay draws again from the stream where it then stands. */
lg_status lg_trace_draw(lg_ctx *ctx, const lg_draw *d, lg_tensor *p,
                        lg_tensor *out) {
  lg_tracer *tr = ctx->trace;
  lg_plan *plan = tr->plan;
  if (lookup(tr, out) >= 0 || out->batched) {
    lg_trace_taint(ctx, "a random draw wrote a tensor the trace already "
                   "holds, or a vmap-batched one");
    return LG_OK;
  }
  int n_in = p ? 1 : 0, first = plan->n_operands, v;
  lg_status st = record_inputs(ctx, tr, &p, n_in, first, 1);
  if (!st) st = new_val(ctx, tr, out, LG_VAL_ARENA, &v);
  if (st) return st;
  plan->operands[first + n_in] = v;
  if (p) settle_version(tr, p);
  settle_version(tr, out);
  lg_plan_step *step = add_step(ctx, plan, LG_PLAN_DRAW, first, n_in, 1);
  if (!step) return LG_ERR_MEMORY;
  step->draw = *d;
  plan->vals[v].def = plan->n_steps - 1;
  return LG_OK;
}

/* ---- begin / end ------------------------------------------------------------ */

bool lg_trace_active(const lg_ctx *ctx) { return ctx->trace != NULL; }

void lg_trace_taint(lg_ctx *ctx, const char *fmt, ...) {
  lg_tracer *tr = ctx->trace;
  if (!tr || tr->taint[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tr->taint, sizeof tr->taint, fmt, ap);
  va_end(ap);
}

static void trace_free(lg_ctx *ctx, lg_tracer *tr, bool free_plan) {
  lg_plan *plan = tr->plan;
  for (int v = 0; v < plan->n_vals; v++) lg_tensor_release(tr->src[v]);
  if (tr->cap_src) lg_mem_free(ctx, tr->src, sizeof *tr->src * (size_t)tr->cap_src);
  if (tr->cap_keys) {
    lg_mem_free(ctx, tr->keys, sizeof *tr->keys * (size_t)tr->cap_keys);
    lg_mem_free(ctx, tr->key_val, sizeof *tr->key_val * (size_t)tr->cap_keys);
  }
  if (tr->cap_storages)
    lg_mem_free(ctx, tr->storages, sizeof *tr->storages * (size_t)tr->cap_storages);
  if (free_plan) lg_plan_release(plan);
  lg_mem_free(ctx, tr, sizeof *tr);
}

lg_status lg_trace_begin(lg_ctx *ctx, int n_leaves, lg_tensor *const *leaves) {
  if (ctx->trace)
    return lg_fail(ctx, LG_ERR_RUNTIME, "compile: a compiled function is "
                   "already tracing in this context (compile does not nest "
                   "its traces; call the inner function uncompiled)");
  lg_tracer *tr = lg_mem_alloc(ctx, sizeof *tr);
  lg_plan *plan = lg_mem_alloc(ctx, sizeof *plan);
  if (!tr || !plan) {
    lg_mem_free(ctx, tr, sizeof *tr);
    lg_mem_free(ctx, plan, sizeof *plan);
    return lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
  }
  memset(tr, 0, sizeof *tr);
  memset(plan, 0, sizeof *plan);
  plan->refcount = 1;
  plan->ctx = ctx;
  lg_ctx_retain(ctx);
  tr->plan = plan;
  lg_status st = LG_OK;
  if (n_leaves > 0) {
    plan->input_val = lg_mem_alloc(ctx, sizeof(int) * (size_t)n_leaves);
    if (!plan->input_val) st = lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
  }
  plan->n_inputs = 0;
  for (int i = 0; !st && i < n_leaves; i++) {
    int v = lookup(tr, leaves[i]);
    if (v < 0) {
      st = new_val(ctx, tr, leaves[i], LG_VAL_ARG, &v);
      if (!st) plan->vals[v].arg = i;
    }
    if (!st) plan->input_val[plan->n_inputs++] = v;
  }
  if (st) {
    trace_free(ctx, tr, true);
    return st;
  }
  for (int i = 0; i < n_leaves; i++) settle_version(tr, leaves[i]);
  ctx->trace = tr;
  ctx->trace_depth = 0;
  return LG_OK;
}

void lg_trace_abort(lg_ctx *ctx) {
  lg_tracer *tr = ctx->trace;
  if (!tr) return;
  ctx->trace = NULL;
  trace_free(ctx, tr, true);
}

/* A result on a tensor f created during the trace (lg.zeros, then in-place
 * ops): like f, every run returns a new one, which starts from the traced
 * contents (the snapshot) instead of the plan handing out one tensor. */
static lg_status born_result(lg_ctx *ctx, lg_tracer *tr, int r) {
  lg_plan *plan = tr->plan;
  lg_plan_val *val = &plan->vals[r];
  const lg_tensor *t = tr->src[r];
  seen_storage *e = find_storage(tr, t->storage);
  if (!e || !e->born || t->offset != 0) return LG_OK;
  size_t extent = lg_plan_extent(val);
  if (!val->snapshot) {
    val->snapshot = lg_mem_alloc(ctx, t->storage->nbytes ? t->storage->nbytes : 1);
    if (!val->snapshot) return lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
    val->snapshot_bytes = t->storage->nbytes;
    memcpy(val->snapshot, t->storage->data, t->storage->nbytes);
  }
  if (extent > val->snapshot_bytes) return LG_OK;
  val->kind = LG_VAL_OUT;
  return LG_OK;
}

lg_status lg_trace_end(lg_ctx *ctx, int n_outs, lg_tensor *const *outs,
                       bool reuse_outputs, bool fuse, lg_plan **out_plan) {
  *out_plan = NULL;
  lg_tracer *tr = ctx->trace;
  if (!tr) return lg_fail(ctx, LG_ERR_RUNTIME, "compile: no trace is recording");
  lg_plan *plan = tr->plan;
  lg_status st = LG_OK;
  /* a write nobody recorded to anything the trace touched */
  for (int i = 0; i < plan->n_vals && !tr->taint[0]; i++)
    check_version(ctx, tr, tr->src[i]);
  for (int k = 0; k < n_outs && !tr->taint[0]; k++)
    if (lookup(tr, outs[k]) >= 0) check_version(ctx, tr, outs[k]);
  ctx->trace = NULL; /* what follows records nothing */
  if (tr->taint[0]) {
    st = lg_fail(ctx, LG_ERR_RUNTIME, "%s", tr->taint);
    trace_free(ctx, tr, true);
    return st;
  }
  if (n_outs > 0) {
    plan->output_val = lg_mem_alloc(ctx, sizeof(int) * (size_t)n_outs);
    if (!plan->output_val) st = lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
  }
  for (int k = 0; !st && k < n_outs; k++) {
    int v = lookup(tr, outs[k]);
    if (v < 0) st = new_val(ctx, tr, outs[k], LG_VAL_CONST, &v);
    if (st) break;
    plan->output_val[k] = v;
    plan->n_outputs = k + 1;
    /* a result owns its buffer: an intermediate (or the intermediate a
     * result views) moves out of the arena */
    int r = root_of(plan, v);
    if (plan->vals[r].kind == LG_VAL_ARENA) plan->vals[r].kind = LG_VAL_OUT;
    else if (plan->vals[r].kind == LG_VAL_CONST) st = born_result(ctx, tr, r);
  }
  /* constants: the trace's references become the plan's; the others go */
  for (int v = 0; !st && v < plan->n_vals; v++) {
    lg_plan_val *val = &plan->vals[v];
    if (val->kind == LG_VAL_CONST) {
      val->t = tr->src[v];
      tr->src[v] = NULL;
    } else if (val->kind == LG_VAL_VIEW &&
               plan->vals[val->root].kind == LG_VAL_CONST) {
      val->t = tr->src[v]; /* a view of a constant stays that view */
      tr->src[v] = NULL;
    }
  }
  plan->reuse_outputs = reuse_outputs;
  plan->fuse = fuse;
  if (!st) st = lg_plan_finish(plan);
  trace_free(ctx, tr, st != LG_OK);
  if (!st) *out_plan = plan;
  return st;
}
