/* lg_ops.h: the single list of luagrad's tensor ops (an X-macro), one row
 * per op and one column per per-op fact.
 *
 * Generated from it: the enum (LG_OP_ADD, ...), the op table of names
 * (used in error messages), kinds, arities and kernels (dispatch.c), the
 * backward rules with the set of tensors autograd saves and which ops make
 * views (autograd/record.c), the batching and jvp rules (rules.c), and the
 * Lua wrappers of the uniform kinds (lua/binding/ops_table.c).
 *
 * Columns: X(ID, name, kind, inputs, outputs, forward, backward, saves, view,
 *            batch, jvp)
 *   kind     LG_KIND_* below: how the binding exposes the op; every kind
 *            except LG_KIND_OTHER gets a generated Lua wrapper
 *   inputs   number of tensor inputs (-1: variable, as in cat)
 *   outputs  number of tensor outputs
 *   forward  the kernel (runtime/ops/<family>.c)
 *   backward the family function holding the op's backward rule, written
 *            with differentiable ops (runtime/ops/<family>_backward.c;
 *            lg_backward_none: not differentiable, never recorded)
 *   saves    what the backward rule reads, kept by the graph node:
 *            LG_IN(i) | LG_OUT(k) (i < 24, k < 8), LG_SAVES_INPUTS (every
 *            input, however many) or LG_SAVES_NONE. Only saved inputs are version-checked, so an
 *            input left out may be changed in place afterwards (as in
 *            PyTorch). LG_OUT(k) only for outputs that are never
 *            differentiable (indices): a saved differentiable output would
 *            hold its own node. clone must save nothing: the in-place path
 *            clones self and makes self depend on that clone.
 *   view     LG_VIEW_YES: the output shares the input's storage;
 *            LG_VIEW_MAYBE: when strides allow (reshape); LG_VIEW_NO
 *   batch    the batching rule (vmap: runtime/ops/<family>_batch.c,
 *            helpers in runtime/vmap/vmap.h); lg_batch_none: the
 *            per-example loop (which warns once, naming the op)
 *   jvp      the jvp rule (forward-mode AD, autograd/dual.c): the shared
 *            shapes lg_jvp_linear, _multilinear, _elementwise, _reduce,
 *            _copy and _nondiff (no tangent: the rows without a backward)
 *            in runtime/ops/jvp_common.c, or a family's own in
 *            runtime/ops/<family>_jvp.c (jvp.h); lg_jvp_none: not supported
 *            yet (an error naming the op)
 *
 * Adding an op, in order (the link fails without the kernel or the rule
 * family, test_dispatch on columns that disagree, luagrad's open on a
 * generated kind without a wrapper; the rest only the specs can catch):
 *   1. a row here (all columns; a comment above a group states its params
 *      convention);
 *   2. its kernel in runtime/ops/<family>.c (validate, then lg_prepare_out;
 *      the row declares it);
 *   3. its backward rule in runtime/ops/<family>_backward.c, a case of the
 *      family function named in the backward column (the row declares it),
 *      and the saves column set to exactly what that case reads
 *      (tests/c/test_dispatch.c checks the columns agree);
 *   4. the binding: nothing for a generated kind (ops_table.c registers it;
 *      a new kind needs its wrapper and an lgl_register_kind call, which
 *      lgl_check_generated enforces when luagrad opens); for LG_KIND_OTHER
 *      a wrapper in lua/binding/ops_<family>.c, registered in its luaL_Reg;
 *   5. the Lua library wrapper if the public function is Lua
 *      (lua/luagrad/nn/functional.lua for the nn ops behind "_name");
 *   6. the PyTorch cases in the fixture generators and their regenerated
 *      output: tests/fixtures/generate.py -> tensor_ops.lua (forward),
 *      generate_grads.py -> grad_ops.lua (gradients, every differentiable
 *      row), generate_nn_*.py -> nn_*.lua for the nn ops;
 *   7. the specs: the family's forward spec tests/lua/<family>_spec.lua, the
 *      finite-difference spec tests/lua/grad_<family>_spec.lua, and the
 *      wrong calls in tests/lua/errors_spec.lua;
 *   8. its jvp rule in the jvp column (a shared shape, or a family's own in
 *      runtime/ops/<family>_jvp.c; lg_jvp_nondiff exactly for the rows
 *      without a backward, which test_dispatch checks) and its cases in
 *      tests/fixtures/generate_jvp.py -> jvp_ops.lua (the generate_grads.py
 *      cases come along by themselves);
 *   9. its batching rule in the batch column (a family's shared rule in
 *      runtime/ops/<family>_batch.c, helpers in runtime/vmap/vmap.h;
 *      lg_batch_none runs vmap's per-example loop, warning once) and its
 *      functorch cases in tests/fixtures/generate_vmap.py -> vmap.lua
 *      (tests/lua/vmap_torch_spec.lua);
 *  10. the op's name in README.md ("Tensors from Lua", or the nn section).
 */
#ifndef LG_OPS_H
#define LG_OPS_H

/* How an op is called from Lua. Bindings generate the wrappers of every
 * kind but LG_KIND_OTHER. */
#define LG_KIND_UNARY       1  /* elementwise, keeps the input's dtype       */
#define LG_KIND_UNARY_FLOAT 2  /* elementwise, integer inputs become float32 */
#define LG_KIND_BINARY      3  /* elementwise, broadcasting, type promotion  */
#define LG_KIND_COMPARE     4  /* elementwise, broadcasting, bool result     */
#define LG_KIND_REDUCE      5  /* t:op([dims][, keepdim]) over params->dims  */
#define LG_KIND_OTHER       6  /* hand-written binding                       */
#define LG_KIND_PREDICATE   7  /* elementwise, bool result, no in-place form */
#define LG_KIND_ALONG_DIM   8  /* t:op(dim) along one required params->dim  */
#define LG_KIND_ARGREDUCE   9  /* t:op([dim][, keepdim]); no dim: flattened  */

/* The saves column: bit i for input i (< 24), bit 24 + k for output k. */
#define LG_IN(i)        (1u << (i))
#define LG_OUT(k)       (1u << (24 + (k)))
#define LG_SAVES_NONE   0u
#define LG_SAVES_INPUTS 0x00ffffffu
#define LG_SAVES_MAX_INPUTS 24

/* The view column. */
#define LG_VIEW_NO    0
#define LG_VIEW_YES   1
#define LG_VIEW_MAYBE 2

#define LG_OP_LIST(X)                                                        \
  /* elementwise unary */                                                    \
  X(NEG,                 "neg",                 LG_KIND_UNARY,        1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_linear) \
  X(ABS,                 "abs",                 LG_KIND_UNARY,        1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(SIGN,                "sign",                LG_KIND_UNARY,        1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(FLOOR,               "floor",               LG_KIND_UNARY,        1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(CEIL,                "ceil",                LG_KIND_UNARY,        1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(ROUND,               "round",               LG_KIND_UNARY,        1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(SQUARE,              "square",              LG_KIND_UNARY,        1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(RELU,                "relu",                LG_KIND_UNARY,        1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(EXP,                 "exp",                 LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(LOG,                 "log",                 LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(LOG1P,               "log1p",               LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(EXPM1,               "expm1",               LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(SQRT,                "sqrt",                LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(RSQRT,               "rsqrt",               LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(SIN,                 "sin",                 LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(COS,                 "cos",                 LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(TANH,                "tanh",                LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(SIGMOID,             "sigmoid",             LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(GELU,                "gelu",                LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(SILU,                "silu",                LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(SOFTPLUS,            "softplus",            LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(RECIPROCAL,          "reciprocal",          LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(ERF,                 "erf",                 LG_KIND_UNARY_FLOAT,  1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  X(LOGICAL_NOT,         "logical_not",         LG_KIND_PREDICATE,    1, 1, lg_kernel_unary,         lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_nondiff) \
  /* clamp: scalar[0] = min (LG_FLAG_HAS_MIN), scalar[1] = max (HAS_MAX) */  \
  X(CLAMP,               "clamp",               LG_KIND_OTHER,        1, 1, lg_kernel_clamp,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  /* floating-point checks (bool results: integer and bool inputs are never \
   * nan or inf) and repair; nan_to_num: scalar[0] replaces NaN, scalar[1] \
   * +inf, scalar[2] -inf (all three given; integer inputs are copied) */  \
  X(ISNAN,               "isnan",               LG_KIND_PREDICATE,    1, 1, lg_kernel_unary,         lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_nondiff) \
  X(ISINF,               "isinf",               LG_KIND_PREDICATE,    1, 1, lg_kernel_unary,         lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_nondiff) \
  X(ISFINITE,            "isfinite",            LG_KIND_PREDICATE,    1, 1, lg_kernel_unary,         lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_nondiff) \
  X(NAN_TO_NUM,          "nan_to_num",          LG_KIND_OTHER,        1, 1, lg_kernel_unary,         lg_backward_unary,  LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_unary, lg_jvp_elementwise) \
  /* isclose(a, b): a == b or |a - b| <= atol + rtol |b|, broadcast, equal  \
   * dtypes; scalar[0] = rtol, scalar[1] = atol, LG_FLAG_EQUAL_NAN */      \
  X(ISCLOSE,             "isclose",             LG_KIND_OTHER,        2, 1, lg_kernel_binary,        lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_binary, lg_jvp_nondiff) \
  /* elementwise binary; one side may be params->scalar (LG_FLAG_SCALAR_*) */\
  X(ADD,                 "add",                 LG_KIND_BINARY,       2, 1, lg_kernel_binary,        lg_backward_binary, LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_binary, lg_jvp_elementwise) \
  X(SUB,                 "sub",                 LG_KIND_BINARY,       2, 1, lg_kernel_binary,        lg_backward_binary, LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_binary, lg_jvp_elementwise) \
  X(MUL,                 "mul",                 LG_KIND_BINARY,       2, 1, lg_kernel_binary,        lg_backward_binary, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_binary, lg_jvp_elementwise) \
  X(DIV,                 "div",                 LG_KIND_BINARY,       2, 1, lg_kernel_binary,        lg_backward_binary, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_binary, lg_jvp_elementwise) \
  X(REMAINDER,           "remainder",           LG_KIND_BINARY,       2, 1, lg_kernel_binary,        lg_backward_binary, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_binary, lg_jvp_elementwise) \
  X(FLOOR_DIVIDE,        "floor_divide",        LG_KIND_BINARY,       2, 1, lg_kernel_binary,        lg_backward_binary, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_binary, lg_jvp_elementwise) \
  X(POW,                 "pow",                 LG_KIND_BINARY,       2, 1, lg_kernel_binary,        lg_backward_binary, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_binary, lg_jvp_elementwise) \
  X(MAXIMUM,             "maximum",             LG_KIND_BINARY,       2, 1, lg_kernel_binary,        lg_backward_binary, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_binary, lg_jvp_elementwise) \
  X(MINIMUM,             "minimum",             LG_KIND_BINARY,       2, 1, lg_kernel_binary,        lg_backward_binary, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_binary, lg_jvp_elementwise) \
  X(EQ,                  "eq",                  LG_KIND_COMPARE,      2, 1, lg_kernel_binary,        lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_binary, lg_jvp_nondiff) \
  X(NE,                  "ne",                  LG_KIND_COMPARE,      2, 1, lg_kernel_binary,        lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_binary, lg_jvp_nondiff) \
  X(LT,                  "lt",                  LG_KIND_COMPARE,      2, 1, lg_kernel_binary,        lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_binary, lg_jvp_nondiff) \
  X(LE,                  "le",                  LG_KIND_COMPARE,      2, 1, lg_kernel_binary,        lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_binary, lg_jvp_nondiff) \
  X(GT,                  "gt",                  LG_KIND_COMPARE,      2, 1, lg_kernel_binary,        lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_binary, lg_jvp_nondiff) \
  X(GE,                  "ge",                  LG_KIND_COMPARE,      2, 1, lg_kernel_binary,        lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_binary, lg_jvp_nondiff) \
  /* where(cond, a, b) */                                                    \
  X(WHERE,               "where",               LG_KIND_OTHER,        3, 1, lg_kernel_where,         lg_backward_where,  LG_IN(0),                    LG_VIEW_NO,    lg_batch_binary, lg_jvp_linear) \
  /* copies: out = cast of input (params->dtype); fill; copy into out */     \
  X(TO_DTYPE,            "to",                  LG_KIND_OTHER,        1, 1, lg_kernel_to_dtype,      lg_backward_copy,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_linear) \
  X(CLONE,               "clone",               LG_KIND_OTHER,        1, 1, lg_kernel_clone,         lg_backward_copy,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_linear) \
  X(FILL,                "fill_",               LG_KIND_OTHER,        1, 1, lg_kernel_fill,          lg_backward_copy,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_unary, lg_jvp_copy) \
  X(COPY,                "copy_",               LG_KIND_OTHER,        2, 1, lg_kernel_copy,          lg_backward_copy,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_binary, lg_jvp_copy) \
  /* reductions over params->dims (all dims when n_dims == 0) */             \
  X(SUM,                 "sum",                 LG_KIND_REDUCE,       1, 1, lg_kernel_reduce,        lg_backward_reduce, LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_reduce, lg_jvp_linear) \
  X(MEAN,                "mean",                LG_KIND_REDUCE,       1, 1, lg_kernel_reduce,        lg_backward_reduce, LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_reduce, lg_jvp_linear) \
  X(PROD,                "prod",                LG_KIND_REDUCE,       1, 1, lg_kernel_reduce,        lg_backward_reduce, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_reduce, lg_jvp_reduce) \
  X(AMAX,                "amax",                LG_KIND_REDUCE,       1, 1, lg_kernel_reduce,        lg_backward_reduce, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_reduce, lg_jvp_reduce) \
  X(AMIN,                "amin",                LG_KIND_REDUCE,       1, 1, lg_kernel_reduce,        lg_backward_reduce, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_reduce, lg_jvp_reduce) \
  X(LOGSUMEXP,           "logsumexp",           LG_KIND_REDUCE,       1, 1, lg_kernel_reduce,        lg_backward_reduce, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_reduce, lg_jvp_reduce) \
  X(ALL,                 "all",                 LG_KIND_REDUCE,       1, 1, lg_kernel_reduce,        lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_reduce, lg_jvp_nondiff) \
  X(ANY,                 "any",                 LG_KIND_REDUCE,       1, 1, lg_kernel_reduce,        lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_reduce, lg_jvp_nondiff) \
  /* var/std: scalar[0] = correction (1 = unbiased) */                       \
  X(VAR,                 "var",                 LG_KIND_OTHER,        1, 1, lg_kernel_reduce,        lg_backward_reduce, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_reduce, lg_jvp_reduce) \
  X(STD,                 "std",                 LG_KIND_OTHER,        1, 1, lg_kernel_reduce,        lg_backward_reduce, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_reduce, lg_jvp_reduce) \
  /* norm: scalar[0] = p (HUGE_VAL for the max norm) */                      \
  X(NORM,                "norm",                LG_KIND_OTHER,        1, 1, lg_kernel_reduce,        lg_backward_reduce, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_reduce, lg_jvp_reduce) \
  /* max/min over one dim: values and 1-based int64 indices */               \
  X(MAX_DIM,             "max",                 LG_KIND_OTHER,        1, 2, lg_kernel_minmax_dim,    lg_backward_reduce, LG_OUT(1),                   LG_VIEW_NO,    lg_batch_dim,  lg_jvp_reduce) \
  X(MIN_DIM,             "min",                 LG_KIND_OTHER,        1, 2, lg_kernel_minmax_dim,    lg_backward_reduce, LG_OUT(1),                   LG_VIEW_NO,    lg_batch_dim,  lg_jvp_reduce) \
  X(ARGMAX,              "argmax",              LG_KIND_ARGREDUCE,    1, 1, lg_kernel_argminmax,     lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_dim,  lg_jvp_nondiff) \
  X(ARGMIN,              "argmin",              LG_KIND_ARGREDUCE,    1, 1, lg_kernel_argminmax,     lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_dim,  lg_jvp_nondiff) \
  X(CUMSUM,              "cumsum",              LG_KIND_ALONG_DIM,    1, 1, lg_kernel_cumsum,        lg_backward_reduce, LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_dim,  lg_jvp_linear) \
  /* views: share the input's storage */                                     \
  X(VIEW,                "view",                LG_KIND_OTHER,        1, 1, lg_kernel_view,          lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_YES,   lg_batch_shape, lg_jvp_linear) \
  X(EXPAND,              "expand",              LG_KIND_OTHER,        1, 1, lg_kernel_expand,        lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_YES,   lg_batch_shape, lg_jvp_linear) \
  X(PERMUTE,             "permute",             LG_KIND_OTHER,        1, 1, lg_kernel_permute,       lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_YES,   lg_batch_shape, lg_jvp_linear) \
  X(SQUEEZE,             "squeeze",             LG_KIND_OTHER,        1, 1, lg_kernel_squeeze,       lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_YES,   lg_batch_shape, lg_jvp_linear) \
  X(UNSQUEEZE,           "unsqueeze",           LG_KIND_OTHER,        1, 1, lg_kernel_unsqueeze,     lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_YES,   lg_batch_shape, lg_jvp_linear) \
  X(NARROW,              "narrow",              LG_KIND_OTHER,        1, 1, lg_kernel_narrow,        lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_YES,   lg_batch_shape, lg_jvp_linear) \
  X(SELECT,              "select",              LG_KIND_OTHER,        1, 1, lg_kernel_select,        lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_YES,   lg_batch_shape, lg_jvp_linear) \
  /* shape ops that copy */                                                  \
  X(RESHAPE,             "reshape",             LG_KIND_OTHER,        1, 1, lg_kernel_reshape,       lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_MAYBE, lg_batch_shape, lg_jvp_linear) \
  X(FLIP,                "flip",                LG_KIND_OTHER,        1, 1, lg_kernel_flip,          lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_shape, lg_jvp_linear) \
  X(TILE,                "tile",                LG_KIND_OTHER,        1, 1, lg_kernel_tile,          lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_shape, lg_jvp_linear) \
  X(CAT,                 "cat",                 LG_KIND_OTHER,       -1, 1, lg_kernel_cat,           lg_backward_shape,  LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_shape, lg_jvp_linear) \
  X(CUMPROD,             "cumprod",             LG_KIND_ALONG_DIM,    1, 1, lg_kernel_cumsum,        lg_backward_reduce, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_dim,  lg_jvp_cumprod) \
  /* indexing with 1-based int64 index tensors */                            \
  X(INDEX_SELECT,        "index_select",        LG_KIND_OTHER,        2, 1, lg_kernel_index_select,  lg_backward_index,  LG_IN(1),                    LG_VIEW_NO,    lg_batch_index, lg_jvp_linear) \
  X(GATHER,              "gather",              LG_KIND_OTHER,        2, 1, lg_kernel_gather,        lg_backward_index,  LG_IN(1),                    LG_VIEW_NO,    lg_batch_index, lg_jvp_linear) \
  X(SCATTER,             "scatter",             LG_KIND_OTHER,        3, 1, lg_kernel_scatter,       lg_backward_index,  LG_IN(1),                    LG_VIEW_NO,    lg_batch_index, lg_jvp_linear) \
  X(SCATTER_ADD,         "scatter_add",         LG_KIND_OTHER,        3, 1, lg_kernel_scatter,       lg_backward_index,  LG_IN(1),                    LG_VIEW_NO,    lg_batch_index, lg_jvp_linear) \
  X(MASKED_FILL,         "masked_fill",         LG_KIND_OTHER,        2, 1, lg_kernel_masked_fill,   lg_backward_index,  LG_IN(1),                    LG_VIEW_NO,    lg_batch_index, lg_jvp_linear) \
  X(MASKED_SELECT,       "masked_select",       LG_KIND_OTHER,        2, 1, lg_kernel_masked_select, lg_backward_index,  LG_IN(1),                    LG_VIEW_NO,    lg_batch_index, lg_jvp_linear) \
  /* neural-network kernels (nn.functional): fused forwards; the params    \
   * conventions are in the header comments of nn_*.c / conv.c             \
   * (optional inputs are passed only when present, flagged LG_FLAG_OPT*) */\
  X(SOFTMAX,             "softmax",             LG_KIND_ALONG_DIM,    1, 1, lg_kernel_softmax,       lg_backward_loss,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_dim,  lg_jvp_softmax) \
  X(LOG_SOFTMAX,         "log_softmax",         LG_KIND_ALONG_DIM,    1, 1, lg_kernel_softmax,       lg_backward_loss,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_dim,  lg_jvp_softmax) \
  X(CROSS_ENTROPY,       "cross_entropy",       LG_KIND_OTHER,       -1, 1, lg_kernel_cross_entropy, lg_backward_loss,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_loss, lg_jvp_loss) \
  X(NLL_LOSS,            "nll_loss",            LG_KIND_OTHER,       -1, 1, lg_kernel_cross_entropy, lg_backward_loss,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_loss, lg_jvp_loss) \
  X(LAYER_NORM,          "layer_norm",          LG_KIND_OTHER,       -1, 1, lg_kernel_norm,          lg_backward_norm,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_nn,   lg_jvp_norm) \
  X(BATCH_NORM,          "batch_norm",          LG_KIND_OTHER,       -1, 1, lg_kernel_norm,          lg_backward_norm,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_nn,   lg_jvp_norm) \
  X(GROUP_NORM,          "group_norm",          LG_KIND_OTHER,       -1, 1, lg_kernel_norm,          lg_backward_norm,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_nn,   lg_jvp_norm) \
  X(CONV2D,              "conv2d",              LG_KIND_OTHER,       -1, 1, lg_kernel_conv2d,        lg_backward_conv,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_nn,   lg_jvp_multilinear) \
  X(CONV_TRANSPOSE2D,    "conv_transpose2d",    LG_KIND_OTHER,       -1, 1, lg_kernel_conv2d,        lg_backward_conv,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_nn,   lg_jvp_multilinear) \
  X(CONV2D_WEIGHT_GRAD,  "conv2d_weight_grad",  LG_KIND_OTHER,        2, 1, lg_kernel_conv2d,        lg_backward_conv,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_nn,   lg_jvp_multilinear) \
  X(MAX_POOL2D,          "max_pool2d",          LG_KIND_OTHER,        1, 2, lg_kernel_pool2d,        lg_backward_pool,   LG_SAVES_INPUTS | LG_OUT(1), LG_VIEW_NO,    lg_batch_nn,   lg_jvp_max_pool) \
  X(AVG_POOL2D,          "avg_pool2d",          LG_KIND_OTHER,        1, 1, lg_kernel_pool2d,        lg_backward_pool,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_nn,   lg_jvp_linear) \
  X(ADAPTIVE_AVG_POOL2D, "adaptive_avg_pool2d", LG_KIND_OTHER,        1, 1, lg_kernel_pool2d,        lg_backward_pool,   LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_nn,   lg_jvp_linear) \
  /* one recurrent step, gates fused (rnn.c): lstm_cell(xg, hg, c) -> h, c; \
   * gru_cell(xg, hg, h) -> h; xg, hg the (N, G*H) input and hidden gates */ \
  X(LSTM_CELL,           "lstm_cell",           LG_KIND_OTHER,        3, 2, lg_kernel_rnn_cell,      lg_backward_rnn,    LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_rows, lg_jvp_rnn) \
  X(GRU_CELL,            "gru_cell",            LG_KIND_OTHER,        3, 1, lg_kernel_rnn_cell,      lg_backward_rnn,    LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_rows, lg_jvp_rnn) \
  /* linear algebra: batched, broadcasting matmul through cblas */           \
  X(MATMUL,              "matmul",              LG_KIND_OTHER,        2, 1, lg_kernel_matmul,        lg_backward_matmul, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_matmul, lg_jvp_multilinear) \
  /* linear(x, w[, b]): x w^T + b in one gemm (bias flagged LG_FLAG_OPT1) */ \
  X(LINEAR,              "linear",              LG_KIND_OTHER,       -1, 1, lg_kernel_linear,        lg_backward_linear, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_linear, lg_jvp_multilinear) \
  /* triangular and diagonal ops (ops/structure.c): start = offset k;      \
   * diagonal/diag_embed: ints[0..1] = dim1, dim2 (ints[2..3]: diag_embed's \
   * sizes of those dims, when given) */                                    \
  X(TRIL,                "tril",                LG_KIND_OTHER,        1, 1, lg_kernel_triangle,      lg_backward_structure, LG_SAVES_NONE,            LG_VIEW_NO,    lg_batch_structure, lg_jvp_linear) \
  X(TRIU,                "triu",                LG_KIND_OTHER,        1, 1, lg_kernel_triangle,      lg_backward_structure, LG_SAVES_NONE,            LG_VIEW_NO,    lg_batch_structure, lg_jvp_linear) \
  X(DIAGONAL,            "diagonal",            LG_KIND_OTHER,        1, 1, lg_kernel_diagonal,      lg_backward_structure, LG_SAVES_NONE,            LG_VIEW_YES,   lg_batch_structure, lg_jvp_linear) \
  X(DIAG_EMBED,          "diag_embed",          LG_KIND_OTHER,        1, 1, lg_kernel_diag_embed,    lg_backward_structure, LG_SAVES_NONE,            LG_VIEW_NO,    lg_batch_structure, lg_jvp_linear) \
  /* linear algebra through LAPACK (ops/lapack.c): float32/float64 (m, n) \
   * matrices batched over the leading dims, computed in double; options \
   * in p->scalar_int (LG_LINALG_* below). solve(A, B): A (.., n, n), B   \
   * (.., n, k) with the same batch dims; slogdet -> sign, logabsdet;     \
   * cholesky -> lower L; eigh -> ascending eigenvalues, eigenvectors;    \
   * svd -> U, S, Vh; qr -> Q, R */                                        \
  X(LINALG_INV,          "linalg_inv",          LG_KIND_OTHER,        1, 1, lg_kernel_lapack,        lg_backward_lapack, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_lapack, lg_jvp_lapack) \
  X(LINALG_SOLVE,        "linalg_solve",        LG_KIND_OTHER,        2, 1, lg_kernel_lapack,        lg_backward_lapack, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_lapack, lg_jvp_lapack) \
  X(LINALG_SLOGDET,      "linalg_slogdet",      LG_KIND_OTHER,        1, 2, lg_kernel_lapack,        lg_backward_lapack, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_lapack, lg_jvp_lapack) \
  X(LINALG_CHOLESKY,     "linalg_cholesky",     LG_KIND_OTHER,        1, 1, lg_kernel_lapack,        lg_backward_lapack, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_lapack, lg_jvp_lapack) \
  X(LINALG_EIGH,         "linalg_eigh",         LG_KIND_OTHER,        1, 2, lg_kernel_lapack,        lg_backward_lapack, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_lapack, lg_jvp_lapack) \
  X(LINALG_SVD,          "linalg_svd",          LG_KIND_OTHER,        1, 3, lg_kernel_lapack,        lg_backward_lapack, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_lapack, lg_jvp_lapack) \
  X(LINALG_QR,           "linalg_qr",           LG_KIND_OTHER,        1, 2, lg_kernel_lapack,        lg_backward_lapack, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_lapack, lg_jvp_lapack) \
  X(LINALG_MATRIX_EXP,   "linalg_matrix_exp",   LG_KIND_OTHER,        1, 1, lg_kernel_lapack,        lg_backward_lapack, LG_SAVES_INPUTS,             LG_VIEW_NO,    lg_batch_lapack, lg_jvp_lapack) \
  /* sorting (ops/sort.c, whose header gives the params): values and      \
   * 1-based int64 indices along p->dim; unique: values, inverse, counts */ \
  X(SORT,                "sort",                LG_KIND_OTHER,        1, 2, lg_kernel_sort,          lg_backward_sort,   LG_OUT(1),                   LG_VIEW_NO,    lg_batch_dim,  lg_jvp_sort) \
  X(TOPK,                "topk",                LG_KIND_OTHER,        1, 2, lg_kernel_sort,          lg_backward_sort,   LG_OUT(1),                   LG_VIEW_NO,    lg_batch_dim,  lg_jvp_sort) \
  X(KTHVALUE,            "kthvalue",            LG_KIND_OTHER,        1, 2, lg_kernel_sort,          lg_backward_sort,   LG_OUT(1),                   LG_VIEW_NO,    lg_batch_dim,  lg_jvp_sort) \
  X(MEDIAN,              "median",              LG_KIND_OTHER,        1, 2, lg_kernel_sort,          lg_backward_sort,   LG_OUT(1),                   LG_VIEW_NO,    lg_batch_dim,  lg_jvp_sort) \
  X(CUMMAX,              "cummax",              LG_KIND_OTHER,        1, 2, lg_kernel_cumextreme,    lg_backward_sort,   LG_OUT(1),                   LG_VIEW_NO,    lg_batch_dim,  lg_jvp_sort) \
  X(CUMMIN,              "cummin",              LG_KIND_OTHER,        1, 2, lg_kernel_cumextreme,    lg_backward_sort,   LG_OUT(1),                   LG_VIEW_NO,    lg_batch_dim,  lg_jvp_sort) \
  X(UNIQUE,              "unique",              LG_KIND_OTHER,        1, 3, lg_kernel_unique,        lg_backward_none,   LG_SAVES_NONE,               LG_VIEW_NO,    lg_batch_dynamic, lg_jvp_nondiff)

typedef enum lg_op {
#define LG_OP_ENUM(id, name, kind, nin, nout, fwd, bwd, saves, view, batch, \
                   jvp)                                                  \
  LG_OP_##id,
  LG_OP_LIST(LG_OP_ENUM)
#undef LG_OP_ENUM
  LG_OP_COUNT
} lg_op;

/* Options of the LAPACK rows (params->scalar_int bits). */
#define LG_LINALG_UPPER 1 /* eigh: read the upper triangle (UPLO = "U") */
#define LG_LINALG_FULL  2 /* svd: full_matrices; qr: mode "complete"   */
#define LG_LINALG_NO_Q  4 /* qr: mode "r" (Q is an empty tensor)        */
#define LG_LINALG_VALUES 8 /* eigh, svd: only the values are used
                            * (eigvalsh, svdvals: their gradient rule) */

#endif
