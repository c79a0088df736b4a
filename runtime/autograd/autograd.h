/* autograd.h: the graph behind reverse-mode autograd (internal).
 *
 * Invariant: edges point from a node to the nodes of its inputs, i.e.
 * backwards in time, so the graph is acyclic and plain reference counts
 * free it: a tensor holds its grad_fn, a node holds the nodes of its
 * inputs and the inputs it saved. A leaf's gradient sink (its accumulate
 * node) holds the leaf; the leaf points back to it without a reference.
 * Backward rules are written with the same differentiable ops as the
 * forward pass, so a backward run under create_graph is itself recorded.
 */
#ifndef LG_AUTOGRAD_H
#define LG_AUTOGRAD_H

#include "core.h"

typedef struct lg_node lg_node;

typedef enum lg_node_kind {
  LG_NODE_OP,         /* an op of lg_ops.h                  */
  LG_NODE_ACCUMULATE, /* sink of a leaf: adds into leaf.grad */
  LG_NODE_CUSTOM      /* a backward supplied by the binding  */
} lg_node_kind;

/* A backward rule: grad_out[k] (never NULL; zeros when no gradient flowed)
 * for each output -> grad_in[i] for each input (NULL: no gradient). */
typedef lg_status (*lg_backward_fn)(lg_ctx *ctx, lg_node *node,
                                    lg_tensor *const *grad_out,
                                    lg_tensor **grad_in);

typedef struct lg_edge {
  lg_node *node; /* NULL when the input needs no gradient */
  int output_nr; /* which output of node the input is     */
} lg_edge;

typedef struct lg_tensor_info {
  lg_dtype dtype;
  int ndim;
  int64_t sizes[LG_MAX_DIMS];
} lg_tensor_info;

struct lg_node {
  int refcount;
  lg_ctx *ctx;                  /* whose allocator holds this node         */
  lg_node_kind kind;
  lg_op op;
  lg_params params;
  int n_inputs;
  int n_outputs;
  lg_edge *edges;               /* n_inputs                                */
  lg_tensor **saved;            /* n_inputs: the inputs as they were       */
  uint64_t *saved_versions;     /* their version counters when saved       */
  lg_tensor_info *input_info;   /* n_inputs                                */
  lg_tensor_info *output_info;  /* n_outputs                               */
  lg_tensor **saved_outputs;    /* n_outputs: non-differentiable outputs   */
  lg_tensor **retained;         /* n_outputs: tensors that retain_grad()   */
  bool released;                /* saved tensors freed by a backward run   */
  lg_tensor *leaf;              /* ACCUMULATE: the leaf                    */
  /* CUSTOM */
  lg_custom_backward_fn custom;
  void *custom_ud;
  void (*custom_free)(void *ud);
  char *name;                   /* CUSTOM: its display name                */
  /* scratch of one engine run */
  uint64_t run_id;
  int dependencies;
  int pending;                  /* dependencies left, for ordering       */
  bool is_target;               /* lg_autograd_grad returns its gradient  */
  bool needed;                  /* leads to a target: its rule must run   */
  bool executed;                /* its rule ran in this run               */
  lg_tensor **grad_buffer;      /* n_outputs                               */
  struct lg_node *next_dead;    /* lg_node_release's list of nodes to free */
};

/* Per-tensor autograd state, created on first need. */
typedef struct lg_autograd_meta {
  bool requires_grad;  /* a leaf asked for gradients                     */
  bool retains_grad;
  bool has_hooks;      /* the engine calls ctx->grad_hook for it       */
  bool is_view;        /* made by a view op from a tensor needing grad   */
  lg_tensor *grad;
  lg_node *grad_fn;    /* NULL for leaves                                */
  int output_nr;
  lg_node *accumulator;/* a leaf's sink, not referenced (see invariant)  */
  struct lg_tangent *tangents; /* forward mode: one per dual level (dual.c) */
} lg_autograd_meta;

/* t's autograd state, created when missing (NULL when out of memory). */
lg_autograd_meta *lg_autograd_meta_ensure(lg_ctx *ctx, lg_tensor *t);
/* Fails "<what> of shape .. and dtype .. does not match <like_what> shape
 * .. and dtype .." unless t has like's shape and dtype. */
lg_status lg_check_like(lg_ctx *ctx, const lg_tensor *t, const lg_tensor *like,
                        const char *what, const char *like_what);
/* Drops every tangent a tensor's state holds (dual.c). */
void lg_dual_tangents_free(lg_ctx *ctx, lg_autograd_meta *m);

/* True when t takes part in the graph (requires grad or has a grad_fn). */
bool lg_autograd_needs_grad(const lg_tensor *t);
/* Called by lg_tensor_release for tensors with autograd state. */
void lg_autograd_meta_free(lg_tensor *t);
void lg_node_release(lg_node *node);
/* The node's grad_fn name ("MulBackward0", a custom node's own name) in
 * buf; NULL when size is 0. */
const char *lg_node_name(const lg_node *n, char *buf, size_t size);
/* While grad mode is on, fails naming name (the user-facing op, such as
 * "uniform_") when t is a leaf that requires grad or a view of a tensor
 * that requires grad: those can't be written in place. */
lg_status lg_autograd_check_inplace(lg_ctx *ctx, const lg_tensor *t,
                                    const char *name);
/* The edge through which gradient reaches t: its grad_fn, or its leaf's
 * sink (created on first need); NULL node when t needs no gradient. The
 * edge holds a new node reference. */
lg_status lg_autograd_edge_of(lg_ctx *ctx, lg_tensor *t, lg_edge *edge);
/* Whether from holds a reference to target through autograd state (.grad,
 * grad_fn, saved tensors, leaf sinks): assigning from as target's .grad
 * would close a reference cycle (reach.c). */
lg_status lg_autograd_reaches(lg_ctx *ctx, lg_tensor *from,
                              const lg_tensor *target, bool *reaches);
/* The same walk from n tensors, swapping every save of target in their
 * graphs for a detached alias (an in-place op on target is about to make
 * those saves stale); reaches: target is still reachable another way. */
lg_status lg_autograd_unsave(lg_ctx *ctx, int n, lg_tensor *const *from,
                             lg_tensor *target, bool *reaches);
/* The backward rule of op from the op table. */
lg_backward_fn lg_backward_rule(lg_op op);

/* ---- writing backward rules ------------------------------------------- */

/* A scope collects the temporaries of a rule and the first failure, so a
 * rule reads as a formula: every call on a failed scope returns NULL and
 * does nothing; scope_end releases what was not kept. The temporaries live
 * in a small inline array that moves to the context's allocator when a
 * rule uses more (cat of thousands of tensors): no fixed limit. */
#define LG_SCOPE_INLINE 32
typedef struct lg_scope {
  lg_ctx *ctx;
  lg_status status;
  int n, cap;
  lg_tensor **temps;   /* inline, or grown through the context allocator */
  lg_tensor *inline_temps[LG_SCOPE_INLINE];
} lg_scope;

void lg_scope_begin(lg_scope *s, lg_ctx *ctx);
/* Releases the temporaries; returns the scope's status. */
lg_status lg_scope_end(lg_scope *s);
/* A new reference to t that survives scope_end (NULL stays NULL). */
lg_tensor *lg_keep(lg_scope *s, lg_tensor *t);
/* Makes t (a new reference built outside the scope) a temporary of it;
 * on a failed scope, or when the scope cannot grow, t is released.
 * Returns t, or NULL. */
lg_tensor *lg_s_adopt(lg_scope *s, lg_tensor *t);
/* Runs op and registers its result as a temporary. */
lg_tensor *lg_s_op(lg_scope *s, lg_op op, int n, lg_tensor *const *in,
                   const lg_params *p);
/* Runs op and registers every output (outs: lg_op_num_outputs slots) as a
 * temporary; returns the scope's status. */
lg_status lg_s_op_all(lg_scope *s, lg_op op, int n, lg_tensor *const *in,
                      const lg_params *p, lg_tensor **outs);
lg_tensor *lg_s_unary(lg_scope *s, lg_op op, lg_tensor *a);
lg_tensor *lg_s_binary(lg_scope *s, lg_op op, lg_tensor *a, lg_tensor *b);
/* a op k and k op a with a number k. */
lg_tensor *lg_s_scalar(lg_scope *s, lg_op op, lg_tensor *a, double k);
lg_tensor *lg_s_rscalar(lg_scope *s, lg_op op, double k, lg_tensor *a);
/* Sums a broadcast gradient back to a shape (dims added or expanded). */
lg_tensor *lg_s_sum_to(lg_scope *s, lg_tensor *g, const lg_tensor_info *to);
/* A tensor of zeros shaped like info. */
lg_tensor *lg_s_zeros(lg_scope *s, const lg_tensor_info *info);
/* Converts g to info's dtype when it differs (float grads of mixed ops). */
lg_tensor *lg_s_cast(lg_scope *s, lg_tensor *g, lg_dtype dtype);

/* t reshaped to sizes (a view when the layout allows, a copy otherwise, so
 * a non-contiguous gradient is fine); _to: to info's sizes. */
lg_tensor *lg_s_reshape(lg_scope *s, lg_tensor *t, int ndim,
                        const int64_t *sizes);
lg_tensor *lg_s_reshape_to(lg_scope *s, lg_tensor *t,
                           const lg_tensor_info *info);
/* g with `before` zeros in front and `after` zeros behind along dim: the
 * gradient of a slice, scattered back into the full extent. A cat keeps
 * the result a differentiable function of g (its backward narrows). */
lg_tensor *lg_s_pad_dim(lg_scope *s, lg_tensor *g, int64_t dim,
                        int64_t before, int64_t after);
/* t with its last two dims swapped. */
lg_tensor *lg_s_transpose(lg_scope *s, lg_tensor *t);
/* A reduction (SUM, MEAN, ...) of a over dims, keepdim. */
lg_tensor *lg_s_reduce_kept(lg_scope *s, lg_op op, lg_tensor *a, int n,
                            const int64_t *dims);
/* The sum of a (N, C, *) over every dim but the channel, giving (C): the
 * trailing dims first, then N, two passes over dense memory (a bias or
 * norm weight gradient; one sum over (0, 2, 3) gathers strided rows and
 * took ~9x PyTorch's time). */
lg_tensor *lg_s_sum_channels(lg_scope *s, lg_tensor *a);
/* A per-channel vector v (C) shaped to broadcast against x (N,C,*):
 * (C,1,...,1) with x_ndim - 1 dims. */
lg_tensor *lg_s_per_channel(lg_scope *s, lg_tensor *v, int x_ndim);
/* conv_transpose2d(g, w) with base's stride, padding, dilation and groups,
 * exactly h x wd (ops/conv_backward.c; avg_pool2d's backward uses it). */
lg_tensor *lg_s_conv_transpose_to(lg_scope *s, lg_tensor *g, lg_tensor *w,
                                  const lg_params *base, int64_t h,
                                  int64_t wd);

/* A reference held by autograd state (a node's save or sink, a .grad):
 * counted in t->autograd_holds, so that an in-place op on a tensor that
 * nothing in autograd holds can skip the cycle walk (reach.c). */
static inline lg_tensor *lg_hold(lg_tensor *t) {
  if (t) t->autograd_holds++;
  return lg_tensor_retain(t);
}
static inline void lg_unhold(lg_tensor *t) {
  if (t) t->autograd_holds--;
  lg_tensor_release(t);
}

/* The input a rule saved (NULL after release). */
static inline lg_tensor *lg_saved(const lg_node *node, int i) {
  return node->saved ? node->saved[i] : NULL;
}

/* Whether input i of the node needs a gradient at all. */
static inline bool lg_needs(const lg_node *node, int i) {
  return node->edges[i].node != NULL;
}

/* A dim the forward validated, as 0..ndim-1 (params may hold a negative
 * one). */
static inline int64_t lg_dim_index(int64_t dim, int ndim) {
  return dim < 0 ? dim + ndim : dim;
}

/* Backward rule families named in lg_ops.h. */
#define LG_BACKWARD_DECLARE(id, name, kind, nin, nout, fwd, bwd, saves, view, \
                            batch, jvp)                                      \
  lg_status bwd(lg_ctx *ctx, lg_node *node, lg_tensor *const *grad_out,     \
                lg_tensor **grad_in);
LG_OP_LIST(LG_BACKWARD_DECLARE)
#undef LG_BACKWARD_DECLARE

#endif
