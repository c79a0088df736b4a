/* engine.c: the backward engine behind lg_autograd_backward and
 * lg_autograd_grad.
 *
 * A run finds the nodes reachable from the outputs, counts for each node
 * how many reachable nodes feed gradient into it, and runs a node's rule
 * only when that count has dropped to zero, i.e. when every contribution
 * to its output gradients has been summed into its buffers. Grad mode is
 * create_graph during the run, so with create_graph the rules' ops are
 * recorded and the gradients are themselves differentiable.
 *
 * Tensors marked by lg_tensor_set_has_hooks meet the context's grad hook
 * when their gradient is complete, and leaves again once .grad took it.
 *
 * In anomaly mode (lg_ctx_set_detect_anomaly) every gradient a rule hands
 * to its inputs is read for NaN and Inf before it flows on, and the run
 * fails naming the rule and the input; without it nothing is read.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd.h"
#include "dtype.h"

typedef struct node_list {
  lg_ctx *ctx;
  lg_node **items;
  int n, cap;
} node_list;

static bool list_push(node_list *l, lg_node *node) {
  if (l->n == l->cap) {
    int cap = l->cap ? l->cap * 2 : 64;
    lg_node **items = lg_mem_alloc(l->ctx, sizeof(lg_node *) * (size_t)cap);
    if (!items) return false;
    if (l->n) memcpy(items, l->items, sizeof(lg_node *) * (size_t)l->n);
    lg_mem_free(l->ctx, l->items, sizeof(lg_node *) * (size_t)l->cap);
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n++] = node;
  return true;
}

static void list_free(node_list *l) {
  lg_mem_free(l->ctx, l->items, sizeof(lg_node *) * (size_t)l->cap);
}

/* Adds g (taking the reference) into a gradient slot. */
static lg_status accumulate(lg_ctx *ctx, lg_tensor **slot, lg_tensor *g) {
  if (!*slot) {
    *slot = g;
    return LG_OK;
  }
  lg_tensor *sum = NULL;
  lg_status st = lg_run2(ctx, LG_OP_ADD, *slot, g, NULL, &sum);
  lg_tensor_release(g);
  if (st) return st;
  lg_tensor_release(*slot);
  *slot = sum;
  return LG_OK;
}

/* Stores g as (or adds it into) the .grad of a leaf or retaining tensor. */
static lg_status store_grad(lg_ctx *ctx, lg_tensor *t, lg_tensor *g,
                            bool create_graph) {
  lg_autograd_meta *m = t->autograd;
  lg_tensor *cast = NULL;
  lg_status st;
  if (g->dtype != t->dtype) {
    st = lg_contiguous_as(ctx, g, t->dtype, &cast);
    if (st) return st;
    g = cast;
  }
  if (!m->grad) {
    bool exclusive = g->refcount == 1 && g->storage->refcount == 1 &&
                     lg_tensor_is_contiguous(g);
    if (create_graph || exclusive) {
      m->grad = lg_hold(g);
      st = LG_OK;
    } else {
      st = lg_run1(ctx, LG_OP_CLONE, g, NULL, &m->grad);
      if (!st) m->grad->autograd_holds++;
    }
  } else if (create_graph) {
    m->grad->autograd_holds--; /* accumulate may replace m->grad */
    st = accumulate(ctx, &m->grad, lg_tensor_retain(g));
    m->grad->autograd_holds++;
  } else {
    lg_params p = {0};
    lg_tensor *out = NULL;
    p.flags = LG_FLAG_INPLACE;
    st = lg_run2(ctx, LG_OP_ADD, m->grad, g, &p, &out);
    lg_tensor_release(out);
  }
  lg_tensor_release(cast);
  return st;
}

/* Checks a node's saved tensors against in-place changes, then runs its
 * rule. grad_in has n_inputs slots, all NULL on entry. */
static lg_status run_rule(lg_ctx *ctx, lg_node *n, lg_tensor **grad_in) {
  char label[64];
  if (n->released) {
    lg_node_name(n, label, sizeof label);
    return lg_fail(ctx, LG_ERR_RUNTIME,
                   "backward: the graph through %s was already freed by an "
                   "earlier backward; pass retain_graph = true to the first "
                   "one to go through it twice", label);
  }
  for (int i = 0; i < n->n_inputs; i++) {
    lg_tensor *s = n->saved[i];
    if (s && s->storage->version != n->saved_versions[i]) {
      lg_node_name(n, label, sizeof label);
      return lg_fail(ctx, LG_ERR_RUNTIME,
                     "backward: input %d of %s was modified in place after "
                     "it was saved for the gradient (version %llu, expected "
                     "%llu); clone() it before changing it", i + 1, label,
                     (unsigned long long)s->storage->version,
                     (unsigned long long)n->saved_versions[i]);
    }
  }
  lg_tensor *grad_out[LG_MAX_DIMS];
  lg_tensor **outs = grad_out;
  lg_tensor **heap = NULL;
  if (n->n_outputs > LG_MAX_DIMS) {
    heap = lg_mem_alloc(ctx, sizeof(lg_tensor *) * (size_t)n->n_outputs);
    if (!heap) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
    outs = heap;
  }
  lg_status st = LG_OK;
  for (int k = 0; k < n->n_outputs; k++) {
    outs[k] = n->grad_buffer[k];
    n->grad_buffer[k] = NULL;
    if (!outs[k] && !st) {
      const lg_tensor_info *info = &n->output_info[k];
      lg_dtype dt = lg_dtype_is_float(info->dtype) ? info->dtype : LG_FLOAT32;
      st = lg_full(ctx, dt, info->ndim, info->sizes, 0, &outs[k]);
    }
  }
  if (!st) {
    if (n->kind == LG_NODE_CUSTOM)
      st = n->custom(ctx, n->custom_ud, n->n_outputs, outs, n->n_inputs,
                     grad_in);
    else
      st = lg_backward_rule(n->op)(ctx, n, outs, grad_in);
  }
  for (int k = 0; k < n->n_outputs; k++) lg_tensor_release(outs[k]);
  if (heap) lg_mem_free(ctx, heap, sizeof(lg_tensor *) * (size_t)n->n_outputs);
  if (st) {
    for (int i = 0; i < n->n_inputs; i++) {
      lg_tensor_release(grad_in[i]);
      grad_in[i] = NULL;
    }
  }
  return st;
}

typedef struct run_state {
  lg_ctx *ctx;
  const char *fname;  /* "backward" or "grad", for messages */
  const lg_backward_opts *opts;
  uint64_t run_id;
  node_list seen;   /* every reachable node */
  node_list ready;  /* nodes whose gradients are complete */
  int n_capture;    /* lg_autograd_grad: which node outputs to return */
  lg_edge *capture;
  lg_tensor **captured;
} run_state;

/* Finds the reachable nodes and counts each one's incoming edges. */
static lg_status discover(run_state *r, int n_roots, const lg_edge *roots) {
  node_list stack = {r->ctx, NULL, 0, 0};
  lg_status st = LG_OK;
  for (int i = 0; i < n_roots && !st; i++) {
    lg_node *n = roots[i].node;
    if (n->run_id == r->run_id) continue;
    n->run_id = r->run_id;
    n->dependencies = 0;
    n->is_target = n->needed = n->executed = false;
    if (!list_push(&r->seen, n) || !list_push(&stack, n))
      st = lg_fail(r->ctx, LG_ERR_MEMORY, "out of memory in backward");
  }
  while (!st && stack.n > 0) {
    lg_node *n = stack.items[--stack.n];
    for (int i = 0; i < n->n_inputs; i++) {
      lg_node *next = n->edges[i].node;
      if (!next) continue;
      if (next->run_id != r->run_id) {
        next->run_id = r->run_id;
        next->dependencies = 0;
        next->is_target = next->needed = next->executed = false;
        if (!list_push(&r->seen, next) || !list_push(&stack, next)) {
          st = lg_fail(r->ctx, LG_ERR_MEMORY, "out of memory in backward");
          break;
        }
      }
      next->dependencies++;
    }
  }
  list_free(&stack);
  return st;
}

/* lg_autograd_grad runs only the rules on paths to the requested inputs
 * (as PyTorch does), so the rest of the graph stays usable. Marks each
 * node that leads to a target, walking a topological order backwards. */
static lg_status mark_needed(run_state *r) {
  node_list order = {r->ctx, NULL, 0, 0}, stack = {r->ctx, NULL, 0, 0};
  lg_status st = LG_OK;
  for (int c = 0; c < r->n_capture; c++)
    if (r->capture[c].node->run_id == r->run_id)
      r->capture[c].node->is_target = true;
  for (int i = 0; i < r->seen.n && !st; i++) {
    lg_node *n = r->seen.items[i];
    n->pending = n->dependencies;
    if (n->pending == 0 && !list_push(&stack, n)) st = LG_ERR_MEMORY;
  }
  while (!st && stack.n > 0) {
    lg_node *n = stack.items[--stack.n];
    if (!list_push(&order, n)) {
      st = LG_ERR_MEMORY;
      break;
    }
    for (int i = 0; i < n->n_inputs; i++) {
      lg_node *next = n->edges[i].node;
      if (next && --next->pending == 0 && !list_push(&stack, next))
        st = LG_ERR_MEMORY;
    }
  }
  for (int k = order.n - 1; k >= 0 && !st; k--) {
    lg_node *n = order.items[k];
    for (int i = 0; i < n->n_inputs && !n->needed; i++) {
      lg_node *next = n->edges[i].node;
      n->needed = next && (next->needed || next->is_target);
    }
  }
  list_free(&order);
  list_free(&stack);
  if (st) return lg_fail(r->ctx, LG_ERR_MEMORY, "out of memory in backward");
  return LG_OK;
}

/* Anomaly mode: the first NaN or Inf in what n's rule produced fails the
 * run with a message naming the rule and the input. */
static lg_status check_anomaly(run_state *r, lg_node *n,
                               lg_tensor *const *grad_in) {
  for (int i = 0; i < n->n_inputs; i++) {
    lg_tensor *g = grad_in[i];
    if (!g || !lg_dtype_is_float(g->dtype)) continue;
    int64_t count = lg_tensor_numel(g);
    for (int64_t k = 0; k < count; k++) {
      double v = lg_tensor_get(g, k);
      if (isfinite(v)) continue;
      char label[64];
      lg_node_name(n, label, sizeof label);
      return lg_fail(r->ctx, LG_ERR_RUNTIME,
                     "%s: %s produced %s in the gradient of input %d "
                     "(anomaly mode)", r->fname, label,
                     isnan(v) ? "NaN" : "Inf", i + 1);
    }
  }
  return LG_OK;
}

/* Calls the context's hook for t when t asked for it (lg_grad_hook_fn). */
static lg_status call_hook(lg_ctx *ctx, lg_tensor *t, lg_grad_hook_kind kind,
                           lg_tensor **grad) {
  lg_autograd_meta *m = t->autograd;
  if (!ctx->grad_hook || !m || !m->has_hooks)
    return LG_OK;
  return ctx->grad_hook(ctx, ctx->grad_hook_ud, t, kind, grad);
}

static lg_status process(run_state *r, lg_node *n) {
  lg_ctx *ctx = r->ctx;
  lg_status st = LG_OK;
  if (n->retained)
    for (int k = 0; k < n->n_outputs && !st; k++)
      if (n->retained[k] && n->grad_buffer[k])
        st = call_hook(ctx, n->retained[k], LG_HOOK_GRAD, &n->grad_buffer[k]);
  if (n->kind == LG_NODE_ACCUMULATE && n->grad_buffer[0] && !st)
    st = call_hook(ctx, n->leaf, LG_HOOK_GRAD, &n->grad_buffer[0]);
  if (st) return st;
  for (int c = 0; c < r->n_capture; c++) {
    if (r->capture[c].node == n && n->grad_buffer[r->capture[c].output_nr]) {
      lg_tensor *g = n->grad_buffer[r->capture[c].output_nr];
      lg_tensor_release(r->captured[c]);
      r->captured[c] = lg_tensor_retain(g);
    }
  }
  if (n->retained) {
    for (int k = 0; k < n->n_outputs && !st; k++)
      if (n->retained[k] && n->grad_buffer[k] && !r->n_capture &&
          ((lg_autograd_meta *)n->retained[k]->autograd)->retains_grad)
        st = store_grad(ctx, n->retained[k], n->grad_buffer[k],
                        r->opts->create_graph);
  }
  if (st) return st;
  if (n->kind == LG_NODE_ACCUMULATE) {
    if (!r->n_capture && n->grad_buffer[0]) {
      st = store_grad(ctx, n->leaf, n->grad_buffer[0], r->opts->create_graph);
      if (!st) st = call_hook(ctx, n->leaf, LG_HOOK_ACCUMULATED, NULL);
    }
    lg_tensor_release(n->grad_buffer[0]);
    n->grad_buffer[0] = NULL;
    return st;
  }
  if (r->n_capture && !n->needed) { /* nothing below it was asked for */
    for (int k = 0; k < n->n_outputs; k++) {
      lg_tensor_release(n->grad_buffer[k]);
      n->grad_buffer[k] = NULL;
    }
    for (int i = 0; i < n->n_inputs; i++) {
      lg_node *next = n->edges[i].node;
      if (next && --next->dependencies == 0 && !list_push(&r->ready, next))
        return lg_fail(ctx, LG_ERR_MEMORY, "out of memory in backward");
    }
    return LG_OK;
  }
  n->executed = true;
  enum { SMALL = 8 };
  lg_tensor *small[SMALL] = {NULL};
  lg_tensor **grad_in = small;
  if (n->n_inputs > SMALL) {
    size_t bytes = sizeof(lg_tensor *) * (size_t)n->n_inputs;
    grad_in = lg_mem_alloc(ctx, bytes);
    if (!grad_in) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
    memset(grad_in, 0, bytes);
  }
  st = run_rule(ctx, n, grad_in);
  if (!st && ctx->detect_anomaly) st = check_anomaly(r, n, grad_in);
  for (int i = 0; i < n->n_inputs; i++) {
    lg_edge *e = &n->edges[i];
    if (!e->node) {
      lg_tensor_release(grad_in[i]);
      continue;
    }
    if (!st && grad_in[i])
      st = accumulate(ctx, &e->node->grad_buffer[e->output_nr], grad_in[i]);
    else
      lg_tensor_release(grad_in[i]);
    if (--e->node->dependencies == 0 && !st && !list_push(&r->ready, e->node))
      st = lg_fail(ctx, LG_ERR_MEMORY, "out of memory in backward");
  }
  if (grad_in != small)
    lg_mem_free(ctx, grad_in, sizeof(lg_tensor *) * (size_t)n->n_inputs);
  return st;
}

/* The root edge of an output, creating a leaf's sink when needed. */
static lg_status root_edge(lg_ctx *ctx, lg_tensor *t, lg_edge *edge,
                           const char *fname, int index) {
  lg_autograd_meta *m = t->autograd;
  if (!m || (!m->grad_fn && !m->requires_grad))
    return lg_fail(ctx, LG_ERR_ARG,
                   "%s: tensor %d does not require grad and has no grad_fn",
                   fname, index + 1);
  return lg_autograd_edge_of(ctx, t, edge);
}

/* The initial gradient of output i: given, or ones for a scalar. */
static lg_status root_grad(lg_ctx *ctx, lg_tensor *out, lg_tensor *given,
                           const char *fname, lg_tensor **g) {
  if (!given) {
    if (lg_tensor_numel(out) != 1)
      return lg_fail(ctx, LG_ERR_SHAPE,
                     "%s: grad can be created implicitly only for scalar "
                     "outputs; pass a gradient for an output with %lld "
                     "elements", fname, (long long)lg_tensor_numel(out));
    return lg_full(ctx, out->dtype, out->ndim, out->sizes, 1, g);
  }
  if (!lg_tensor_has_shape(given, out->ndim, out->sizes)) {
    char a[160], b[160];
    return lg_fail(ctx, LG_ERR_SHAPE,
                   "%s: gradient of shape %s does not match the output's "
                   "shape %s", fname,
                   lg_shape_str(a, sizeof a, given->ndim, given->sizes),
                   lg_shape_str(b, sizeof b, out->ndim, out->sizes));
  }
  *g = lg_tensor_retain(given);
  return LG_OK;
}

static lg_status run_backward(lg_ctx *ctx, const char *fname, int n_out,
                              lg_tensor *const *outputs,
                              lg_tensor *const *grad_outputs,
                              const lg_backward_opts *opts, int n_in,
                              lg_tensor *const *inputs, lg_tensor **grads) {
  static const lg_backward_opts defaults = {false, false, false};
  if (!opts) opts = &defaults;
  if (n_out < 1)
    return lg_fail(ctx, LG_ERR_ARG, "%s: expected at least one output", fname);
  run_state r = {0};
  r.ctx = ctx;
  r.fname = fname;
  r.opts = opts;
  r.run_id = ++ctx->autograd_runs;
  r.seen.ctx = r.ready.ctx = ctx;
  lg_status st = LG_OK;
  size_t edge_bytes = sizeof(lg_edge) * (size_t)(n_out + n_in);
  lg_edge *edges = lg_mem_alloc(ctx, edge_bytes);
  if (!edges) return lg_fail(ctx, LG_ERR_MEMORY, "out of memory");
  memset(edges, 0, edge_bytes);
  lg_edge *roots = edges, *capture = edges + n_out;
  for (int i = 0; i < n_in; i++) grads[i] = NULL;
  for (int i = 0; i < n_out && !st; i++)
    st = root_edge(ctx, outputs[i], &roots[i], fname, i);
  for (int i = 0; i < n_in && !st; i++) {
    st = root_edge(ctx, inputs[i], &capture[i], fname, i);
    if (st)
      st = lg_fail(ctx, LG_ERR_ARG,
                   "%s: input %d does not require grad, so no gradient can "
                   "be taken with respect to it", fname, i + 1);
  }
  r.n_capture = n_in;
  r.capture = capture;
  r.captured = grads;
  bool mode = ctx->grad_enabled;
  ctx->grad_enabled = opts->create_graph;
  if (!st) st = discover(&r, n_out, roots);
  if (!st && n_in > 0) st = mark_needed(&r);
  for (int i = 0; i < n_out && !st; i++) {
    lg_tensor *g = NULL;
    st = root_grad(ctx, outputs[i], grad_outputs ? grad_outputs[i] : NULL,
                   fname, &g);
    if (!st)
      st = accumulate(ctx, &roots[i].node->grad_buffer[roots[i].output_nr], g);
  }
  for (int i = 0; i < r.seen.n && !st; i++)
    if (r.seen.items[i]->dependencies == 0 &&
        !list_push(&r.ready, r.seen.items[i]))
      st = lg_fail(ctx, LG_ERR_MEMORY, "out of memory in backward");
  while (!st && r.ready.n > 0) st = process(&r, r.ready.items[--r.ready.n]);
  ctx->grad_enabled = mode;
  for (int i = 0; i < r.seen.n; i++) {
    lg_node *n = r.seen.items[i];
    for (int k = 0; k < n->n_outputs; k++) {
      lg_tensor_release(n->grad_buffer[k]);
      n->grad_buffer[k] = NULL;
    }
    if (!st && !opts->retain_graph && n->executed &&
        n->kind != LG_NODE_ACCUMULATE) {
      for (int j = 0; j < n->n_inputs; j++) {
        lg_unhold(n->saved[j]);
        n->saved[j] = NULL;
      }
      n->released = true;
    }
  }
  for (int i = 0; i < n_in && !st; i++) {
    if (grads[i] || opts->allow_unused) continue;
    st = lg_fail(ctx, LG_ERR_ARG,
                 "%s: input %d was not used to compute the outputs; pass "
                 "allow_unused = true to get nil for it", fname, i + 1);
  }
  if (st)
    for (int i = 0; i < n_in; i++) {
      lg_tensor_release(grads[i]);
      grads[i] = NULL;
    }
  for (int i = 0; i < n_out + n_in; i++) lg_node_release(edges[i].node);
  lg_mem_free(ctx, edges, edge_bytes);
  list_free(&r.seen);
  list_free(&r.ready);
  return st;
}

/* Accumulates gradients of outputs into the leaves' .grad. */
lg_status lg_autograd_backward(lg_ctx *ctx, int n_outputs,
                               lg_tensor *const *outputs,
                               lg_tensor *const *grad_outputs,
                               const lg_backward_opts *opts) {
  return run_backward(ctx, "backward", n_outputs, outputs, grad_outputs, opts,
                      0, NULL, NULL);
}

/* Returns gradients of outputs with respect to inputs. */
lg_status lg_autograd_grad(lg_ctx *ctx, int n_outputs,
                           lg_tensor *const *outputs,
                           lg_tensor *const *grad_outputs, int n_inputs,
                           lg_tensor *const *inputs,
                           const lg_backward_opts *opts, lg_tensor **grads) {
  return run_backward(ctx, "grad", n_outputs, outputs, grad_outputs, opts,
                      n_inputs, inputs, grads);
}
