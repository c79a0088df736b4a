/* plan.c: a traced plan's buffers and its replay (func.compile, lg_plan_run).
 *
 * lg_plan_finish places every intermediate in one arena by liveness (two
 * intermediates share bytes only when one is dead before the other is
 * made) and builds each value's replay tensor once. lg_plan_run binds the
 * arguments, then calls each step's kernel directly with the planned
 * tensors as its given outputs (the out= path of every kernel), so a run
 * allocates nothing beyond fresh result buffers (none with reuse_outputs).
 */
#include <limits.h>
#include <string.h>

#include "compile.h"

#define ARENA_ALIGN 64

size_t lg_plan_extent(const lg_plan_val *v) {
  int64_t last = 0;
  for (int d = 0; d < v->ndim; d++) {
    if (v->sizes[d] == 0) return 0;
    last += (v->sizes[d] - 1) * (v->strides[d] < 0 ? -v->strides[d] : v->strides[d]);
  }
  return (size_t)(last + 1) * lg_dtype_size(v->dtype);
}

/* A tensor of v's geometry at element offset `offset` of base's storage
 * (whatever base's dtype). */
static lg_status view_on(lg_ctx *ctx, const lg_tensor *base,
                         const lg_plan_val *v, int64_t offset,
                         lg_tensor **out) {
  lg_status st = lg_tensor_view_of(ctx, base, v->ndim, v->sizes, v->strides,
                                   offset, out);
  if (!st) (*out)->dtype = v->dtype;
  return st;
}

/* A new buffer for a result value (its own storage). */
static lg_status out_buffer(lg_ctx *ctx, const lg_plan_val *v,
                            lg_tensor **out) {
  int64_t bytes = (int64_t)(v->extent ? v->extent : 1);
  lg_tensor *raw = NULL;
  lg_status st = lg_empty(ctx, LG_UINT8, 1, &bytes, &raw);
  if (!st) st = view_on(ctx, raw, v, 0, out);
  lg_tensor_release(raw);
  return st;
}

static bool overlaps(const lg_plan_val *a, const lg_plan_val *b) {
  return a->def <= b->last && b->def <= a->last;
}

/* First fit in definition order: the lowest aligned offset clear of every
 * placed value alive at the same time. */
static lg_status place_arena(lg_plan *plan) {
  lg_ctx *ctx = plan->ctx;
  int n = 0;
  for (int v = 0; v < plan->n_vals; v++)
    if (plan->vals[v].kind == LG_VAL_ARENA) n++;
  if (!n) return LG_OK;
  int *placed = lg_mem_alloc(ctx, sizeof(int) * (size_t)n);
  if (!placed) return lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
  int n_placed = 0;
  size_t total = 0;
  for (int v = 0; v < plan->n_vals; v++) {
    lg_plan_val *val = &plan->vals[v];
    if (val->kind != LG_VAL_ARENA) continue;
    size_t size = (val->extent + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (!size) size = ARENA_ALIGN;
    size_t at = 0;
    for (bool moved = true; moved;) {
      moved = false;
      for (int i = 0; i < n_placed; i++) {
        const lg_plan_val *o = &plan->vals[placed[i]];
        size_t osize = (o->extent + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
        if (!osize) osize = ARENA_ALIGN;
        if (overlaps(val, o) && at < o->offset + osize && o->offset < at + size) {
          at = o->offset + osize;
          moved = true;
        }
      }
    }
    val->offset = at;
    if (at + size > total) total = at + size;
    placed[n_placed++] = v;
  }
  lg_mem_free(ctx, placed, sizeof(int) * (size_t)n);
  int64_t bytes = (int64_t)total;
  plan->arena_bytes = total;
  return lg_empty(ctx, LG_UINT8, 1, &bytes, &plan->arena);
}

static bool val_contiguous(const lg_plan_val *v) {
  return lg_geometry_contiguous(v->ndim, v->sizes, v->strides);
}

/* Marks a linear step over one contiguous row of one float dtype, which
 * replay runs through lg_linear_row (the kernel's own single-row path). */
static void mark_linear_row(lg_plan *plan, lg_plan_step *step) {
  if (step->op != LG_OP_LINEAR || step->n_out != 1 ||
      (step->p.flags & (LG_FLAG_INPLACE | LG_FLAG_OUT)))
    return;
  bool bias = (step->p.flags & LG_FLAG_OPT1) != 0;
  if (step->n_in != (bias ? 3 : 2)) return;
  const int *ops = plan->operands + step->first;
  const lg_plan_val *x = &plan->vals[ops[0]], *w = &plan->vals[ops[1]];
  const lg_plan_val *y = &plan->vals[ops[step->n_in]];
  lg_dtype dt = x->dtype;
  if ((dt != LG_FLOAT32 && dt != LG_FLOAT64) || w->dtype != dt || y->dtype != dt ||
      w->ndim != 2 || x->ndim < 1)
    return;
  int64_t n = w->sizes[0], k = w->sizes[1], numel = 1, y_numel = 1;
  for (int d = 0; d < x->ndim; d++) numel *= x->sizes[d];
  for (int d = 0; d < y->ndim; d++) y_numel *= y->sizes[d];
  if (n < 1 || k < 1 || n > INT_MAX || k > INT_MAX || numel != k ||
      y_numel != n || x->sizes[x->ndim - 1] != k || !val_contiguous(x) ||
      !val_contiguous(w) || !val_contiguous(y))
    return;
  if (bias) {
    const lg_plan_val *b = &plan->vals[ops[2]];
    if (b->dtype != dt || b->ndim != 1 || b->sizes[0] != n || !val_contiguous(b))
      return;
  }
  step->linear_row = true;
  step->row_n = n;
  step->row_k = k;
}

lg_status lg_plan_finish(lg_plan *plan) {
  lg_ctx *ctx = plan->ctx;
  /* liveness: an intermediate lives from its step to its last reader
   * (reads through a view count for the viewed value) */
  for (int s = 0; s < plan->n_steps; s++) {
    const lg_plan_step *step = &plan->steps[s];
    int n = step->n_in + step->n_out;
    if (n > plan->max_operands) plan->max_operands = n;
    for (int i = 0; i < n; i++) {
      int v = plan->operands[step->first + i];
      lg_plan_val *val = &plan->vals[v];
      if (val->kind == LG_VAL_VIEW) val = &plan->vals[val->root];
      if (val->last < s) val->last = s;
      if (val->def < 0) val->def = s;
    }
  }
  for (int v = 0; v < plan->n_vals; v++)
    plan->vals[v].extent = lg_plan_extent(&plan->vals[v]);
  for (int s = 0; s < plan->n_steps; s++) mark_linear_row(plan, &plan->steps[s]);
  /* fused groups first: they drop buffers and stretch liveness */
  lg_status st = plan->fuse ? lg_plan_fuse(plan) : LG_OK;
  if (!st) st = place_arena(plan);
  if (!st && plan->max_operands) {
    plan->scratch = lg_mem_alloc(ctx, sizeof(lg_tensor *) * 2 *
                                          (size_t)plan->max_operands);
    if (!plan->scratch) st = lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
  }
  for (int v = 0; !st && v < plan->n_vals; v++) {
    lg_plan_val *val = &plan->vals[v];
    if (val->kind == LG_VAL_ARENA) /* a storage of its own over its bytes:
                                       kernels' aliasing checks compare
                                       storages, and slots alive together
                                       never overlap */
      st = lg_tensor_wrap(ctx, val->dtype, val->ndim, val->sizes, val->strides,
                          (char *)lg_tensor_data(plan->arena) + val->offset,
                          NULL, NULL, &val->t);
    else if (val->kind == LG_VAL_OUT && plan->reuse_outputs)
      st = out_buffer(ctx, val, &val->t);
  }
  /* what every run has to touch, so that it walks no other value */
  for (int pass = 0; !st && pass < 2; pass++) {
    int n = 0;
    for (int v = 0; v < plan->n_vals; v++) {
      const lg_plan_val *val = &plan->vals[v];
      int rk = val->kind == LG_VAL_VIEW ? plan->vals[val->root].kind : val->kind;
      if (!(val->snapshot || rk == LG_VAL_ARG || rk == LG_VAL_OUT)) continue;
      if (pass) plan->run_vals[n] = v;
      n++;
    }
    if (!pass && n) {
      plan->run_vals = lg_mem_alloc(ctx, sizeof(int) * (size_t)n);
      if (!plan->run_vals) st = lg_fail(ctx, LG_ERR_MEMORY, "compile: out of memory");
    }
    plan->n_run_vals = n;
  }
  /* views of intermediates are fixed now; views of arguments and results
   * are made on the first run that needs them */
  for (int v = 0; !st && v < plan->n_vals; v++) {
    lg_plan_val *val = &plan->vals[v];
    if (val->kind != LG_VAL_VIEW || val->t) continue;
    const lg_plan_val *root = &plan->vals[val->root];
    if (root->kind == LG_VAL_ARENA)
      st = view_on(ctx, root->t, val, root->t->offset + val->delta, &val->t);
  }
  return st;
}

/* ---- running ---------------------------------------------------------------- */

static lg_status check_input(lg_plan *plan, int i, lg_tensor *const *inputs) {
  lg_ctx *ctx = plan->ctx;
  const lg_tensor *t = inputs[i];
  int v = plan->input_val[i];
  const lg_plan_val *val = &plan->vals[v];
  if (!t)
    return lg_fail(ctx, LG_ERR_ARG, "plan_run: input %d is NULL", i + 1);
  if (val->arg != i) { /* an alias of an earlier leaf at trace time */
    if (t != inputs[val->arg])
      return lg_fail(ctx, LG_ERR_ARG, "plan_run: input %d must be the same "
                     "tensor as input %d, as when the plan was traced", i + 1,
                     val->arg + 1);
    return LG_OK;
  }
  bool same = t->dtype == val->dtype && t->ndim == val->ndim && !t->batched;
  for (int d = 0; same && d < t->ndim; d++)
    same = t->sizes[d] == val->sizes[d] && t->strides[d] == val->strides[d];
  if (!same) {
    char a[160], b[160];
    return lg_fail(ctx, LG_ERR_ARG, "plan_run: input %d is %s %s; the plan "
                   "was traced for %s %s (with the same strides)", i + 1,
                   lg_dtype_name(t->dtype), lg_shape_str(a, sizeof a, t->ndim, t->sizes),
                   lg_dtype_name(val->dtype),
                   lg_shape_str(b, sizeof b, val->ndim, val->sizes));
  }
  if (t->storage->ctx != ctx)
    return lg_fail(ctx, LG_ERR_ARG, "plan_run: input %d belongs to another "
                   "context", i + 1);
  return LG_OK;
}

/* Points a view of an argument or result at its root's current storage. */
static lg_status bind_view(lg_plan *plan, lg_plan_val *val) {
  const lg_tensor *root = plan->vals[val->root].t;
  int64_t offset = root->offset + val->delta;
  if (val->t && val->t->storage == root->storage) {
    val->t->offset = offset;
    return LG_OK;
  }
  lg_tensor_release(val->t);
  val->t = NULL;
  return view_on(plan->ctx, root, val, offset, &val->t);
}

static lg_status run_step(lg_plan *plan, const lg_plan_step *step) {
  lg_ctx *ctx = plan->ctx;
  if (step->linear_row) {
    const int *ops = plan->operands + step->first;
    const lg_plan_val *v = plan->vals;
    lg_linear_row(ctx, v[ops[0]].dtype, step->row_n, step->row_k,
                  lg_data_ptr(v[ops[0]].t), lg_data_ptr(v[ops[1]].t),
                  step->n_in > 2 ? lg_data_ptr(v[ops[2]].t) : NULL,
                  lg_data_ptr(v[ops[step->n_in]].t));
    return LG_OK;
  }
  lg_tensor **in = plan->scratch, **outs = plan->scratch + step->n_in;
  const int *ops = plan->operands + step->first;
  for (int i = 0; i < step->n_in; i++) in[i] = plan->vals[ops[i]].t;
  lg_tensor *want[LG_MAX_DIMS];
  int n_out = step->n_out < LG_MAX_DIMS ? step->n_out : LG_MAX_DIMS;
  for (int k = 0; k < n_out; k++) want[k] = outs[k] = plan->vals[ops[step->n_in + k]].t;
  if (step->op == LG_PLAN_OPTIM) {
    lg_optim_call call = step->optim;
    for (int k = 0, i = 0; k < LG_OPTIM_SLOTS; k++)
      if (step->slots & (1u << k)) call.t[k] = in[i++];
    return lg_optim_step(ctx, &call);
  }
  if (step->op == LG_PLAN_DRAW) {
    lg_status st = lg_draw_into(ctx, &step->draw, step->n_in ? in[0] : NULL,
                                outs[0]);
    if (!st) outs[0]->storage->version++;
    return st;
  }
  bool inplace = (step->p.flags & LG_FLAG_INPLACE) != 0;
  if (inplace) want[0] = outs[0] = in[0];
  lg_status st = lg_op_forward(step->op)(ctx, step->op, in, step->n_in,
                                         &step->p, outs);
  if (st) return st;
  for (int k = 0; k < n_out; k++) {
    if (outs[k] == want[k]) {
      lg_tensor_release(outs[k]); /* the kernel's reference to the given */
      continue;
    }
    /* this kernel makes its own result: copy it where the plan wants it */
    lg_params cp = {0};
    lg_tensor *pair[2] = {want[k], outs[k]}, *res = want[k];
    cp.flags = LG_FLAG_INPLACE;
    if (!plan->runs) plan->n_copies++;
    st = lg_op_forward(LG_OP_COPY)(ctx, LG_OP_COPY, pair, 2, &cp, &res);
    if (!st) lg_tensor_release(res);
    lg_tensor_release(outs[k]);
    if (st) return st;
  }
  if (inplace || (step->p.flags & LG_FLAG_OUT)) want[0]->storage->version++;
  return LG_OK;
}

lg_status lg_plan_run(lg_plan *plan, lg_tensor *const *inputs,
                      lg_tensor **outputs) {
  lg_ctx *ctx = plan->ctx;
  if (ctx->trace)
    return lg_fail(ctx, LG_ERR_RUNTIME, "plan_run: a trace is recording in "
                   "this context; a plan can't run inside it");
  for (int i = 0; i < plan->n_inputs; i++) {
    lg_status st = check_input(plan, i, inputs);
    if (st) return st;
  }
  for (int i = 0; i < plan->n_inputs; i++)
    if (plan->vals[plan->input_val[i]].arg == i)
      plan->vals[plan->input_val[i]].t = inputs[i];
  lg_status st = LG_OK;
  const int *run_vals = plan->run_vals, n_run = plan->n_run_vals;
  for (int i = 0; !st && i < n_run; i++) {
    lg_plan_val *val = &plan->vals[run_vals[i]];
    if (val->kind == LG_VAL_OUT && !val->t) st = out_buffer(ctx, val, &val->t);
    if (!st && val->snapshot) { /* a result's buffer holds just its extent */
      memcpy(val->t->storage->data, val->snapshot,
             val->kind == LG_VAL_OUT ? val->extent : val->snapshot_bytes);
      val->t->storage->version++;
    }
  }
  for (int i = 0; !st && i < n_run; i++) {
    lg_plan_val *val = &plan->vals[run_vals[i]];
    if (val->kind == LG_VAL_VIEW) st = bind_view(plan, val);
  }
  for (int s = 0; !st && s < plan->n_steps; s++) {
    if (lg_interrupt_pending(ctx)) st = lg_check_interrupt(ctx);
    if (st) break;
    const lg_plan_step *step = &plan->steps[s];
    if (step->group) {
      const lg_plan_group *g = &plan->groups[step->group - 1];
      st = lg_plan_run_group(plan, g);
      s += g->n - 1;
    } else {
      st = run_step(plan, step);
    }
  }
  for (int k = 0; k < plan->n_outputs; k++)
    outputs[k] = st ? NULL : lg_tensor_retain(plan->vals[plan->output_val[k]].t);
  /* arguments are borrowed for one run; fresh results belong to the caller */
  for (int i = 0; i < n_run; i++) {
    lg_plan_val *val = &plan->vals[run_vals[i]];
    if (val->kind == LG_VAL_ARG) val->t = NULL;
    bool fresh = !plan->reuse_outputs &&
                 (val->kind == LG_VAL_OUT ||
                  (val->kind == LG_VAL_VIEW && plan->vals[val->root].kind == LG_VAL_OUT));
    if (fresh) {
      lg_tensor_release(val->t);
      val->t = NULL;
    }
  }
  if (!st) plan->runs++;
  return st;
}

/* ---- lifetime and facts --------------------------------------------------- */

lg_plan *lg_plan_retain(lg_plan *plan) {
  if (plan) plan->refcount++;
  return plan;
}

void lg_plan_release(lg_plan *plan) {
  if (!plan || --plan->refcount > 0) return;
  lg_ctx *ctx = plan->ctx;
  /* views first: they may hold the storages of what they view */
  for (int pass = 0; pass < 2; pass++)
    for (int v = 0; v < plan->n_vals; v++) {
      lg_plan_val *val = &plan->vals[v];
      if ((val->kind == LG_VAL_VIEW) != (pass == 0)) continue;
      if (val->kind != LG_VAL_ARG) lg_tensor_release(val->t);
      if (val->snapshot) lg_mem_free(ctx, val->snapshot, val->snapshot_bytes ? val->snapshot_bytes : 1);
    }
  lg_tensor_release(plan->arena);
  lg_plan_fuse_free(plan);
  if (plan->cap_vals) lg_mem_free(ctx, plan->vals, sizeof *plan->vals * (size_t)plan->cap_vals);
  if (plan->cap_steps) lg_mem_free(ctx, plan->steps, sizeof *plan->steps * (size_t)plan->cap_steps);
  if (plan->cap_operands)
    lg_mem_free(ctx, plan->operands, sizeof *plan->operands * (size_t)plan->cap_operands);
  if (plan->input_val) lg_mem_free(ctx, plan->input_val, sizeof(int) * (size_t)plan->n_inputs);
  if (plan->output_val) lg_mem_free(ctx, plan->output_val, sizeof(int) * (size_t)plan->n_outputs);
  if (plan->run_vals) lg_mem_free(ctx, plan->run_vals, sizeof(int) * (size_t)plan->n_run_vals);
  if (plan->scratch)
    lg_mem_free(ctx, plan->scratch, sizeof(lg_tensor *) * 2 * (size_t)plan->max_operands);
  lg_mem_free(ctx, plan, sizeof *plan);
  lg_ctx_free(ctx);
}

int lg_plan_num_inputs(const lg_plan *plan) { return plan->n_inputs; }
int lg_plan_num_outputs(const lg_plan *plan) { return plan->n_outputs; }

void lg_plan_get_info(const lg_plan *plan, lg_plan_info *info) {
  memset(info, 0, sizeof *info);
  info->ops = plan->n_steps;
  info->values = plan->n_vals;
  info->inputs = plan->n_inputs;
  info->outputs = plan->n_outputs;
  info->arena_bytes = plan->arena_bytes;
  info->copies = plan->n_copies;
  info->runs = plan->runs;
  info->fused_groups = plan->n_groups;
  info->fused_ops = plan->fused_ops;
  for (int v = 0; v < plan->n_vals; v++) {
    const lg_plan_val *val = &plan->vals[v];
    if (val->kind == LG_VAL_VIEW) info->views++;
    if (val->kind == LG_VAL_CONST) info->consts++;
    if (val->kind == LG_VAL_ARENA || val->kind == LG_VAL_FUSED)
      info->naive_bytes += (val->extent + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
  }
}

int lg_plan_step_group(const lg_plan *plan, int i) {
  return i < 0 || i >= plan->n_steps ? 0 : plan->steps[i].group;
}

const char *lg_plan_step_name(const lg_plan *plan, int i) {
  if (i < 0 || i >= plan->n_steps) return NULL;
  const lg_plan_step *step = &plan->steps[i];
  if (step->op == LG_PLAN_OPTIM) {
    static const char *const names[] = {"sgd", "adam", "rmsprop", "adagrad"};
    if (step->optim.kind == LG_OPTIM_ADAM && step->optim.o.adam.decoupled_weight_decay)
      return "adamw";
    return names[step->optim.kind];
  }
  if (step->op == LG_PLAN_DRAW) {
    static const char *const names[] = {"rand", "uniform_", "randn", "randint",
                                        "bernoulli"};
    return step->draw.kind == LG_DRAW_RANDN && step->draw.affine
               ? "normal_" : names[step->draw.kind];
  }
  return lg_op_name(step->op);
}
