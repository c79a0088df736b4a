/* lgl.h: shared helpers of the Lua binding (tensor userdata, argument
 * checking, error raising). Included by every binding source file.
 *
 * Every function the binding registers carries three upvalues: (1) the
 * per-lua_State lgl_state userdata that owns the runtime context, (2) the
 * tensor metatable, (3) the state's weak table of boxes (see lgl_box), so
 * making a result needs no global or registry lookup on the hot path.
 * Closures with a fourth upvalue (the op of generated wrappers, the methods
 * table of __index) read it at LGL_EXTRA_UPVALUE.
 */
#ifndef LGL_H
#define LGL_H

#include <lauxlib.h>
#include <lua.h>

#include "luagrad.h"
#include "luagrad_ext.h" /* the one internal header the binding uses */

#define LGL_TENSOR_TYPE "luagrad.Tensor"
#define LGL_STATE_UPVALUE lua_upvalueindex(1)
#define LGL_META_UPVALUE lua_upvalueindex(2)
#define LGL_BOXES_UPVALUE lua_upvalueindex(3)
#define LGL_NUPVALUES 3
#define LGL_EXTRA_UPVALUE lua_upvalueindex(4)

/* One entry of a state's box slots (see lgl_box): the tensor reference a
 * box owns. */
typedef struct lgl_slot {
  struct lg_tensor *t; /* NULL: not filled yet, or released (__close) */
  uint64_t serial;     /* the owning box's serial; 0: the slot is free */
  uint32_t next_free;  /* the free list, while free */
} lgl_slot;

/* Per lua_State: the runtime context and the memory-pressure counter. */
typedef struct lgl_state {
  lg_ctx *ctx;
  uint64_t gc_mark; /* tensor bytes handed out when the collector was last
                     * paced (lg_ctx_bytes_handed_out) */
  uint64_t gc_step; /* bytes handed out between two pacing steps */
  uint64_t gc_call_mark; /* bytes handed out at the last lgl_gc_pay_debt */
  bool gc_full_due;      /* grown at the last check: a full cycle if still so */
  size_t gc_full_low; /* the fewest tensor bytes in use seen by
                       * lgl_gc_pressure since its last full cycle */
  lua_State *current_L; /* the thread running a backward (custom nodes) */
  /* opened by luagrad_open (host.c): the Lua library comes from the
   * built-in sources, text goes to the host's writer, no environment */
  bool hosted;
  void (*writer)(void *ud, const char *text, size_t len);
  void *writer_ud;
  /* the host's own sources of library modules (luagrad_set_source_loader) */
  const char *(*source)(void *ud, const char *module, size_t *length);
  void *source_ud;
  /* the boxes' slots (state.c): an array in a userdata the state keeps */
  lgl_slot *slots;
  uint32_t n_slots;   /* capacity */
  uint32_t n_used;    /* slots below this index may be in use */
  uint32_t free_head; /* LGL_NO_SLOT: none free */
  uint32_t live;      /* slots in use */
  uint64_t serial;    /* the last serial handed to a box */
  bool sentinel_armed; /* a sentinel waits for the next collector cycle */
  bool closed;         /* state_gc ran: every slot released */
} lgl_state;

/* One file of the Lua library built into the binding (generated from
 * lua/luagrad by tools/embed_lua_sources.c); the table ends with a NULL
 * name. */
typedef struct lgl_lua_source {
  const char *name;  /* "luagrad.nn.module" */
  const char *chunk; /* "@[luagrad]/luagrad/nn/module.lua" */
  const char *text;
  size_t length;
} lgl_lua_source;
extern const lgl_lua_source lgl_lua_sources[];

/* Pushes the Lua library module name (loader.c): through `require` when
 * luagrad was opened by luaopen_luagrad into a state that has it, else
 * from the built-in sources (luagrad_open always: no `package` needed). */
void lgl_require(lua_State *L, const char *name);

/* The userdata of a tensor, a box, has no __gc: a finalized userdata costs
 * Lua 5.4 about 900 instructions over its life (registration, separation,
 * a protected call of __gc, a second cycle before it is freed), more than a
 * 4-element op itself. Instead the tensor reference lives in a slot of the
 * state (S->slots[slot], which the box names with the slot's serial), a
 * weak-valued table of the state maps slot + 1 to its box, and once per
 * collector cycle the finalizer of a sentinel userdata releases the slots
 * whose box the collector cleared from that table (state.c). A box
 * outliving its slot (one resurrected by another object's finalizer, which
 * Lua clears from weak tables before finalizers run) reads as released:
 * its serial no longer matches. check ties the fields together, so
 * lgl_to_tensor recognises a box without fetching its metatable. */
typedef struct lgl_box {
  lgl_state *S;
  uint64_t serial;
  uint32_t slot;
  uintptr_t check;
} lgl_box;

#define LGL_NO_SLOT UINT32_MAX
#define LGL_BOX_KEY ((uintptr_t)0x9e3779b97f4a7c15u)
static inline uintptr_t lgl_box_check(const lgl_box *box) {
  return ((uintptr_t)box->S ^ (uintptr_t)(box->serial * 0xff51afd7ed558ccdu) ^
          box->slot) ^ LGL_BOX_KEY;
}
/* The tensor of a box made by lgl_new_box: NULL once released. */
static inline lg_tensor *lgl_box_tensor(const lgl_box *box) {
  const lgl_slot *s = &box->S->slots[box->slot];
  return s->serial == box->serial ? s->t : NULL;
}
/* Fills a box just made by lgl_new_box, which then owns t. */
static inline void lgl_box_set(lgl_box *box, lg_tensor *t) {
  box->S->slots[box->slot].t = t;
}

static inline lgl_state *lgl_get_state(lua_State *L) {
  return (lgl_state *)lua_touserdata(L, LGL_STATE_UPVALUE);
}
static inline lg_ctx *lgl_ctx(lua_State *L) { return lgl_get_state(L)->ctx; }

/* The tensor at idx, or NULL when the value is not a live tensor. */
lg_tensor *lgl_to_tensor(lua_State *L, int idx);
/* The tensor at idx, or a Lua error "fname: expected a tensor as argument
 * n, got <type>". */
lg_tensor *lgl_check_tensor(lua_State *L, int idx, const char *fname);
/* Pushes the state's weak table of boxes (the state userdata at idx), the
 * binding functions' third upvalue. */
void lgl_push_boxes(lua_State *L, int state_idx);
/* Pushes an empty box (a tensor userdata holding NULL) and returns it.
 * Create the box before the tensor so a Lua error cannot orphan it. */
lgl_box *lgl_new_box(lua_State *L);
/* The same with the state userdata and the tensor metatable at the given
 * indices (for functions without the binding's upvalues). */
lgl_box *lgl_new_box_at(lua_State *L, int state_idx, int meta_idx);
/* Pushes t as a new Lua value, taking over the caller's reference. */
void lgl_push_tensor(lua_State *L, lg_tensor *t);
/* Raises the context's last error as a Lua error. */
int lgl_error(lua_State *L);
/* Raises it under fname instead of the runtime's own op prefix
 * ("fill_: ..." from zero_ reads "zero_: ..."). */
int lgl_error_as(lua_State *L, const char *fname);
/* Runs an op and pushes its outputs; raises on failure. The tensor in
 * inputs[0] is returned itself (same Lua value at self_idx) when in place. */
int lgl_run_op(lua_State *L, lg_op op, int n_in, lg_tensor *const *in,
               const lg_params *p, int self_idx);
/* Runs binary op on arguments 1 and 2, either of which may be a number
 * (in place: argument 1 must be a tensor and is returned). */
int lgl_binary(lua_State *L, lg_op op, int inplace);
/* Before an op allocates: lets Lua's collector account for tensor memory
 * (a step once enough bytes were handed out since the last). */
void lgl_gc_pressure(lua_State *L, lgl_state *S);
/* At the start of a call that will allocate its results again (a vmap
 * call): a collector step (a minor collection in generational mode), so
 * that the previous call's dead results are freed and their blocks serve
 * this one. */
void lgl_gc_pay_debt(lua_State *L, lgl_state *S);

/* Opens luagrad into L and pushes the module table (the C module entry). */
LUALIB_API int luaopen_luagrad(lua_State *L);

/* ---- argument helpers (args.c) ------------------------------------------ */

/* An integer argument (floats with integral values accepted). */
int64_t lgl_check_integer(lua_State *L, int idx, const char *fname,
                          const char *what);
/* Reads a shape given as integers from idx on, or as one array table at
 * idx. Returns the index of the first argument after the shape. */
int lgl_check_shape(lua_State *L, int idx, const char *fname, int *ndim,
                    int64_t *sizes);
/* A 1-based (negative from the end) dim at idx, as a 0-based dim. */
int64_t lgl_check_dim(lua_State *L, int idx, int ndim, const char *fname);
/* Converts a 1-based dim value (not a stack slot). */
int64_t lgl_dim_value(lua_State *L, int64_t dim, int ndim, const char *fname);
/* Dims given as one integer or an array table, into p->ints/n_ints
 * (0-based). nil means all dims (n_ints = 0). */
void lgl_check_dims(lua_State *L, int idx, int ndim, const char *fname,
                    lg_params *p);
/* dtype from a string at idx ("float32", ...). */
lg_dtype lgl_check_dtype(lua_State *L, int idx, const char *fname);
/* The "dtype" field of an options table at idx (absent: dflt). */
lg_dtype lgl_opt_dtype(lua_State *L, int idx, lg_dtype dflt, const char *fname);
/* A boolean field of an options table at idx (absent: dflt). */
int lgl_opt_bool(lua_State *L, int idx, const char *field, int dflt);
/* Raises "fname: unknown option "key" (expected a, b)" when the table at
 * idx has a key that is not in names (NULL-terminated, e.g.
 * LGL_OPTIONS("dtype", "requires_grad")); anything but a table passes. */
void lgl_check_options(lua_State *L, int idx, const char *fname,
                       const char *const *names);
#define LGL_OPTIONS(...) ((const char *const[]){__VA_ARGS__, NULL})
/* lg._option_problem(fname, opts, allowed_set): the message of
 * lgl_check_options for a set of names given as keys, or nothing. */
int lgl_l_option_problem(lua_State *L);
/* lg._doc_text(): the embedded doc comments (docs_lua.c). */
int lgl_l_doc_text(lua_State *L);
/* The luagrad name of the type of the value at idx, for messages:
 * "tensor", the __typename of a table's metatable ("module"), else Lua's
 * type name. */
const char *lgl_typename(lua_State *L, int idx);
/* lg._typename(v): lgl_typename for Lua. */
int lgl_l_typename(lua_State *L);
/* Whether the value at idx is a Lua number; sets p's scalar fields. */
int lgl_to_scalar(lua_State *L, int idx, lg_params *p, int slot);
/* PyTorch's keyword arguments: pushes the value of keyword parameter k
 * (0-based) of a function whose keywords start at argument idx, given
 * either positionally (argument idx + k) or as field name of an options
 * table at idx; returns its Lua type. */
int lgl_push_keyword(lua_State *L, int idx, int k, const char *name);
/* Pops a number (nil: dflt); other values raise "fname: expected a number
 * for name, got <type>". */
double lgl_pop_number(lua_State *L, double dflt, const char *fname,
                      const char *name);
/* Pops a boolean (nil: dflt), raising likewise for other values. */
bool lgl_pop_boolean(lua_State *L, bool dflt, const char *fname,
                     const char *name);
/* Registers fns on the table at -1 with the binding upvalues: the state
 * and the metatable at state_idx and meta_idx (absolute indices), and the
 * state's table of boxes. */
void lgl_setfuncs(lua_State *L, const luaL_Reg *fns, int state_idx,
                  int meta_idx);
/* Pushes a shape as an array table whose metatable (shared) has only a
 * __tostring: "{2, 5, 8}". */
void lgl_push_shape(lua_State *L, int ndim, const int64_t *sizes);

/* The path string at idx, after the context's file policy granted
 * reading (or writing) at all; raises "fname: file access is disabled by
 * the host" otherwise (io_lua.c). */
const char *lgl_check_path(lua_State *L, int idx, const char *fname,
                           bool write);

/* ---- registration of each family ---------------------------------------- */
/* Each takes the module table at module_idx and the methods table at
 * methods_idx (absolute), plus the upvalues at state_idx and meta_idx. */
typedef struct lgl_tables {
  int module, methods, state, meta;
} lgl_tables;
/* Registers a family's module functions and tensor methods; either list
 * may be NULL (or just its {NULL, NULL} end) to skip that table. */
void lgl_register_family(lua_State *L, const lgl_tables *T,
                         const luaL_Reg *module_fns, const luaL_Reg *methods);
void lgl_open_tensor_meta(lua_State *L, const lgl_tables *T);
void lgl_open_elementwise(lua_State *L, const lgl_tables *T);
void lgl_open_create(lua_State *L, const lgl_tables *T);
void lgl_open_reduce(lua_State *L, const lgl_tables *T);
void lgl_open_shape(lua_State *L, const lgl_tables *T);
void lgl_open_structure(lua_State *L, const lgl_tables *T);
void lgl_open_index(lua_State *L, const lgl_tables *T);
void lgl_open_linalg(lua_State *L, const lgl_tables *T);
void lgl_open_autograd(lua_State *L, const lgl_tables *T);
void lgl_open_forward_ad(lua_State *L, const lgl_tables *T);
void lgl_open_nn_loss(lua_State *L, const lgl_tables *T);
void lgl_open_nn_conv(lua_State *L, const lgl_tables *T);
void lgl_open_rnn(lua_State *L, const lgl_tables *T);
void lgl_open_io(lua_State *L, const lgl_tables *T);
void lgl_open_data(lua_State *L, const lgl_tables *T);
void lgl_open_optim(lua_State *L, const lgl_tables *T);
void lgl_open_host(lua_State *L, const lgl_tables *T);
void lgl_open_float_checks(lua_State *L, const lgl_tables *T);
void lgl_open_random(lua_State *L, const lgl_tables *T);
void lgl_open_vmap(lua_State *L, const lgl_tables *T);
void lgl_open_lapack(lua_State *L, const lgl_tables *T);
void lgl_open_sort(lua_State *L, const lgl_tables *T);
void lgl_open_einsum(lua_State *L, const lgl_tables *T);
void lgl_open_compile(lua_State *L, const lgl_tables *T);
/* lg._func_alias, lg._func_requires_grad: func.grad's common path
 * (func_fast.c). */
void lgl_open_func_fast(lua_State *L, const lgl_tables *T);
/* Raises (or, for func.compile's fallback, marks the trace) when what
 * ("item", "tolist", ...) reads tensor values into Lua while a trace
 * records (compile_lua.c). */
void lgl_trace_check_read(lua_State *L, const char *what);
/* lg._mpi (distributed/mpi_lua.c), only in a build with MPI. */
void lgl_open_distributed(lua_State *L, const lgl_tables *T);

/* ---- wrappers generated from the op table (ops_table.c) ----------------- */
/* Registers fn as the module function and method of every op of kind, and
 * inplace_fn (when not NULL) as its in-place method name_; each closure
 * carries the op, which the wrapper reads with lgl_upvalue_op. */
void lgl_register_kind(lua_State *L, const lgl_tables *T, int kind,
                       lua_CFunction fn, lua_CFunction inplace_fn);
lg_op lgl_upvalue_op(lua_State *L);
/* Raises when an op of a generated kind has no registered wrapper. */
void lgl_check_generated(lua_State *L, const lgl_tables *T);

/* ---- autograd (autograd_lua.c) ------------------------------------------- */
/* Pushes t (taking the reference) as the one Lua value of that C tensor. */
void lgl_push_registered(lua_State *L, lg_tensor *t);
/* Records the Lua value at idx as the one Lua value of its tensor t. */
void lgl_register_identity(lua_State *L, int idx, lg_tensor *t);
/* Pushes the Lua value registered for t, or nil when there is none. */
void lgl_push_identity(lua_State *L, const lg_tensor *t);
/* Installs the context's grad hook and the hook methods (hooks_lua.c). */
void lgl_open_hooks(lua_State *L, const lgl_tables *T);
/* Reads an autograd property (requires_grad, is_leaf, grad, grad_fn);
 * returns 0 when key is none of them. */
int lgl_autograd_property(lua_State *L, lg_tensor *t, const char *key);
/* Assigns grad or requires_grad from the value at v; 0 for other keys. */
int lgl_autograd_assign(lua_State *L, lg_tensor *t, const char *key, int v);

#endif
