/* vmap.h: batched tensors, the vmap layer and the helpers of the batching
 * rules (internal to the runtime).
 *
 * Layout of the vmap work:
 *   runtime/vmap/batched.c   batched tensors (wrap, unwrap, release)
 *   runtime/vmap/layer.c     the vmap levels and their dispatch layer, the
 *                            per-example loop fallback, the rule helpers
 *   runtime/ops/<family>_batch.c  the batching rules named in lg_ops.h's
 *                            batch column (elementwise, reduce, shape,
 *                            index, linalg, nn)
 *
 * A batched tensor (functorch's BatchedTensor) is an lg_tensor whose own
 * dtype, sizes and strides are one example's, viewing example 0 of its
 * value, so every accessor (and so Lua: x.shape, x:dim()) sees one example;
 * its `batched` field holds the value (the whole batch), the batch dim in
 * the value and the vmap level. Each func.vmap call pushes a level, a
 * dispatch layer that unwraps the inputs batched at its level and runs the
 * op's batching rule once over the whole batch, its ops one layer down
 * (vb_run): nested vmap is nested levels, and autograd (the bottom layer)
 * records the plain ops the rules run, so grad inside vmap differentiates
 * through them.
 */
#ifndef LG_VMAP_H
#define LG_VMAP_H

#include "core.h"

typedef struct lg_batched {
  lg_tensor *value; /* the whole batch (owned)            */
  int bdim;         /* the batch dim in value (0-based)   */
  int level;        /* the vmap level that batched it      */
} lg_batched;

/* One vmap level: its layer on the dispatch stack. */
typedef struct lg_vmap_level {
  lg_layer layer;
  int level;
  int64_t batch_size;
  int randomness; /* LG_RANDOMNESS_* */
} lg_vmap_level;

#define LG_VMAP_MAX_LEVELS 32
typedef struct lg_vmap_state {
  lg_vmap_level *levels[LG_VMAP_MAX_LEVELS]; /* the active ones, outer first */
  int n_levels;
  int next_level;    /* levels are numbered 1, 2, ... as entered */
  int below;         /* where vb_run dispatches: the running rule's layer */
  unsigned char warned[LG_OP_COUNT];   /* loop fallback warned about op   */
  int pending[LG_OP_COUNT], n_pending; /* warnings not yet taken          */
} lg_vmap_state;

/* Frees the state (lg_ctx_free). */
void lg_vmap_state_free(lg_ctx *ctx);
/* Drops a batched tensor's value (lg_tensor_release). */
void lg_batched_free(lg_ctx *ctx, lg_batched *b);

/* ---- helpers of the batching rules (layer.c) ---------------------------- */

/* Runs op one layer below the vmap level whose rule is running. */
lg_status vb_run(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                 const lg_params *p, lg_tensor **outs);
lg_status vb_run1(lg_ctx *ctx, lg_op op, lg_tensor *x, const lg_params *p,
                  lg_tensor **out);
/* The batch size: the size of the first batched input's batch dim. */
int64_t vb_batch_size(int n_in, lg_tensor *const *in, const int *bdim);
/* The example's rank of x (its rank less the batch dim when it has one). */
int vb_rank(const lg_tensor *x, int bdim);
/* x with its batch dim moved to the front and size-1 dims inserted after it
 * until the example has rank `rank` (at least its own); an unbatched x
 * (bdim -1) comes back as it is (a new reference). */
lg_status vb_front(lg_ctx *ctx, lg_tensor *x, int bdim, int rank,
                   lg_tensor **out);
/* x with the batch dim at the front, an unbatched x expanded to b examples. */
lg_status vb_all(lg_ctx *ctx, lg_tensor *x, int bdim, int64_t b,
                 lg_tensor **out);
/* dim of an example of rank `rank` (negative from the end) as a dim of the
 * batch with its batch dim at the front. */
int64_t vb_dim(int64_t dim, int rank);
/* Reshapes x (batch dim first) so that its first `n` dims fold into one
 * (fold) or its first dim splits back into b and the rest (unfold). */
lg_status vb_fold(lg_ctx *ctx, lg_tensor *x, int n, lg_tensor **out);
lg_status vb_unfold(lg_ctx *ctx, lg_tensor *x, int64_t b, lg_tensor **out);
/* The batch folded into the channels (the grouped-conv and per-example
 * batch_norm layout): x (b, N, C, rest...) -> (N, b*C, rest...); and back,
 * (N, b*C, rest...) -> (N, b, C, rest...) (the batch dim then is 1). */
lg_status vb_fold_channels(lg_ctx *ctx, lg_tensor *x, lg_tensor **out);
lg_status vb_unfold_channels(lg_ctx *ctx, lg_tensor *x, int64_t b,
                             lg_tensor **out);

/* The fallback of ops without a rule: the op once per example, stacked. */
lg_status lg_batch_loop(lg_ctx *ctx, lg_op op, int n_in, lg_tensor *const *in,
                        const int *in_bdim, const lg_params *p,
                        lg_tensor **outs, int *out_bdim);

/* Random draws inside vmap (random.c): under randomness "error" at any
 * active level, fail naming the function; check also fails under
 * "different" when the draw can't have batch dims (different false). */
lg_status lg_vmap_random_check(lg_ctx *ctx, const char *name,
                               bool different);
/* The samplers of tensors (sample.c): lg_vmap_random_check without
 * "different", and none of ts (n of them; NULLs allowed) batched. */
lg_status lg_vmap_random_plain(lg_ctx *ctx, const char *name, int n,
                               const lg_tensor *const *ts);
/* An empty tensor for a draw of sizes, with a batch dim in front for every
 * active level whose randomness is "different" (outer first)... */
lg_status lg_vmap_random_empty(lg_ctx *ctx, const char *name, lg_dtype dtype,
                               int ndim, const int64_t *sizes,
                               lg_tensor **out);
/* ... and the drawn tensor batched at those levels (replaces *t). */
lg_status lg_vmap_random_wrap(lg_ctx *ctx, lg_tensor **t);

/* Releases n tensors of an array (NULLs allowed). */
void vb_release(int n, lg_tensor **t);

#endif
