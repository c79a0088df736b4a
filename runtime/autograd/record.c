/* record.c: recording the graph as ops run (the autograd layer of the
 * dispatch stack), per-tensor autograd state, and graph nodes. The engine
 * that runs the recorded rules backwards is engine.c.
 *
 * Every op reaches lg_autograd_layer on its way to the kernel. When grad
 * mode is on and an input takes part in the graph, the op runs one layer
 * down and its result gets a node that saves what the op's backward reads
 * (the saves column of lg_ops.h, with version counters) and points at the
 * inputs' nodes. An in-place op on such a tensor is run out of place and
 * its result written back, the tensor taking over the new node: the graph
 * stays acyclic and every rule is the out-of-place one.
 */
#include <stdio.h>
#include <string.h>

#include "autograd.h"
#include "vmap.h"
#include "dtype.h"

/* ---- per-tensor state ---------------------------------------------------- */

static lg_autograd_meta *meta_of(const lg_tensor *t) {
  return (lg_autograd_meta *)t->autograd;
}

lg_autograd_meta *lg_autograd_meta_ensure(lg_ctx *ctx, lg_tensor *t) {
  if (!t->autograd) {
    lg_autograd_meta *m = lg_cache_alloc(ctx, sizeof *m);
    if (!m) {
      lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
      return NULL;
    }
    memset(m, 0, sizeof *m);
    t->autograd = m;
  }
  return meta_of(t);
}

bool lg_autograd_needs_grad(const lg_tensor *t) {
  const lg_autograd_meta *m = meta_of(t);
  return m && (m->requires_grad || m->grad_fn);
}

/* Drops the weak pointer t's grad_fn keeps to t for retain_grad (see
 * lg_tensor_retain_grad); done whenever t dies or gets another grad_fn,
 * so no node is left pointing at a freed tensor. */
static void unretain(lg_tensor *t, lg_autograd_meta *m) {
  lg_node *n = m->grad_fn;
  if (n && n->retained && n->retained[m->output_nr] == t)
    n->retained[m->output_nr] = NULL;
}

void lg_autograd_meta_free(lg_tensor *t) {
  lg_autograd_meta *m = meta_of(t);
  if (!m) return;
  t->autograd = NULL;
  lg_ctx *ctx = t->storage->ctx;
  if (m->grad_fn) {
    unretain(t, m);
    lg_node_release(m->grad_fn);
  }
  lg_unhold(m->grad);
  lg_dual_tangents_free(ctx, m);
  lg_cache_free(ctx, m, sizeof *m);
}

/* A batched tensor (vmap) answers for its value, which autograd records. */
static lg_tensor *physical(const lg_tensor *t) {
  while (t->batched) t = t->batched->value;
  return (lg_tensor *)t;
}
#define VALUE_OF(t) physical(t)

bool lg_tensor_requires_grad(const lg_tensor *t) {
  return lg_autograd_needs_grad(VALUE_OF(t));
}

bool lg_tensor_is_leaf(const lg_tensor *t) {
  t = VALUE_OF(t);
  return !meta_of(t) || !meta_of(t)->grad_fn;
}

lg_tensor *lg_tensor_grad(const lg_tensor *t) {
  return meta_of(t) ? meta_of(t)->grad : NULL;
}

lg_status lg_tensor_set_requires_grad(lg_ctx *ctx, lg_tensor *t,
                                      bool requires_grad) {
  t = VALUE_OF(t);
  lg_autograd_meta *m = meta_of(t);
  if (m && m->grad_fn) {
    if (requires_grad) return LG_OK;
    return lg_fail(ctx, LG_ERR_ARG,
                   "requires_grad_: a non-leaf tensor's requires_grad can't "
                   "be turned off; use detach()");
  }
  if (requires_grad && !lg_dtype_is_float(t->dtype))
    return lg_fail(ctx, LG_ERR_DTYPE,
                   "requires_grad_: only floating point tensors can require "
                   "gradients, got %s", lg_dtype_name(t->dtype));
  if (!m && !requires_grad) return LG_OK;
  m = lg_autograd_meta_ensure(ctx, t);
  if (!m) return LG_ERR_MEMORY;
  m->requires_grad = requires_grad;
  return LG_OK;
}

lg_status lg_check_like(lg_ctx *ctx, const lg_tensor *t, const lg_tensor *like,
                        const char *what, const char *like_what) {
  if (t->dtype == like->dtype &&
      lg_tensor_has_shape(t, like->ndim, like->sizes))
    return LG_OK;
  char a[160], b[160];
  return lg_fail(ctx, LG_ERR_SHAPE,
                 "%s of shape %s and dtype %s does not match %s shape %s "
                 "and dtype %s", what,
                 lg_shape_str(a, sizeof a, t->ndim, t->sizes),
                 lg_dtype_name(t->dtype), like_what,
                 lg_shape_str(b, sizeof b, like->ndim, like->sizes),
                 lg_dtype_name(like->dtype));
}

lg_status lg_tensor_set_grad(lg_ctx *ctx, lg_tensor *t, lg_tensor *grad) {
  if (grad) {
    lg_status st = lg_check_like(ctx, grad, t, "grad: assigned gradient",
                                 "the tensor's");
    if (st) return st;
  }
  /* a gradient that reaches t would close a reference cycle (t.grad = t;
   * u.grad = v, v.grad = u; t.grad = t * 2 through the graph) */
  bool cycle = false;
  lg_status st = grad ? lg_autograd_reaches(ctx, grad, t, &cycle) : LG_OK;
  if (st) return st;
  if (cycle)
    return lg_fail(ctx, LG_ERR_ARG,
                   "grad: the assigned gradient refers back to the tensor "
                   "(it is the tensor, or holds it through its .grad or its "
                   "graph); a tensor can't be part of its own gradient: assign "
                   "a detached one (g:detach())");
  lg_autograd_meta *m = meta_of(t);
  if (!m && !grad) return LG_OK;
  m = lg_autograd_meta_ensure(ctx, t);
  if (!m) return LG_ERR_MEMORY;
  lg_hold(grad);
  lg_unhold(m->grad);
  m->grad = grad;
  return LG_OK;
}

lg_status lg_tensor_detach(lg_ctx *ctx, lg_tensor *t, lg_tensor **out) {
  if (t->batched) {
    lg_tensor *v = NULL;
    lg_status st = lg_tensor_detach(ctx, t->batched->value, &v);
    if (!st) st = lg_vmap_wrap(ctx, v, t->batched->bdim, t->batched->level, out);
    lg_tensor_release(v);
    return st;
  }
  return lg_tensor_view_of(ctx, t, t->ndim, t->sizes, t->strides, t->offset,
                           out);
}

/* Makes t's grad_fn keep a weak pointer to t, so the engine stores t's
 * gradient in t.grad (cleared by unretain). */
static lg_status retain_in_node(lg_ctx *ctx, lg_tensor *t,
                                lg_autograd_meta *m) {
  lg_node *n = m->grad_fn;
  if (!n->retained) {
    size_t bytes = sizeof(lg_tensor *) * (size_t)n->n_outputs;
    n->retained = lg_mem_alloc(ctx, bytes);
    if (!n->retained) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
    memset(n->retained, 0, bytes);
  }
  n->retained[m->output_nr] = t;
  return LG_OK;
}

lg_status lg_tensor_retain_grad(lg_ctx *ctx, lg_tensor *t) {
  lg_autograd_meta *m = meta_of(t);
  if (!m || (!m->grad_fn && !m->requires_grad))
    return lg_fail(ctx, LG_ERR_ARG,
                   "retain_grad: the tensor does not require grad");
  if (!m->grad_fn) return LG_OK; /* leaves keep their grad anyway */
  m->retains_grad = true;
  return retain_in_node(ctx, t, m);
}

/* A hooked non-leaf is found by its node through the same weak pointer
 * that retain_grad uses; a leaf through its gradient sink. */
lg_status lg_tensor_set_has_hooks(lg_ctx *ctx, lg_tensor *t) {
  lg_autograd_meta *m = meta_of(t);
  if (!m || (!m->grad_fn && !m->requires_grad))
    return lg_fail(ctx, LG_ERR_ARG,
                   "register_hook: the tensor does not require grad");
  m->has_hooks = true;
  return m->grad_fn ? retain_in_node(ctx, t, m) : LG_OK;
}

/* ---- nodes --------------------------------------------------------------- */

static void info_of(const lg_tensor *t, lg_tensor_info *info) {
  info->dtype = t->dtype;
  info->ndim = t->ndim;
  for (int i = 0; i < t->ndim; i++) info->sizes[i] = t->sizes[i];
}

static void release_saved(lg_node *n) {
  if (n->saved) {
    for (int i = 0; i < n->n_inputs; i++) {
      lg_unhold(n->saved[i]);
      n->saved[i] = NULL;
    }
  }
  if (n->saved_outputs) {
    for (int i = 0; i < n->n_outputs; i++) {
      lg_unhold(n->saved_outputs[i]);
      n->saved_outputs[i] = NULL;
    }
  }
}

static size_t node_bytes(int n_in, int n_out) {
  size_t in = (size_t)n_in, out = (size_t)n_out;
  return sizeof(lg_node) +
         in * (sizeof(uint64_t) + sizeof(lg_edge) + sizeof(lg_tensor *) +
               sizeof(lg_tensor_info)) +
         out * (2 * sizeof(lg_tensor *) + sizeof(lg_tensor_info));
}

/* Frees n; nodes whose last reference it held go onto the dead list. */
static void node_destroy(lg_node *n, lg_node **dead) {
  lg_ctx *ctx = n->ctx;
  release_saved(n);
  if (n->leaf) {
    lg_autograd_meta *m = meta_of(n->leaf);
    if (m && m->accumulator == n) m->accumulator = NULL;
    lg_unhold(n->leaf);
  }
  if (n->custom_free) n->custom_free(n->custom_ud);
  for (int k = 0; k < n->n_outputs; k++) lg_tensor_release(n->grad_buffer[k]);
  if (n->retained) {
    for (int k = 0; k < n->n_outputs; k++) {
      lg_tensor *t = n->retained[k];
      if (t && meta_of(t)) meta_of(t)->retains_grad = false;
    }
    lg_mem_free(ctx, n->retained, sizeof(lg_tensor *) * (size_t)n->n_outputs);
  }
  if (n->name) lg_mem_free(ctx, n->name, strlen(n->name) + 1);
  for (int i = 0; i < n->n_inputs; i++) {
    lg_node *next = n->edges[i].node;
    if (next && --next->refcount == 0) {
      next->next_dead = *dead;
      *dead = next;
    }
  }
  lg_mem_free(ctx, n, node_bytes(n->n_inputs, n->n_outputs));
}

/* Drops a reference; frees the nodes it kept alive through a list linked
 * inside the dead nodes themselves, so neither long graphs (an RNN over
 * thousands of steps) nor wide ones need C stack or memory to be freed. */
void lg_node_release(lg_node *node) {
  if (!node || --node->refcount > 0) return;
  node->next_dead = NULL;
  lg_node *dead = node;
  while (dead) {
    lg_node *n = dead;
    dead = n->next_dead;
    node_destroy(n, &dead);
  }
}

/* One block: the node, then its arrays. */
static lg_node *node_new(lg_ctx *ctx, lg_node_kind kind, int n_in, int n_out) {
  size_t in = (size_t)n_in, outn = (size_t)n_out;
  size_t bytes = node_bytes(n_in, n_out);
  char *block = lg_mem_alloc(ctx, bytes);
  if (!block) {
    lg_fail(ctx, LG_ERR_MEMORY, "out of memory recording the graph");
    return NULL;
  }
  memset(block, 0, bytes);
  lg_node *n = (lg_node *)(void *)block;
  char *p = block + sizeof *n;
  n->refcount = 1;
  n->ctx = ctx;
  n->kind = kind;
  n->op = LG_OP_COUNT;
  n->n_inputs = n_in;
  n->n_outputs = n_out;
  n->saved_versions = (uint64_t *)(void *)p;
  p += in * sizeof(uint64_t);
  n->edges = (lg_edge *)(void *)p;
  p += in * sizeof(lg_edge);
  n->saved = (lg_tensor **)(void *)p;
  p += in * sizeof(lg_tensor *);
  n->saved_outputs = (lg_tensor **)(void *)p;
  p += outn * sizeof(lg_tensor *);
  n->grad_buffer = (lg_tensor **)(void *)p;
  p += outn * sizeof(lg_tensor *);
  n->input_info = (lg_tensor_info *)(void *)p;
  p += in * sizeof(lg_tensor_info);
  n->output_info = (lg_tensor_info *)(void *)p;
  return n;
}

/* The edge an op input contributes: its grad_fn, or its leaf sink. */
lg_status lg_autograd_edge_of(lg_ctx *ctx, lg_tensor *t, lg_edge *edge) {
  lg_autograd_meta *m = meta_of(t);
  edge->node = NULL;
  edge->output_nr = 0;
  if (!m) return LG_OK;
  if (m->grad_fn) {
    edge->node = m->grad_fn;
    edge->output_nr = m->output_nr;
    m->grad_fn->refcount++;
    return LG_OK;
  }
  if (!m->requires_grad) return LG_OK;
  if (!m->accumulator) {
    lg_node *acc = node_new(ctx, LG_NODE_ACCUMULATE, 0, 1);
    if (!acc) return LG_ERR_MEMORY;
    acc->leaf = lg_hold(t);
    info_of(t, &acc->output_info[0]);
    m->accumulator = acc;
    edge->node = acc; /* the edge owns the first reference */
    return LG_OK;
  }
  edge->node = m->accumulator;
  m->accumulator->refcount++;
  return LG_OK;
}

/* Gives out a reference to node as t's grad_fn. */
static lg_status set_grad_fn(lg_ctx *ctx, lg_tensor *t, lg_node *node,
                             int output_nr) {
  lg_autograd_meta *m = lg_autograd_meta_ensure(ctx, t);
  if (!m) return LG_ERR_MEMORY;
  bool retains = (m->retains_grad || m->has_hooks) && m->grad_fn;
  unretain(t, m); /* the old node must not keep pointing at t */
  node->refcount++;
  if (m->grad_fn) lg_node_release(m->grad_fn);
  m->grad_fn = node;
  m->output_nr = output_nr;
  m->requires_grad = false;
  /* retain_grad and hooks follow the tensor to its new node (in place) */
  return retains ? retain_in_node(ctx, t, m) : LG_OK;
}

/* The backward, saves and view columns of lg_ops.h. */
typedef struct op_rules {
  lg_backward_fn backward;
  unsigned saves; /* LG_IN(i) | LG_OUT(k) */
  int view;       /* LG_VIEW_* */
} op_rules;

static const op_rules rules[LG_OP_COUNT] = {
#define LG_RULES_ENTRY(id, name, kind, nin, nout, fwd, bwd, saves, view,     \
                       batch, jvp)                                           \
  {bwd, saves, view},
    LG_OP_LIST(LG_RULES_ENTRY)
#undef LG_RULES_ENTRY
};

/* Whether a saves column keeps input i: its bit, and for inputs past the
 * bits (a variable-input op) whether every input is saved. */
static bool saves_input(unsigned saves, int i) {
  if (i < LG_SAVES_MAX_INPUTS) return (saves & LG_IN(i)) != 0;
  return (saves & LG_SAVES_INPUTS) == LG_SAVES_INPUTS;
}

lg_backward_fn lg_backward_rule(lg_op op) {
  return (unsigned)op < LG_OP_COUNT ? rules[op].backward : lg_backward_none;
}

/* Builds the node for op (inputs in, outputs outs) and attaches it. */
static lg_status record(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                        const lg_params *p, int n_out, lg_tensor **outs) {
  lg_node *node = node_new(ctx, LG_NODE_OP, n_in, n_out);
  if (!node) return LG_ERR_MEMORY;
  node->op = op;
  node->params = *p;
  node->params.flags &= ~LG_FLAG_INPLACE;
  const op_rules *r = &rules[op];
  lg_status st = LG_OK;
  for (int i = 0; i < n_in && !st; i++) {
    st = lg_autograd_edge_of(ctx, in[i], &node->edges[i]);
    info_of(in[i], &node->input_info[i]);
    if (saves_input(r->saves, i)) {
      node->saved[i] = lg_hold(in[i]);
      node->saved_versions[i] = in[i]->storage->version;
    }
  }
  for (int k = 0; k < n_out && !st; k++) {
    info_of(outs[k], &node->output_info[k]);
    bool differentiable = lg_dtype_is_float(outs[k]->dtype);
    if (r->saves & LG_OUT(k)) {
      if (differentiable) /* it would hold its own node: see lg_ops.h */
        st = lg_fail(ctx, LG_ERR_RUNTIME, "%s: the op table saves output "
                     "%d, which is differentiable", lg_op_name(op), k + 1);
      else
        node->saved_outputs[k] = lg_hold(outs[k]);
    }
    if (!differentiable || st) continue;
    st = set_grad_fn(ctx, outs[k], node, k);
    if (!st && r->view != LG_VIEW_NO && outs[k]->storage == in[0]->storage)
      meta_of(outs[k])->is_view = true;
  }
  lg_node_release(node); /* the outputs hold it now */
  return st;
}

/* ---- running ops with recording ------------------------------------------ */

lg_status lg_autograd_check_inplace(lg_ctx *ctx, const lg_tensor *t,
                                    const char *name) {
  const lg_autograd_meta *m = meta_of(t);
  if (!ctx->grad_enabled || !m) return LG_OK;
  if (m->requires_grad && !m->grad_fn)
    return lg_fail(ctx, LG_ERR_ARG,
                   "%s: a leaf tensor that requires grad can't be modified "
                   "in place; use out-of-place ops or wrap the update in "
                   "lg.no_grad()", name);
  if (m->is_view)
    return lg_fail(ctx, LG_ERR_ARG,
                   "%s: in-place changes to a view of a tensor that "
                   "requires grad are not supported; clone() it first",
                   name);
  return LG_OK;
}

/* What makes op's name its in-place spelling in messages: "_" for add
 * (add_), nothing for fill_, whose name already is. */
static const char *inplace_suffix(lg_op op) {
  const char *name = lg_op_name(op);
  size_t n = strlen(name);
  return n > 0 && name[n - 1] == '_' ? "" : "_";
}

/* out= never records (as in PyTorch): refused when the graph would need
 * the op, else the op runs below without a node. */
static lg_status check_out(lg_ctx *ctx, lg_op op, int n_in,
                           lg_tensor *const *in, lg_tensor *given) {
  bool needs_grad = lg_autograd_needs_grad(given);
  for (int i = 0; i < n_in && !needs_grad; i++)
    needs_grad = lg_autograd_needs_grad(in[i]);
  if (ctx->grad_enabled && needs_grad &&
      lg_backward_rule(op) != lg_backward_none)
    return lg_fail(ctx, LG_ERR_ARG, "%s: out= arguments don't support "
                   "automatic differentiation, but one of the arguments "
                   "requires grad (use no_grad, or drop out=)",
                   lg_op_name(op));
  return LG_OK;
}

static lg_status in_place(lg_ctx *ctx, int level, lg_op op, int n_in,
                          lg_tensor *const *in, const lg_params *p,
                          lg_tensor **outs);

/* The autograd layer: records a node when grad mode is on and an input
 * takes part in the graph; passes every other op on. */
static lg_status record_layer(lg_ctx *ctx, const lg_layer *layer, int level,
                              lg_op op, int n_in, lg_tensor *const *in,
                              const lg_params *p, lg_tensor **outs) {
  (void)layer;
  if (p->flags & LG_FLAG_OUT) {
    lg_status st = check_out(ctx, op, n_in, in, outs[0]);
    return st ? st : lg_dispatch(ctx, level, op, n_in, in, p, outs);
  }
  bool any = false;
  if (ctx->grad_enabled && rules[op].backward != lg_backward_none)
    for (int i = 0; i < n_in && !any; i++) any = lg_autograd_needs_grad(in[i]);
  if (!any) return lg_dispatch(ctx, level, op, n_in, in, p, outs);
  if (p->flags & LG_FLAG_INPLACE)
    return in_place(ctx, level, op, n_in, in, p, outs);
  int n_out = lg_op_num_outputs(op);
  lg_status st = lg_dispatch(ctx, level, op, n_in, in, p, outs);
  if (st) return st;
  st = record(ctx, op, n_in, in, p, n_out, outs);
  if (st) {
    for (int k = 0; k < n_out; k++) {
      lg_tensor_release(outs[k]);
      outs[k] = NULL;
    }
  }
  return st;
}

const lg_layer lg_autograd_layer = {"autograd", record_layer, NULL};

/* In place on a tensor in the graph: computes out of place (recorded, from
 * the top of the stack) and writes the values back below this layer. */
static lg_status in_place(lg_ctx *ctx, int level, lg_op op, int n_in,
                          lg_tensor *const *in, const lg_params *p,
                          lg_tensor **outs) {
  lg_tensor *self = in[0];
  char name[64];
  snprintf(name, sizeof name, "%s%s", lg_op_name(op), inplace_suffix(op));
  lg_status st = lg_autograd_check_inplace(ctx, self, name);
  if (st) return st;
  lg_tensor *old = NULL, *result = NULL;
  enum { FEW = 4 };
  lg_tensor *few[FEW], **args = few;
  size_t args_bytes = sizeof(lg_tensor *) * (size_t)n_in;
  if (n_in > FEW && !(args = lg_mem_alloc(ctx, args_bytes)))
    return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  st = lg_run1(ctx, LG_OP_CLONE, self, NULL, &old);
  if (st) {
    if (args != few) lg_mem_free(ctx, args, args_bytes);
    return st;
  }
  /* every use of self reads the clone (x:mul_(x) too): a node saving self
   * itself would both cycle back to it and fail the version check */
  for (int i = 0; i < n_in; i++)
    args[i] = (i == 0 || in[i] == self) ? old : in[i];
  lg_params q = *p;
  q.flags &= ~LG_FLAG_INPLACE;
  if (op == LG_OP_FILL || op == LG_OP_COPY) {
    /* fill_/copy_ keep self's shape: record them as ops on the clone */
    q.flags |= LG_FLAG_INPLACE;
    lg_tensor *plain = NULL;
    st = lg_dispatch(ctx, level, op, n_in, args, &q, &plain);
    if (!st) {
      q.flags &= ~LG_FLAG_INPLACE;
      st = record(ctx, op, n_in, args, &q, 1, &plain);
      /* the clone now carries the node; take it over below */
      result = plain;
    }
  } else {
    st = lg_op_run(ctx, op, n_in, args, &q, &result);
  }
  if (!st && result->dtype != self->dtype) {
    lg_tensor_release(result);
    result = NULL;
    st = lg_fail(ctx, LG_ERR_DTYPE, "%s%s: result type can't be written into "
                 "a %s tensor", lg_op_name(op), inplace_suffix(op), lg_dtype_name(self->dtype));
  }
  if (!st) { /* write the values back without recording */
    bool mode = ctx->grad_enabled;
    ctx->grad_enabled = false;
    lg_params cp = {0};
    cp.flags = LG_FLAG_INPLACE;
    lg_tensor *copy_in[2] = {self, result}, *ignored = NULL;
    st = lg_dispatch(ctx, level, LG_OP_COPY, 2, copy_in, &cp, &ignored);
    lg_tensor_release(ignored);
    ctx->grad_enabled = mode;
  }
  if (!st) { /* self takes over the result's node, when it got one */
    lg_autograd_meta *rm = meta_of(result);
    bool cycle = false;
    /* the operands other than self are the only way back to self: the
     * clone's graph is self's old one, which never holds self */
    if (rm && rm->grad_fn && n_in > 1 && self->autograd_holds > 0)
      st = lg_autograd_unsave(ctx, (n_in < 4 ? n_in : 4) - 1, args + 1, self,
                              &cycle);
    if (!st && cycle)
      st = lg_fail(ctx, LG_ERR_ARG,
                   "%s_: an operand's graph holds self (as a .grad or a "
                   "leaf), so self can't take the result's graph; use the "
                   "out-of-place %s", lg_op_name(op), lg_op_name(op));
    if (!st && rm && rm->grad_fn)
      st = set_grad_fn(ctx, self, rm->grad_fn, rm->output_nr);
  }
  if (!st) outs[0] = lg_tensor_retain(self);
  if (args != few) lg_mem_free(ctx, args, args_bytes);
  lg_tensor_release(old);
  lg_tensor_release(result);
  return st;
}

/* ---- custom nodes -------------------------------------------------------- */

lg_status lg_autograd_attach_custom(lg_ctx *ctx, const char *name,
                                    int n_inputs, lg_tensor *const *inputs,
                                    int n_outputs, lg_tensor *const *outputs,
                                    lg_custom_backward_fn backward, void *ud,
                                    void (*free_ud)(void *ud)) {
  /* outputs must be fresh results outside any graph (a custom forward runs
   * without recording): giving a node to a leaf, to a tensor that already
   * has one, or to one of the inputs would tie the graph into a cycle */
  for (int k = 0; k < n_outputs; k++) {
    bool taken = lg_autograd_needs_grad(outputs[k]) ||
                 (meta_of(outputs[k]) && meta_of(outputs[k])->accumulator);
    for (int i = 0; i < n_inputs && !taken; i++)
      taken = outputs[k] == inputs[i];
    if (taken) {
      if (free_ud) free_ud(ud);
      return lg_fail(ctx, LG_ERR_ARG,
                     "%s: output %d is an input or already part of a graph; "
                     "a Function's forward must return new tensors",
                     name, k + 1);
    }
  }
  lg_node *node = node_new(ctx, LG_NODE_CUSTOM, n_inputs, n_outputs);
  if (!node) {
    if (free_ud) free_ud(ud);
    return LG_ERR_MEMORY;
  }
  node->custom = backward;
  node->custom_ud = ud;
  node->custom_free = free_ud;
  size_t len = strlen(name);
  node->name = lg_mem_alloc(ctx, len + 1);
  if (node->name) memcpy(node->name, name, len + 1);
  lg_status st = node->name ? LG_OK : lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  for (int i = 0; i < n_inputs && !st; i++) {
    st = lg_autograd_edge_of(ctx, inputs[i], &node->edges[i]);
    info_of(inputs[i], &node->input_info[i]);
  }
  for (int k = 0; k < n_outputs && !st; k++) {
    info_of(outputs[k], &node->output_info[k]);
    if (lg_dtype_is_float(outputs[k]->dtype))
      st = set_grad_fn(ctx, outputs[k], node, k);
  }
  lg_node_release(node);
  return st;
}

/* ---- grad_fn names ------------------------------------------------------- */

/* "index_select" -> "IndexSelectBackward0", PyTorch's naming. */
const char *lg_node_name(const lg_node *n, char *buf, size_t size) {
  if (size == 0) return NULL;
  if (n->kind == LG_NODE_CUSTOM) {
    snprintf(buf, size, "%s", n->name ? n->name : "CustomBackward");
    return buf;
  }
  const char *name = lg_op_name(n->op);
  size_t k = 0;
  bool upper = true;
  for (; *name && k + 1 < size; name++) {
    if (*name == '_') {
      upper = true;
      continue;
    }
    char c = *name;
    buf[k++] = upper && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    upper = false;
  }
  snprintf(buf + k, size - k, "Backward0");
  return buf;
}

const char *lg_tensor_grad_fn_name(const lg_tensor *t, char *buf,
                                   size_t size) {
  lg_autograd_meta *m = meta_of(VALUE_OF(t));
  if (!m || !m->grad_fn) return NULL;
  return lg_node_name(m->grad_fn, buf, size);
}
