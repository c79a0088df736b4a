/* luagrad_ext.h: the runtime beyond its public API that a binding may use.
 *
 * This is the one internal header lua/binding includes, beside luagrad.h
 * (the way Lua's lauxlib.c stands on lua.h): the binding sees no runtime
 * struct, reads tensors through luagrad.h's accessors, and reaches nothing
 * else internal (core.h refuses to be included when LGL_BINDING is
 * defined, as CMakeLists.txt does for the binding). Everything declared
 * here is internal to the runtime too, so core.h includes this file.
 */
#ifndef LUAGRAD_EXT_H
#define LUAGRAD_EXT_H

#include "luagrad.h"
#include "optim.h"     /* the fused optimizer steps */
#include "serialize.h" /* safetensors, npy, IDX */

/* Records a formatted message in ctx and returns status. */
lg_status lg_fail(lg_ctx *ctx, lg_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Raw memory through the context's allocator (scratch buffers). */
void *lg_mem_alloc(lg_ctx *ctx, size_t size);
void lg_mem_free(lg_ctx *ctx, void *ptr, size_t size);

void lg_ctx_retain(lg_ctx *ctx);
/* Tensor memory held from the host allocator: live blocks plus the cache
 * (lg_ctx_bytes_in_use counts only the live tensors' data). Grows only when
 * the cache has nothing to reuse, which is what the binding's collector
 * pressure follows. */
size_t lg_ctx_bytes_reserved(const lg_ctx *ctx);

/* lg_op_run with one or two inputs and one output. */
lg_status lg_run1(lg_ctx *ctx, lg_op op, lg_tensor *a, const lg_params *p,
                  lg_tensor **out);
lg_status lg_run2(lg_ctx *ctx, lg_op op, lg_tensor *a, lg_tensor *b,
                  const lg_params *p, lg_tensor **out);

/* Stores v as one element of dtype at p. */
void lg_store_double(void *p, lg_dtype dtype, double v);
void lg_store_int(void *p, lg_dtype dtype, int64_t v);

/* LG_OK when the context's file policy grants reading (write false) or
 * writing anywhere at all; else fails "file access is disabled by the
 * host" ("writing files is disabled by the host" under read-only). Each
 * open still checks its own path (io/file_access.c). */
lg_status lg_file_permitted(lg_ctx *ctx, bool write);
/* Whether path can be opened for reading (false also when it lies outside
 * the granted directories); fails only when reading is disabled. */
lg_status lg_file_exists(lg_ctx *ctx, const char *path, bool *exists);
/* Writes n bytes to path atomically, through the file policy; what names
 * the caller in errors ("svg_curves"). */
lg_status lg_file_write(lg_ctx *ctx, const char *what, const char *path,
                        const void *data, size_t n);

/* Host memory wrapped by lg_tensor_wrap: the ud given with release when t's
 * storage was made with that release hook, else NULL. */
void *lg_tensor_wrapped_ud(const lg_tensor *t, lg_release_fn release);
/* Points the storage of t (made by lg_tensor_wrap with release) at data,
 * which must hold at least the storage's bytes (nbytes), and bumps its
 * version; fname names the caller in errors. */
lg_status lg_tensor_rebind(lg_tensor *t, lg_release_fn release, void *data,
                           size_t nbytes, const char *fname);

/* ---- vmap (runtime/vmap/vmap.h) -----------------------------------------
 * A vmap level is a dispatch layer entered for one func.vmap call; a batched
 * tensor shows one example through every accessor and holds the batch. */
#define LG_RANDOMNESS_ERROR     0 /* a random op inside vmap fails          */
#define LG_RANDOMNESS_SAME      1 /* every example draws the same numbers    */
#define LG_RANDOMNESS_DIFFERENT 2 /* each example draws its own numbers      */
/* Enters a level of batch_size examples; *level receives its number. */
lg_status lg_vmap_push(lg_ctx *ctx, int64_t batch_size, int randomness,
                       int *level);
/* Leaves level, which must be the innermost one. */
lg_status lg_vmap_pop(lg_ctx *ctx, int level);
/* A batched tensor at level over value, whose dim bdim (0-based) holds the
 * level's examples. */
lg_status lg_vmap_wrap(lg_ctx *ctx, lg_tensor *value, int bdim, int level,
                       lg_tensor **out);
/* The value of t when t is batched at level (borrowed; *bdim its batch
 * dim), else NULL. */
lg_tensor *lg_vmap_value(const lg_tensor *t, int level, int *bdim);
/* The level t is batched at (its outermost wrapper), 0 when it is plain. */
int lg_tensor_batch_level(const lg_tensor *t);
/* The name of an op whose per-example loop ran for the first time since the
 * last call (to warn about once), or NULL. */
const char *lg_vmap_take_warning(lg_ctx *ctx);

/* ---- forward mode (runtime/autograd/dual.c) ---------------------------- */
/* Forward-mode AD (autograd/dual.c). A dual level is a layer of the
 * dispatch stack; levels are numbered from 1 and never reused, 0 is none.
 * exit must name the innermost layer. */
lg_status lg_dual_level_enter(lg_ctx *ctx, uint64_t *level);
lg_status lg_dual_level_exit(lg_ctx *ctx, uint64_t level);
/* The innermost active level (0: none). */
uint64_t lg_dual_level_current(const lg_ctx *ctx);
/* A view of primal carrying tangent (same shape and dtype) at level. */
lg_status lg_make_dual(lg_ctx *ctx, lg_tensor *primal, lg_tensor *tangent,
                       uint64_t level, lg_tensor **out);
/* A view of t without its tangent at level, and that tangent (a new
 * reference; NULL when t has none there). */
lg_status lg_unpack_dual(lg_ctx *ctx, lg_tensor *t, uint64_t level,
                         lg_tensor **primal, lg_tensor **tangent);
/* t's tangent at level (borrowed; NULL when none). */
lg_tensor *lg_tensor_tangent(const lg_tensor *t, uint64_t level);
/* Whether t has a tangent at an active level. */
bool lg_tensor_is_dual(const lg_tensor *t);

/* ---- structure ops written as compositions (ops/structure_compose.c) ----
 * Dims are 0-based (negative from the end); each result is recorded op by
 * op, so autograd, forward AD and vmap see the ops it is made of. */
lg_status lg_trace(lg_ctx *ctx, lg_tensor *x, lg_tensor **out);
/* 1-d x: a matrix with x on diagonal k; 2-d x: a copy of its diagonal k. */
lg_status lg_diag(lg_ctx *ctx, lg_tensor *x, int64_t k, lg_tensor **out);
/* n_dims == 0: one shift over the flattened tensor. */
lg_status lg_roll(lg_ctx *ctx, lg_tensor *x, int n_shifts,
                  const int64_t *shifts, int n_dims, const int64_t *dims,
                  lg_tensor **out);
lg_status lg_rot90(lg_ctx *ctx, lg_tensor *x, int64_t k, int64_t d0,
                   int64_t d1, lg_tensor **out);
lg_status lg_kron(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, lg_tensor **out);
/* has_dim false: the first dim of size 3 (torch.cross's default). */
lg_status lg_cross(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, bool has_dim,
                   int64_t dim, lg_tensor **out);
lg_status lg_cdist(lg_ctx *ctx, lg_tensor *a, lg_tensor *b, double p,
                   lg_tensor **out);
/* repeats_t (int tensor) when not NULL, else the number repeats; has_dim
 * false: over the flattened tensor. */
lg_status lg_repeat_interleave(lg_ctx *ctx, lg_tensor *x, int64_t repeats,
                               lg_tensor *repeats_t, bool has_dim, int64_t dim,
                               lg_tensor **out);
/* idx holds 1-based int64 indices; has_dim false: both flattened. */
lg_status lg_take_along_dim(lg_ctx *ctx, lg_tensor *x, lg_tensor *idx,
                            bool has_dim, int64_t dim, lg_tensor **out);
/* n outputs (n inputs, 0-d or 1-d); xy: Cartesian ("xy") indexing. */
lg_status lg_meshgrid(lg_ctx *ctx, int n, lg_tensor *const *xs, bool xy,
                      lg_tensor **outs);

#endif
