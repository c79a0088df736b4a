/* luagrad.h: the public C API of the luagrad tensor runtime.
 *
 * The runtime is plain C11: it never includes lua.h, never aborts and never
 * exits. Every call that can fail returns an lg_status; the message is kept
 * in the context (lg_ctx_error). All mutable state lives in an lg_ctx, so
 * two contexts in two threads never interfere.
 *
 * A worked example (compiles as is; link with -lluagrad_runtime):
 *
 *   #include <stdio.h>
 *   #include "luagrad.h"
 *   int main(void) {
 *     lg_ctx *ctx = lg_ctx_new(NULL, NULL);          // default allocator
 *     int64_t shape[2] = {2, 3};
 *     lg_tensor *a = NULL, *b = NULL, *sum = NULL;
 *     if (lg_full(ctx, LG_FLOAT32, 2, shape, 1.5, &a) != LG_OK) goto fail;
 *     if (lg_arange(ctx, LG_FLOAT32, 0, 3, 1, &b) != LG_OK) goto fail;
 *     lg_tensor *in[2] = {a, b};                      // b broadcasts
 *     if (lg_op_run(ctx, LG_OP_ADD, 2, in, NULL, &sum) != LG_OK) goto fail;
 *     const float *v = lg_tensor_data(sum);           // contiguous result
 *     printf("%g %g\n", v[0], v[5]);                  // 1.5 3.5
 *   fail:
 *     if (lg_ctx_error(ctx)[0]) fprintf(stderr, "%s\n", lg_ctx_error(ctx));
 *     lg_tensor_release(a); lg_tensor_release(b); lg_tensor_release(sum);
 *     lg_ctx_free(ctx);
 *     return 0;
 *   }
 *
 * Conventions: dimensions are 0-based in C (negative counts from the end);
 * the values inside index tensors (index_select, gather, scatter, the
 * indices that max/argmax return, randperm's and multinomial's results) are
 * 1-based, the way Lua users see them, so results move between C and Lua
 * without a conversion pass.
 */
#ifndef LUAGRAD_H
#define LUAGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lg_ops.h"

#if defined(__GNUC__)
#define LG_API __attribute__((visibility("default")))
#else
#define LG_API
#endif

#define LG_MAX_DIMS 8

typedef struct lg_ctx lg_ctx;
typedef struct lg_tensor lg_tensor;

typedef enum lg_status {
  LG_OK = 0,
  LG_ERR_ARG,     /* a wrong argument: bad dim, bad option, bad value    */
  LG_ERR_SHAPE,   /* shapes that do not fit together                     */
  LG_ERR_DTYPE,   /* a dtype the op does not accept                      */
  LG_ERR_INDEX,   /* an index out of range                               */
  LG_ERR_MEMORY,  /* the allocator refused, or a size overflowed         */
  LG_ERR_IO,      /* a file could not be read or written                 */
  LG_ERR_RUNTIME, /* anything else                                       */
  LG_ERR_LIMIT,   /* a limit the host set was reached (limits.c)         */
  LG_ERR_INTERRUPTED /* lg_ctx_interrupt stopped the op                  */
} lg_status;

/* Ordered by type promotion: a later dtype wins within a category. */
typedef enum lg_dtype {
  LG_BOOL, LG_UINT8, LG_INT32, LG_INT64, LG_FLOAT32, LG_FLOAT64,
  LG_NUM_DTYPES
} lg_dtype;

/* Allocator hook in the style of lua_Alloc: new_size 0 frees ptr and
 * returns NULL; otherwise returns a block of new_size bytes or NULL. */
typedef void *(*lg_alloc_fn)(void *ud, void *ptr, size_t old_size,
                             size_t new_size);

/* Called when a tensor wrapping host memory drops its last reference. */
typedef void (*lg_release_fn)(void *ud, void *data);

/* ---- context ---------------------------------------------------------- */

/* A new context; alloc NULL selects malloc/free. NULL when out of memory. */
LG_API lg_ctx *lg_ctx_new(lg_alloc_fn alloc, void *ud);
/* Drops the caller's reference; the context lives on while tensors use it. */
LG_API void lg_ctx_free(lg_ctx *ctx);
/* The message of the last failure ("" when none). */
LG_API const char *lg_ctx_error(const lg_ctx *ctx);
/* Empties the message of the last failure. */
LG_API void lg_ctx_clear_error(lg_ctx *ctx);
/* Seeds the counter-based random generator (Philox4x32-10). */
LG_API void lg_ctx_manual_seed(lg_ctx *ctx, uint64_t seed);
/* The seed of the last lg_ctx_manual_seed (lg.initial_seed). */
LG_API uint64_t lg_ctx_seed(const lg_ctx *ctx);
/* The threads of this context's kernels and BLAS calls (lg.set_num_threads). */
LG_API void lg_ctx_set_num_threads(lg_ctx *ctx, int n);
/* The threads this context's kernels use. */
LG_API int lg_ctx_num_threads(const lg_ctx *ctx);
/* Switches the recording of ops for autograd (lg.no_grad sets false). */
LG_API void lg_ctx_set_grad_enabled(lg_ctx *ctx, bool enabled);
/* Whether ops are recorded for autograd now. */
LG_API bool lg_ctx_grad_enabled(const lg_ctx *ctx);
/* Anomaly mode: backward checks each gradient a rule produces and fails
 * naming the rule when one holds NaN or Inf. Off by default (it reads
 * every gradient element). */
LG_API void lg_ctx_set_detect_anomaly(lg_ctx *ctx, bool enabled);
/* Whether anomaly mode is on. */
LG_API bool lg_ctx_detect_anomaly(const lg_ctx *ctx);
/* Bytes currently held by tensor storages of this context. */
LG_API size_t lg_ctx_bytes_in_use(const lg_ctx *ctx);

/* ---- what a host allows (sandboxing) ---------------------------------- */

/* Limits (0: none, the default): the bytes of live tensor data, and the
 * elements of one tensor an op makes. Reaching one fails the op with
 * LG_ERR_LIMIT; nothing else changes, so the context stays usable. They
 * are separate from the allocator, which may refuse on its own. */
LG_API void lg_ctx_set_memory_limit(lg_ctx *ctx, size_t max_live_bytes);
/* The most elements one op may make (0: no limit). */
LG_API void lg_ctx_set_op_size_limit(lg_ctx *ctx, int64_t max_elements);

/* Asks the op running in ctx to stop at its next safe point (between
 * rows, tiles or gemm panels; a new op checks on entry) and fail with
 * LG_ERR_INTERRUPTED "interrupted", freeing what it allocated. Only sets
 * an atomic flag: safe from another thread and from a signal handler.
 * The op that stops clears it; lg_ctx_clear_interrupt withdraws a request
 * that no op saw (returns whether one was pending). */
LG_API void lg_ctx_interrupt(lg_ctx *ctx);
/* Withdraws an interrupt no op saw; returns whether one was pending. */
LG_API bool lg_ctx_clear_interrupt(lg_ctx *ctx);

/* File access of the serializers (safetensors, .npy, IDX, text files).
 * A new context may read and write anywhere (LG_FILES_ALL); a sandboxing
 * host (luagrad_open does this) starts from LG_FILES_NONE and grants:
 * everywhere (lg_ctx_allow_files), beneath directories
 * (lg_ctx_allow_directory: the path is resolved with realpath, so `..`
 * and symlinks cannot leave the directory), or through an opener the host
 * writes (lg_ctx_set_file_opener: every open goes to it, e.g. to serve
 * files from an engine's packed assets as memfds; writes go straight to
 * the descriptor it returns). Refusals fail with LG_ERR_IO and say the
 * host disabled it; they never reveal whether a file exists. */
enum { LG_FILES_NONE = 0, LG_FILES_READ = 1, LG_FILES_WRITE = 2,
       LG_FILES_ALL = 3 };
/* LG_ERR_MEMORY when out of memory (the policy is then unchanged). */
LG_API lg_status lg_ctx_allow_files(lg_ctx *ctx, unsigned access);
/* Adds a directory (it must exist); LG_ERR_IO when it does not resolve,
 * LG_ERR_MEMORY when out of memory. */
LG_API lg_status lg_ctx_allow_directory(lg_ctx *ctx, const char *dir,
                                        unsigned access);
/* Opens path for luagrad: writing 0 for reading (a regular file), 1 for
 * writing (created or truncated); returns a descriptor luagrad closes, or
 * -1 to refuse. open NULL removes the opener. */
typedef int (*lg_file_open_fn)(void *ud, const char *path, int writing);
/* Routes every file open of the serializers through open (see above). */
LG_API lg_status lg_ctx_set_file_opener(lg_ctx *ctx, lg_file_open_fn open,
                                   void *ud);

/* ---- dtypes ----------------------------------------------------------- */

/* Bytes per element of dtype. */
LG_API size_t lg_dtype_size(lg_dtype dtype);
/* The dtype's name: "float32", "int64", ... */
LG_API const char *lg_dtype_name(lg_dtype dtype);
/* Parses "float32", "float64", "int32", "int64", "uint8", "bool" (and the
 * aliases "float", "double", "int", "long", "byte"); false when unknown. */
LG_API bool lg_dtype_parse(const char *name, lg_dtype *out);
/* Whether dtype is float32 or float64. */
LG_API bool lg_dtype_is_float(lg_dtype dtype);

/* ---- tensors ---------------------------------------------------------- */

/* Uninitialised contiguous tensor. */
LG_API lg_status lg_empty(lg_ctx *ctx, lg_dtype dtype, int ndim,
                          const int64_t *sizes, lg_tensor **out);
/* Contiguous tensor whose every element is value. */
LG_API lg_status lg_full(lg_ctx *ctx, lg_dtype dtype, int ndim,
                         const int64_t *sizes, double value, lg_tensor **out);
/* A tensor over host memory, without copying. strides NULL means
 * contiguous. release (may be NULL) runs when the last reference goes. */
LG_API lg_status lg_tensor_wrap(lg_ctx *ctx, lg_dtype dtype, int ndim,
                                const int64_t *sizes, const int64_t *strides,
                                void *data, lg_release_fn release, void *ud,
                                lg_tensor **out);

/* Adds a reference to t; returns t. */
LG_API lg_tensor *lg_tensor_retain(lg_tensor *t);
/* Drops one reference; NULL is accepted. */
LG_API void lg_tensor_release(lg_tensor *t);

/* The element type of t. */
LG_API lg_dtype lg_tensor_dtype(const lg_tensor *t);
/* The number of dims of t (0 for a scalar). */
LG_API int lg_tensor_ndim(const lg_tensor *t);
/* The sizes of t (ndim of them), owned by t. */
LG_API const int64_t *lg_tensor_sizes(const lg_tensor *t);
/* The strides of t in elements (ndim of them), owned by t. */
LG_API const int64_t *lg_tensor_strides(const lg_tensor *t);
/* The number of elements of t. */
LG_API int64_t lg_tensor_numel(const lg_tensor *t);
/* Address of the first element (storage data plus offset). */
LG_API void *lg_tensor_data(const lg_tensor *t);
/* Whether t is laid out row-major without gaps. */
LG_API bool lg_tensor_is_contiguous(const lg_tensor *t);
/* True when a and b are views on the same storage. */
LG_API bool lg_tensor_same_storage(const lg_tensor *a, const lg_tensor *b);
/* The storage's version counter, bumped by every in-place write. */
LG_API uint64_t lg_tensor_version(const lg_tensor *t);
/* The context t belongs to. */
LG_API lg_ctx *lg_tensor_ctx(const lg_tensor *t);

/* Element at a flat row-major position, converted to double / int64. */
LG_API double lg_tensor_get(const lg_tensor *t, int64_t flat_index);
/* Element at a flat row-major position, as int64 (exact for integers). */
LG_API int64_t lg_tensor_get_int(const lg_tensor *t, int64_t flat_index);
/* Stores value (converted) at a flat row-major position. */
LG_API void lg_tensor_set(lg_tensor *t, int64_t flat_index, double value);
/* Stores an int64 at a flat row-major position (exact for integers). */
LG_API void lg_tensor_set_int(lg_tensor *t, int64_t flat_index, int64_t v);

/* ---- ops -------------------------------------------------------------- */

/* Flags of lg_params. */
#define LG_FLAG_KEEPDIM   (1 << 0)  /* reductions keep reduced dims (size 1) */
#define LG_FLAG_SCALAR_A  (1 << 1)  /* binary: the left operand is a scalar  */
#define LG_FLAG_SCALAR_B  (1 << 2)  /* binary: the right operand is a scalar */
#define LG_FLAG_SCALAR_INT (1 << 3) /* the scalar is the integer scalar_int  */
#define LG_FLAG_HAS_MIN   (1 << 4)  /* clamp has a lower bound (scalar[0])   */
#define LG_FLAG_HAS_MAX   (1 << 5)  /* clamp has an upper bound (scalar[1])  */
#define LG_FLAG_INPLACE   (1 << 6)  /* write the result into inputs[0]       */
#define LG_FLAG_OPT1      (1 << 7)  /* nn ops: optional input 1 is present   */
#define LG_FLAG_OPT2      (1 << 8)  /* nn ops: optional input 2 is present   */
#define LG_FLAG_OPT3      (1 << 9)  /* nn ops: optional input 3 is present   */
#define LG_FLAG_OPT4      (1 << 10) /* nn ops: optional input 4 is present   */
#define LG_FLAG_TRAINING  (1 << 11) /* batch_norm: batch statistics, update  */
#define LG_FLAG_OUT       (1 << 12) /* write into the caller's outs[0] (out=) */
#define LG_FLAG_EQUAL_NAN (1 << 13) /* isclose: NaN is close to NaN           */

/* The non-tensor arguments of an op. Zero-initialise, then set what the op
 * reads; lg_ops.h says which op reads which field. */
typedef struct lg_params {
  double scalar[3];     /* scalar operand, fill value, clamp bounds, p, ... */
  int64_t scalar_int;   /* exact integer scalar when LG_FLAG_SCALAR_INT     */
  int64_t ints[LG_MAX_DIMS]; /* dims of a reduction, sizes, a permutation   */
  int n_ints;           /* how many of ints are used                         */
  int64_t dim;          /* the dim of a one-dim op (0-based)                 */
  int64_t start;        /* narrow's start, select's index (0-based)          */
  int64_t length;       /* narrow's length                                   */
  int flags;            /* LG_FLAG_*                                         */
  lg_dtype dtype;       /* target dtype of TO_DTYPE                          */
} lg_params;

/* Runs op on n_inputs tensors. outs has one slot per output of the op
 * (lg_ops.h). A NULL slot receives a new tensor; with LG_FLAG_INPLACE the
 * result is written into inputs[0] and outs[0] receives a new reference to
 * it. With LG_FLAG_OUT the caller puts a tensor in outs[0] and the result
 * is written into it (PyTorch's out=; shape must match, dtype must accept
 * the result); on success outs[0] holds a new reference to that tensor, on
 * failure NULL. out= records no graph: it fails while grad mode is on and
 * an input or the output requires grad. params may be NULL when the op
 * reads none. */
LG_API lg_status lg_op_run(lg_ctx *ctx, lg_op op, int n_inputs,
                           lg_tensor *const *inputs, const lg_params *params,
                           lg_tensor **outs);
/* The op's name as Lua sees it ("add", "matmul"), used in messages. */
LG_API const char *lg_op_name(lg_op op);
/* How many tensors op returns (max over a dim: values and indices). */
LG_API int lg_op_num_outputs(lg_op op);
/* The op's LG_KIND_* (how the binding exposes it, lg_ops.h). */
LG_API int lg_op_kind(lg_op op);

/* ---- creation and random ---------------------------------------------- */

/* Values start, start+step, ... below stop (above, for a negative step). */
LG_API lg_status lg_arange(lg_ctx *ctx, lg_dtype dtype, double start,
                           double stop, double step, lg_tensor **out);
/* steps values evenly spaced from start to stop, both included. */
LG_API lg_status lg_linspace(lg_ctx *ctx, lg_dtype dtype, double start,
                             double stop, int64_t steps, lg_tensor **out);
/* The n x m identity matrix. */
LG_API lg_status lg_eye(lg_ctx *ctx, lg_dtype dtype, int64_t n, int64_t m,
                        lg_tensor **out);
/* Uniform on [0, 1). */
LG_API lg_status lg_rand(lg_ctx *ctx, lg_dtype dtype, int ndim,
                         const int64_t *sizes, lg_tensor **out);
/* Standard normal. */
LG_API lg_status lg_randn(lg_ctx *ctx, lg_dtype dtype, int ndim,
                          const int64_t *sizes, lg_tensor **out);
/* Integers uniform in [low, high). */
LG_API lg_status lg_randint(lg_ctx *ctx, lg_dtype dtype, int64_t low,
                            int64_t high, int ndim, const int64_t *sizes,
                            lg_tensor **out);
/* A random permutation of 1..n (int64). */
LG_API lg_status lg_randperm(lg_ctx *ctx, int64_t n, lg_tensor **out);

/* Samplers (ops/sample.c). Their results take no part in autograd. */
/* Fills t (float32/float64) in place with values uniform on [from, to). */
LG_API lg_status lg_uniform_(lg_ctx *ctx, lg_tensor *t, double from,
                             double to);
/* Fills t (float32/float64) in place with values from N(mean, std^2). */
LG_API lg_status lg_normal_(lg_ctx *ctx, lg_tensor *t, double mean,
                            double std);
/* mean + std * z with z standard normal: mean and std broadcast, every
 * std >= 0; the result has mean's dtype. */
LG_API lg_status lg_normal(lg_ctx *ctx, lg_tensor *mean, lg_tensor *std,
                           lg_tensor **out);
/* 1 with probability p[i], else 0, in p's shape and (floating) dtype. */
LG_API lg_status lg_bernoulli(lg_ctx *ctx, lg_tensor *p, lg_tensor **out);
/* 1 with probability p, else 0, in like's shape and dtype. */
LG_API lg_status lg_bernoulli_scalar(lg_ctx *ctx, const lg_tensor *like,
                                     double p, lg_tensor **out);
/* k draws from the categories of each row of weights ((n) or (rows, n),
 * non-negative, not necessarily normalised) -> int64 (k) or (rows, k) of
 * 1-based categories. Without replacement a row needs at least k
 * categories of non-zero weight and never repeats one. */
LG_API lg_status lg_multinomial(lg_ctx *ctx, lg_tensor *weights, int64_t k,
                                bool replacement, lg_tensor **out);

/* ---- composite ops ---------------------------------------------------- */

/* mm, bmm, mv, dot and outer check their operands' ranks, then run matmul. */
LG_API lg_status lg_mm(lg_ctx *ctx, lg_tensor *a, lg_tensor *b,
                       lg_tensor **out);
/* Batched matrix product of (B, n, m) and (B, m, p). */
LG_API lg_status lg_bmm(lg_ctx *ctx, lg_tensor *a, lg_tensor *b,
                        lg_tensor **out);
/* Matrix-vector product. */
LG_API lg_status lg_mv(lg_ctx *ctx, lg_tensor *a, lg_tensor *b,
                       lg_tensor **out);
/* Dot product of two 1-D tensors (a 0-d result). */
LG_API lg_status lg_dot(lg_ctx *ctx, lg_tensor *a, lg_tensor *b,
                        lg_tensor **out);
/* Outer product of two 1-D tensors. */
LG_API lg_status lg_outer(lg_ctx *ctx, lg_tensor *a, lg_tensor *b,
                          lg_tensor **out);
/* Einstein summation as torch.einsum: spec such as "bij,bjk->bik" over n
 * operands (ops/einsum.c); differentiable through the ops it runs. */
LG_API lg_status lg_einsum(lg_ctx *ctx, const char *spec, int n,
                           lg_tensor *const *operands, lg_tensor **out);
/* beta * c + alpha * (a @ b) */
LG_API lg_status lg_addmm(lg_ctx *ctx, lg_tensor *c, lg_tensor *a,
                          lg_tensor *b, double beta, double alpha,
                          lg_tensor **out);
/* Stacks equally shaped tensors along a new dim. */
LG_API lg_status lg_stack(lg_ctx *ctx, int n, lg_tensor *const *inputs,
                          int64_t dim, lg_tensor **out);
/* The t->sizes[dim] slices of t along dim (views) into outs. In the graph
 * they share ONE node whose backward stacks their gradients (zeros for
 * those without), so splitting a sequence into steps costs one copy of
 * its gradient, not one full-size gradient per step. */
LG_API lg_status lg_unbind(lg_ctx *ctx, lg_tensor *t, int64_t dim,
                           lg_tensor **outs);

/* ---- autograd ----------------------------------------------------------- */

/* Whether t is a leaf that asked for gradients or the result of recorded
 * ops on one. */
LG_API bool lg_tensor_requires_grad(const lg_tensor *t);
/* Marks a leaf as requiring gradients (floating point dtypes only). */
LG_API lg_status lg_tensor_set_requires_grad(lg_ctx *ctx, lg_tensor *t,
                                             bool requires_grad);
/* Whether t is a leaf of the graph (made by the user, not by a recorded op). */
LG_API bool lg_tensor_is_leaf(const lg_tensor *t);
/* The accumulated gradient (borrowed; NULL until a backward reaches t). */
LG_API lg_tensor *lg_tensor_grad(const lg_tensor *t);
/* Replaces the gradient (NULL clears it); shape and dtype must match. */
LG_API lg_status lg_tensor_set_grad(lg_ctx *ctx, lg_tensor *t,
                                    lg_tensor *grad);
/* Writes the name of the node that made t ("MulBackward0") into buf and
 * returns buf, or NULL for leaves. */
LG_API const char *lg_tensor_grad_fn_name(const lg_tensor *t, char *buf,
                                          size_t size);
/* A tensor sharing t's storage, outside any graph. */
LG_API lg_status lg_tensor_detach(lg_ctx *ctx, lg_tensor *t, lg_tensor **out);
/* Makes a non-leaf keep its .grad after backward. */
LG_API lg_status lg_tensor_retain_grad(lg_ctx *ctx, lg_tensor *t);

/* Gradient hooks (t:register_hook and DistributedDataParallel stand on
 * them). The engine calls the context's hook for tensors marked with
 * lg_tensor_set_has_hooks: LG_HOOK_GRAD when t's gradient is complete,
 * before it flows on or is stored (the hook may replace *grad with a new
 * reference, releasing the old one); LG_HOOK_ACCUMULATED after a leaf's
 * .grad took it in (grad is NULL). A failing hook fails the backward. */
typedef enum lg_grad_hook_kind { LG_HOOK_GRAD, LG_HOOK_ACCUMULATED } lg_grad_hook_kind;
typedef lg_status (*lg_grad_hook_fn)(lg_ctx *ctx, void *ud, lg_tensor *t,
                                     lg_grad_hook_kind kind, lg_tensor **grad);
/* Installs the function the engine calls for tensor hooks (NULL: none). */
LG_API void lg_ctx_set_grad_hook(lg_ctx *ctx, lg_grad_hook_fn fn, void *ud);
/* Marks t (a leaf requiring grad, or a result with a grad_fn) so that
 * backward calls the context's hook for it. */
LG_API lg_status lg_tensor_set_has_hooks(lg_ctx *ctx, lg_tensor *t);

/* Options of a backward run. */
typedef struct lg_backward_opts {
  bool retain_graph;  /* keep saved tensors for another backward       */
  bool create_graph;  /* record the backward pass (higher derivatives) */
  bool allow_unused;  /* lg_autograd_grad: unused inputs give NULL     */
} lg_backward_opts;

/* Accumulates d(sum of outputs[i] * grad_outputs[i]) into the .grad of the
 * leaves. A NULL grad_outputs[i] means ones (outputs[i] must be scalar). */
LG_API lg_status lg_autograd_backward(lg_ctx *ctx, int n_outputs,
                                      lg_tensor *const *outputs,
                                      lg_tensor *const *grad_outputs,
                                      const lg_backward_opts *opts);
/* Returns the gradients with respect to inputs in grads (new references)
 * without touching any .grad. */
LG_API lg_status lg_autograd_grad(lg_ctx *ctx, int n_outputs,
                                  lg_tensor *const *outputs,
                                  lg_tensor *const *grad_outputs,
                                  int n_inputs, lg_tensor *const *inputs,
                                  const lg_backward_opts *opts,
                                  lg_tensor **grads);

/* A backward supplied by the host (e.g. a Lua autograd.Function):
 * grad_out has n_out tensors, grad_in receives n_in (NULL allowed). */
typedef lg_status (*lg_custom_backward_fn)(lg_ctx *ctx, void *ud, int n_out,
                                           lg_tensor *const *grad_out,
                                           int n_in, lg_tensor **grad_in);
/* Connects outputs (computed by the host, outside the graph) to inputs
 * through a node that calls backward. free_ud runs when the node dies;
 * on failure it has run already. */
LG_API lg_status lg_autograd_attach_custom(
    lg_ctx *ctx, const char *name, int n_inputs, lg_tensor *const *inputs,
    int n_outputs, lg_tensor *const *outputs, lg_custom_backward_fn backward,
    void *ud, void (*free_ud)(void *ud));

/* ---- printing --------------------------------------------------------- */

/* How lg_tensor_format writes tensors: PyTorch's print options, kept per
 * context (two contexts never share them). */
typedef struct lg_print_options {
  int precision;    /* digits after the point, 0..30 (4)                    */
  double threshold; /* more elements than this are summarised, >= 0 (1000;
                       INFINITY: never)                                     */
  int edgeitems;    /* items kept at each end of a summarised dim, >= 1 (3) */
  int linewidth;    /* characters per line before wrapping, >= 1 (80)       */
  int sci_mode;     /* -1: chosen per tensor (PyTorch's None), 0: fixed
                       point, 1: scientific                                 */
} lg_print_options;

/* PyTorch's profiles: "default" (the values above), "short" (precision 2,
 * edgeitems 2) and "full" (threshold INFINITY); *out untouched and false
 * for another name. */
LG_API bool lg_print_options_profile(const char *name, lg_print_options *out);
/* The print options of this context. */
LG_API lg_print_options lg_ctx_print_options(const lg_ctx *ctx);
/* Checks every field and sets them all, or fails naming the field. */
LG_API lg_status lg_ctx_set_print_options(lg_ctx *ctx,
                                          const lg_print_options *options);

/* Writes PyTorch-style text ("tensor([...])") into a buffer from the
 * context's allocator, under the context's print options; the caller
 * frees it with lg_string_free. */
LG_API lg_status lg_tensor_format(lg_ctx *ctx, const lg_tensor *t,
                                  const char *suffix, char **text,
                                  size_t *length);
/* Frees a text lg_tensor_format returned. */
LG_API void lg_string_free(lg_ctx *ctx, char *text, size_t length);

/* ---- compiled plans (runtime/compile; made by func.compile) ----------- */

/* A plan is a function traced once by luagrad.func.compile for one guard
 * (the shapes, dtypes and strides of its tensor arguments) and replayed
 * here: the recorded kernels run directly over one preplanned arena, with
 * no Lua, no dispatch and, with reuse_outputs, no allocation. A host gets
 * it from Lua with lgl_compiled_plan (lua/binding/luagrad_lua.h) or
 * compiled:plan() and runs a frame without entering Lua:
 *
 *   lg_plan *plan = lgl_compiled_plan(L, -1);   // retained; Lua may go
 *   lg_tensor *in[1] = {obs}, *out[1] = {NULL};
 *   if (lg_plan_run(plan, in, out) != LG_OK)
 *     fprintf(stderr, "%s\n", lg_ctx_error(lg_tensor_ctx(obs)));
 *   const float *action = lg_tensor_data(out[0]);   // contiguous result
 *   lg_tensor_release(out[0]);
 *   ...
 *   lg_plan_release(plan);
 *
 * A plan reads the tensors its function reached without receiving them
 * (a module's weights) at every run, so in-place updates to them are
 * seen. It is bound to its context and, like the context, to one thread
 * at a time. */
typedef struct lg_plan lg_plan;
LG_API lg_plan *lg_plan_retain(lg_plan *plan);
/* Drops one reference; NULL is accepted. */
LG_API void lg_plan_release(lg_plan *plan);
/* The tensor arguments it takes: every tensor leaf of the traced call's
 * arguments, in guard order (tables' keys sorted). */
LG_API int lg_plan_num_inputs(const lg_plan *plan);
/* The result tensors it gives, in the order f returned them. */
LG_API int lg_plan_num_outputs(const lg_plan *plan);
/* Runs the plan: inputs must match the traced leaves in dtype, shape and
 * strides (LG_ERR_ARG naming the first that does not); outputs receives
 * lg_plan_num_outputs new references (the same tensors every run, written
 * over, when the plan was compiled with reuse_outputs). */
LG_API lg_status lg_plan_run(lg_plan *plan, lg_tensor *const *inputs,
                             lg_tensor **outputs);

#endif
