/* core.h: the runtime's internal structs and helpers (not installed).
 *
 * Invariant: a tensor is a view (dtype, sizes, strides in elements, offset)
 * on exactly one refcounted storage; every byte of a storage comes from its
 * context's allocator, and every storage holds a reference to its context,
 * so a context outlives the last tensor made in it.
 */
#ifndef LG_CORE_H
#define LG_CORE_H

#include <stdarg.h>
#include <stdatomic.h>

#ifdef LGL_BINDING
#error "the binding includes luagrad.h and luagrad_ext.h only"
#endif

#include "luagrad.h"
#include "luagrad_ext.h"
#include "lg_compile.h"
#include "rules.h"

#define LG_ERROR_SIZE 512

/* The caching allocator of tensor memory (alloc_cache.c): free lists of
 * storage blocks and tensor structs by size class, bounded by a limit that
 * by default follows the peak of live blocks (LG_CACHE_AUTO). */
#define LG_CACHE_CLASSES 100
#define LG_CACHE_MAX_BLOCK ((size_t)1 << 30) /* larger blocks: never cached */
#define LG_CACHE_DEFAULT_LIMIT ((size_t)64 << 20) /* the auto limit's floor */
#define LG_CACHE_AUTO SIZE_MAX /* limit: max(floor, peak of live bytes) */
typedef struct lg_alloc_cache {
  void *free_lists[LG_CACHE_CLASSES]; /* linked through their first word */
  size_t cached_bytes; /* bytes waiting in the free lists (<= limit)     */
  size_t limit;        /* LG_CACHE_AUTO or the host's own bound          */
  size_t host_bytes;   /* bytes held from the host: live plus cached     */
  size_t peak_live;    /* the most bytes ever live (host minus cached)   */
  uint64_t handed_out; /* bytes of every block handed out, ever          */
} lg_alloc_cache;

/* A dispatch layer (dispatch.c): a stage every op passes through on its
 * way to the kernel, such as autograd recording. run either handles the op
 * (possibly by running ops one layer down on unwrapped inputs, with
 * lg_dispatch(ctx, level, ...)) or passes it on unchanged by returning
 * lg_dispatch(ctx, level, op, ...): level is the layer's own position, so
 * lg_dispatch at it runs the layers below it and then the kernel. */
typedef struct lg_pool lg_pool;
typedef struct lg_layer lg_layer;
typedef lg_status (*lg_layer_fn)(lg_ctx *ctx, const lg_layer *layer,
                                 int level, lg_op op, int n_in,
                                 lg_tensor *const *in, const lg_params *p,
                                 lg_tensor **outs);
struct lg_layer {
  const char *name;
  lg_layer_fn run;
  void *ud;   /* the layer's own state */
};
#define LG_LAYERS_INLINE 8

struct lg_ctx {
  int refcount;
  lg_alloc_fn alloc;
  void *alloc_ud;
  uint64_t seed;         /* Philox key */
  uint64_t rng_offset;   /* Philox counter: blocks of 4 words used so far */
  int num_threads;
  bool grad_enabled;
  bool detect_anomaly;    /* backward checks every gradient for NaN/Inf */
  lg_grad_hook_fn grad_hook; /* lg_ctx_set_grad_hook */
  void *grad_hook_ud;
  size_t bytes_in_use;
  uint64_t autograd_runs;  /* numbers backward runs (engine scratch marks) */
  char error[LG_ERROR_SIZE];
  lg_alloc_cache cache;    /* freed tensor memory kept for reuse */
  /* the dispatch stack, bottom first: layers[n_layers - 1] sees an op
   * first; autograd recording is layers[0] (lg_ctx_new) */
  const lg_layer **layers;
  int n_layers, cap_layers;
  const lg_layer *layers_inline[LG_LAYERS_INLINE];
  lg_print_options print;  /* how lg_tensor_format writes tensors */
  struct lg_vmap_state *vmap; /* vmap levels (runtime/vmap), NULL until used */
  /* what the host allows (limits.c, io/file_access.c) */
  size_t max_live_bytes;     /* 0: no limit on live tensor bytes */
  int64_t max_op_elements;   /* 0: no limit on one result's elements */
  atomic_int interrupt;      /* set by lg_ctx_interrupt, any thread */
  struct lg_file_access *files; /* NULL: every file may be read and written */
  uint64_t dual_levels;    /* forward-mode levels entered so far (ids) */
  struct lg_pool *pool;    /* worker threads (parallel.c), NULL until used */
  struct lg_tracer *trace;  /* func.compile recording (compile/trace.c)  */
  int trace_depth;         /* kernels running inside a recorded one     */
};

typedef struct lg_storage {
  int refcount;
  lg_ctx *ctx;
  void *data;
  size_t nbytes;         /* bytes of data                                */
  size_t block_bytes;    /* bytes of the allocated block holding it all  */
  uint64_t version;      /* bumped by every in-place write               */
  lg_release_fn release; /* host memory: called instead of freeing data  */
  void *release_ud;
} lg_storage;

struct lg_tensor {
  int refcount;
  lg_dtype dtype;
  int ndim;
  lg_storage *storage;
  int64_t offset;                  /* in elements */
  int64_t sizes[LG_MAX_DIMS];
  int64_t strides[LG_MAX_DIMS];    /* in elements; may be 0 (expand) */
  void *autograd;                  /* autograd/record.c's per-tensor state */
  struct lg_batched *batched;      /* vmap: non-NULL for a batched tensor
                                      (runtime/vmap/vmap.h) */
  int autograd_holds;              /* references to it from autograd
                                    * state: saves, sinks, .grad (the
                                    * cycle check of autograd/reach.c) */
  uint32_t binding_flags;          /* free for bindings (identity)   */
};


/* Tensor memory through the cache (alloc_cache.c): a block of at least n
 * bytes, given back with the same n; NULL when the host has none. */
void *lg_cache_alloc(lg_ctx *ctx, size_t n);
void lg_cache_free(lg_ctx *ctx, void *p, size_t n);
/* The bytes the host really allocates for a request of n. */
size_t lg_cache_block_size(size_t n);
void lg_cache_init(lg_alloc_cache *cache);
/* Returns every cached block to the host allocator. */
void lg_cache_flush(lg_ctx *ctx);
/* The most bytes the cache keeps (LG_CACHE_AUTO, the default: as many as
 * were ever live at once, at least LG_CACHE_DEFAULT_LIMIT; 0: no caching);
 * lowering it below what is cached flushes the cache. lg_ctx_cache_limit
 * gives the bound in force (the auto limit's current value). */
void lg_ctx_set_cache_limit(lg_ctx *ctx, size_t bytes);
size_t lg_ctx_cache_limit(const lg_ctx *ctx);
/* Bytes waiting in the cache. */
size_t lg_ctx_cached_bytes(const lg_ctx *ctx);
/* Advises 2 MB pages for a large block of ctx's default allocator that
 * will be read at random, before it is first touched (context.c). */
void lg_advise_random_access(const lg_ctx *ctx, void *data, size_t bytes);

/* ---- host limits and interrupts (limits.c) ----------------------------- */

/* Whether an interrupt is pending (a relaxed load: cheap in loops). */
static inline bool lg_interrupt_pending(lg_ctx *ctx) {
  return atomic_load_explicit(&ctx->interrupt, memory_order_relaxed) != 0;
}
/* LG_OK, or takes the pending interrupt and fails "interrupted": call at
 * a safe point (between panels, rows, blocks), then free and return. */
lg_status lg_check_interrupt(lg_ctx *ctx);
/* Fails with LG_ERR_LIMIT when a new storage of nbytes, or a tensor of
 * numel elements, would pass the host's limits. */
lg_status lg_check_limits(lg_ctx *ctx, size_t nbytes, int64_t numel);
/* Frees the file policy (io/file_access.c), for lg_ctx_free. */
void lg_file_access_free(lg_ctx *ctx);

/* numel of a shape with overflow and negative-size checks; -1 when bad. */
int64_t lg_shape_numel(int ndim, const int64_t *sizes);
/* Validates a shape and returns its numel, or fails naming op. */
lg_status lg_check_shape(lg_ctx *ctx, const char *op, int ndim,
                         const int64_t *sizes, int64_t *numel);
/* Writes "{2,3}" into buf. */
const char *lg_shape_str(char *buf, size_t size, int ndim,
                         const int64_t *sizes);
/* Normalises a possibly negative dim against ndim (dim in [-ndim, ndim)). */
lg_status lg_wrap_dim(lg_ctx *ctx, const char *op, int64_t dim, int ndim,
                      int64_t *out);

/* A new tensor viewing base's storage with the given geometry. */
lg_status lg_tensor_view_of(lg_ctx *ctx, const lg_tensor *base, int ndim,
                            const int64_t *sizes, const int64_t *strides,
                            int64_t offset, lg_tensor **out);
/* Whether t has exactly these sizes (and ndim). */
static inline bool lg_tensor_has_shape(const lg_tensor *t, int ndim,
                                       const int64_t *sizes) {
  if (t->ndim != ndim) return false;
  for (int i = 0; i < ndim; i++)
    if (t->sizes[i] != sizes[i]) return false;
  return true;
}
/* Whether sizes/strides are row-major contiguous (lg_tensor_is_contiguous). */
bool lg_geometry_contiguous(int ndim, const int64_t *sizes,
                            const int64_t *strides);
/* Row-major contiguous strides for sizes. */
void lg_contiguous_strides(int ndim, const int64_t *sizes, int64_t *strides);
/* The element size of a valid dtype, inline (lg_dtype_size, which checks
 * the range, is an out-of-line call of ~8 instructions on every op's path):
 * log2 of {1, 1, 4, 8, 4, 8} in two bits per dtype. dtype.c's
 * lg_dtype_size is this too, so the two can't disagree. */
#define LG_DTYPE_SIZE_SHIFTS 0xEE0u
static inline size_t lg_dtype_item(lg_dtype dtype) {
  return (size_t)1 << ((LG_DTYPE_SIZE_SHIFTS >> (2u * (unsigned)dtype)) & 3u);
}
static inline char *lg_data_ptr(const lg_tensor *t) {
  return (char *)t->storage->data + t->offset * (int64_t)lg_dtype_item(t->dtype);
}
static inline void lg_bump_version(lg_tensor *t) { t->storage->version++; }
/* Byte offset of the element at a flat row-major position. */
int64_t lg_flat_to_offset(const lg_tensor *t, int64_t flat);

/* Empty output of a given shape, or checks a caller-provided output. */
lg_status lg_prepare_out(lg_ctx *ctx, const char *op, lg_tensor **out,
                         lg_dtype dtype, int ndim, const int64_t *sizes);

/* Forward kernels named by lg_ops.h. Each validates its inputs, writes the
 * outputs (allocating the NULL ones) and returns a status. */
typedef lg_status (*lg_forward_fn)(lg_ctx *ctx, lg_op op,
                                   lg_tensor *const *in, int n_in,
                                   const lg_params *p, lg_tensor **out);
#define LG_OP_DECLARE(id, name, kind, nin, nout, fwd, bwd, saves, view, batch, \
                      jvp)                                                   \
  lg_status fwd(lg_ctx *ctx, lg_op op, lg_tensor *const *in, int n_in,      \
                const lg_params *p, lg_tensor **out);
LG_OP_LIST(LG_OP_DECLARE)
#undef LG_OP_DECLARE

/* The kernel of op alone, below every layer (with out= and in-place
 * handling, no checks, no graph). */
lg_status lg_run_kernel(lg_ctx *ctx, lg_op op, int n_in,
                        lg_tensor *const *in, const lg_params *p,
                        lg_tensor **outs);
/* Runs op through the layers below level, then the kernel (level 0: the
 * kernel alone); lg_op_run is lg_dispatch from the top of the stack after
 * checking the arguments. Inline: the eager small-op path. */
static inline lg_status lg_dispatch(lg_ctx *ctx, int level, lg_op op,
                                    int n_in, lg_tensor *const *in,
                                    const lg_params *p, lg_tensor **outs) {
  if (level <= 0) return lg_run_kernel(ctx, op, n_in, in, p, outs);
  const lg_layer *layer = ctx->layers[level - 1];
  return layer->run(ctx, layer, level - 1, op, n_in, in, p, outs);
}
/* Puts layer on top of ctx's stack; pop removes it again, and must be given
 * the top layer (layers nest: the last one pushed is popped first). */
lg_status lg_layer_push(lg_ctx *ctx, const lg_layer *layer);
lg_status lg_layer_pop(lg_ctx *ctx, const lg_layer *layer);
/* Autograd's recording layer (autograd/record.c), the bottom of every
 * context's stack. */
extern const lg_layer lg_autograd_layer;
/* Frees a stack grown past its inline slots (lg_ctx_free). */
void lg_layers_free(lg_ctx *ctx);
/* Frees the dual levels still on the stack (lg_ctx_free; autograd/dual.c). */
void lg_dual_levels_free(lg_ctx *ctx);


/* func.compile (compile/trace.c): lg_run_kernel hands the outermost
 * kernel call to the trace while one records; code outside kernels that
 * reads tensor values taints it (lg_trace_taint, lg_compile.h). */
static inline bool lg_tracing_outside_kernel(const lg_ctx *ctx) {
  return ctx->trace && !ctx->trace_depth;
}
lg_status lg_trace_kernel(lg_ctx *ctx, lg_op op, int n_in,
                          lg_tensor *const *in, const lg_params *p,
                          lg_tensor **outs);
void lg_trace_note_storage(lg_ctx *ctx, const lg_storage *s);
/* Records an optimizer update (optim.c) as a plan step, and runs it. */
lg_status lg_trace_optim(lg_ctx *ctx, const lg_optim_call *call);
/* y (n) = w (n, k) x (k) [+ b (n)] for dtype dt (float32 or float64), all
 * contiguous, n and k in 1..INT_MAX: the linear kernel's single-row path
 * (ops/linear.c), bit for bit; compile/plan.c replays such steps with it. */
void lg_linear_row(lg_ctx *ctx, lg_dtype dt, int64_t n, int64_t k,
                   const void *x, const void *w, const void *b, void *y);
/* The kernel and view column of op (dispatch.c). */
lg_forward_fn lg_op_forward(lg_op op);

/* Contiguous copy of t in dtype (a new reference to t when it already is). */
lg_status lg_contiguous_as(lg_ctx *ctx, lg_tensor *t, lg_dtype dtype,
                           lg_tensor **out);

/* Philox4x32-10: four 32-bit words for (key, counter). */
void lg_philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo,
               uint32_t out[4]);

#endif
