/* lg_ops.h: the single list of luagrad's tensor ops (an X-macro).
 *
 * Every op the runtime dispatches appears here exactly once. The enum
 * (LG_OP_ADD, ...), the name strings used in error messages and the forward
 * dispatch table are all generated from this list; the autograd engine
 * attaches its backward rules to the same entries. Adding an op means adding
 * a line here, its kernel, its backward rule and its test, nothing else.
 *
 * Columns: X(ID, name, kind, inputs, outputs, forward kernel, backward rule)
 *   kind    LG_KIND_* below: tells bindings how to expose the op generically
 *   inputs  number of tensor inputs (-1: variable, as in cat)
 *   outputs number of tensor outputs
 *   backward the family function holding the op's backward rule, written
 *           with differentiable ops (lg_backward_none: not differentiable)
 */
#ifndef LG_OPS_H
#define LG_OPS_H

/* How an op is called. Bindings generate wrappers for the uniform kinds. */
#define LG_KIND_UNARY       1  /* elementwise, keeps the input's dtype       */
#define LG_KIND_UNARY_FLOAT 2  /* elementwise, integer inputs become float32 */
#define LG_KIND_BINARY      3  /* elementwise, broadcasting, type promotion  */
#define LG_KIND_COMPARE     4  /* elementwise, broadcasting, bool result     */
#define LG_KIND_REDUCE      5  /* reduction over params->dims                */
#define LG_KIND_OTHER       6  /* hand-written binding                       */

#define LG_OP_LIST(X)                                                        \
  /* elementwise unary */                                                    \
  X(NEG,        "neg",        LG_KIND_UNARY,       1, 1, lg_kernel_unary, lg_backward_unary) \
  X(ABS,        "abs",        LG_KIND_UNARY,       1, 1, lg_kernel_unary, lg_backward_unary) \
  X(SIGN,       "sign",       LG_KIND_UNARY,       1, 1, lg_kernel_unary, lg_backward_unary) \
  X(FLOOR,      "floor",      LG_KIND_UNARY,       1, 1, lg_kernel_unary, lg_backward_unary) \
  X(CEIL,       "ceil",       LG_KIND_UNARY,       1, 1, lg_kernel_unary, lg_backward_unary) \
  X(ROUND,      "round",      LG_KIND_UNARY,       1, 1, lg_kernel_unary, lg_backward_unary) \
  X(SQUARE,     "square",     LG_KIND_UNARY,       1, 1, lg_kernel_unary, lg_backward_unary) \
  X(RELU,       "relu",       LG_KIND_UNARY,       1, 1, lg_kernel_unary, lg_backward_unary) \
  X(EXP,        "exp",        LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(LOG,        "log",        LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(LOG1P,      "log1p",      LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(EXPM1,      "expm1",      LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(SQRT,       "sqrt",       LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(RSQRT,      "rsqrt",      LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(SIN,        "sin",        LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(COS,        "cos",        LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(TANH,       "tanh",       LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(SIGMOID,    "sigmoid",    LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(GELU,       "gelu",       LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(SILU,       "silu",       LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(SOFTPLUS,   "softplus",   LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(RECIPROCAL, "reciprocal", LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(ERF,        "erf",        LG_KIND_UNARY_FLOAT, 1, 1, lg_kernel_unary, lg_backward_unary) \
  X(LOGICAL_NOT,"logical_not",LG_KIND_OTHER,       1, 1, lg_kernel_unary, lg_backward_none) \
  /* clamp: scalar[0] = min (LG_FLAG_HAS_MIN), scalar[1] = max (HAS_MAX) */  \
  X(CLAMP,      "clamp",      LG_KIND_OTHER,       1, 1, lg_kernel_clamp, lg_backward_unary) \
  /* floating-point checks (bool results: integer and bool inputs are never \
   * nan or inf) and repair; nan_to_num: scalar[0] replaces NaN, scalar[1] \
   * +inf, scalar[2] -inf (all three given; integer inputs are copied) */  \
  X(ISNAN,      "isnan",      LG_KIND_OTHER,       1, 1, lg_kernel_unary, lg_backward_none) \
  X(ISINF,      "isinf",      LG_KIND_OTHER,       1, 1, lg_kernel_unary, lg_backward_none) \
  X(ISFINITE,   "isfinite",   LG_KIND_OTHER,       1, 1, lg_kernel_unary, lg_backward_none) \
  X(NAN_TO_NUM, "nan_to_num", LG_KIND_OTHER,       1, 1, lg_kernel_unary, lg_backward_unary) \
  /* isclose(a, b): a == b or |a - b| <= atol + rtol |b|, broadcast, equal  \
   * dtypes; scalar[0] = rtol, scalar[1] = atol, LG_FLAG_EQUAL_NAN */      \
  X(ISCLOSE,    "isclose",    LG_KIND_OTHER,       2, 1, lg_kernel_binary, lg_backward_none) \
  /* elementwise binary; one side may be params->scalar (LG_FLAG_SCALAR_*) */\
  X(ADD,        "add",        LG_KIND_BINARY,      2, 1, lg_kernel_binary, lg_backward_binary) \
  X(SUB,        "sub",        LG_KIND_BINARY,      2, 1, lg_kernel_binary, lg_backward_binary) \
  X(MUL,        "mul",        LG_KIND_BINARY,      2, 1, lg_kernel_binary, lg_backward_binary) \
  X(DIV,        "div",        LG_KIND_BINARY,      2, 1, lg_kernel_binary, lg_backward_binary) \
  X(REMAINDER,  "remainder",  LG_KIND_BINARY,      2, 1, lg_kernel_binary, lg_backward_binary) \
  X(FLOOR_DIVIDE,"floor_divide",LG_KIND_BINARY,    2, 1, lg_kernel_binary, lg_backward_binary) \
  X(POW,        "pow",        LG_KIND_BINARY,      2, 1, lg_kernel_binary, lg_backward_binary) \
  X(MAXIMUM,    "maximum",    LG_KIND_BINARY,      2, 1, lg_kernel_binary, lg_backward_binary) \
  X(MINIMUM,    "minimum",    LG_KIND_BINARY,      2, 1, lg_kernel_binary, lg_backward_binary) \
  X(EQ,         "eq",         LG_KIND_COMPARE,     2, 1, lg_kernel_binary, lg_backward_none) \
  X(NE,         "ne",         LG_KIND_COMPARE,     2, 1, lg_kernel_binary, lg_backward_none) \
  X(LT,         "lt",         LG_KIND_COMPARE,     2, 1, lg_kernel_binary, lg_backward_none) \
  X(LE,         "le",         LG_KIND_COMPARE,     2, 1, lg_kernel_binary, lg_backward_none) \
  X(GT,         "gt",         LG_KIND_COMPARE,     2, 1, lg_kernel_binary, lg_backward_none) \
  X(GE,         "ge",         LG_KIND_COMPARE,     2, 1, lg_kernel_binary, lg_backward_none) \
  /* where(cond, a, b) */                                                    \
  X(WHERE,      "where",      LG_KIND_OTHER,       3, 1, lg_kernel_where, lg_backward_where) \
  /* copies: out = cast of input (params->dtype); fill; copy into out */     \
  X(TO_DTYPE,   "to",         LG_KIND_OTHER,       1, 1, lg_kernel_to_dtype, lg_backward_copy) \
  X(CLONE,      "clone",      LG_KIND_OTHER,       1, 1, lg_kernel_clone, lg_backward_copy) \
  X(FILL,       "fill_",      LG_KIND_OTHER,       1, 1, lg_kernel_fill, lg_backward_copy) \
  X(COPY,       "copy_",      LG_KIND_OTHER,       2, 1, lg_kernel_copy, lg_backward_copy) \
  /* reductions over params->dims (all dims when n_dims == 0) */             \
  X(SUM,        "sum",        LG_KIND_REDUCE,      1, 1, lg_kernel_reduce, lg_backward_reduce) \
  X(MEAN,       "mean",       LG_KIND_REDUCE,      1, 1, lg_kernel_reduce, lg_backward_reduce) \
  X(PROD,       "prod",       LG_KIND_REDUCE,      1, 1, lg_kernel_reduce, lg_backward_reduce) \
  X(AMAX,       "amax",       LG_KIND_REDUCE,      1, 1, lg_kernel_reduce, lg_backward_reduce) \
  X(AMIN,       "amin",       LG_KIND_REDUCE,      1, 1, lg_kernel_reduce, lg_backward_reduce) \
  X(LOGSUMEXP,  "logsumexp",  LG_KIND_REDUCE,      1, 1, lg_kernel_reduce, lg_backward_reduce) \
  X(ALL,        "all",        LG_KIND_REDUCE,      1, 1, lg_kernel_reduce, lg_backward_none) \
  X(ANY,        "any",        LG_KIND_REDUCE,      1, 1, lg_kernel_reduce, lg_backward_none) \
  /* var/std: scalar[0] = correction (1 = unbiased) */                       \
  X(VAR,        "var",        LG_KIND_OTHER,       1, 1, lg_kernel_reduce, lg_backward_reduce) \
  X(STD,        "std",        LG_KIND_OTHER,       1, 1, lg_kernel_reduce, lg_backward_reduce) \
  /* norm: scalar[0] = p (HUGE_VAL for the max norm) */                      \
  X(NORM,       "norm",       LG_KIND_OTHER,       1, 1, lg_kernel_reduce, lg_backward_reduce) \
  /* max/min over one dim: values and 1-based int64 indices */               \
  X(MAX_DIM,    "max",        LG_KIND_OTHER,       1, 2, lg_kernel_minmax_dim, lg_backward_reduce) \
  X(MIN_DIM,    "min",        LG_KIND_OTHER,       1, 2, lg_kernel_minmax_dim, lg_backward_reduce) \
  X(ARGMAX,     "argmax",     LG_KIND_OTHER,       1, 1, lg_kernel_argminmax, lg_backward_none) \
  X(ARGMIN,     "argmin",     LG_KIND_OTHER,       1, 1, lg_kernel_argminmax, lg_backward_none) \
  X(CUMSUM,     "cumsum",     LG_KIND_OTHER,       1, 1, lg_kernel_cumsum, lg_backward_reduce) \
  /* views: share the input's storage */                                     \
  X(VIEW,       "view",       LG_KIND_OTHER,       1, 1, lg_kernel_view, lg_backward_shape) \
  X(EXPAND,     "expand",     LG_KIND_OTHER,       1, 1, lg_kernel_expand, lg_backward_shape) \
  X(PERMUTE,    "permute",    LG_KIND_OTHER,       1, 1, lg_kernel_permute, lg_backward_shape) \
  X(SQUEEZE,    "squeeze",    LG_KIND_OTHER,       1, 1, lg_kernel_squeeze, lg_backward_shape) \
  X(UNSQUEEZE,  "unsqueeze",  LG_KIND_OTHER,       1, 1, lg_kernel_unsqueeze, lg_backward_shape) \
  X(NARROW,     "narrow",     LG_KIND_OTHER,       1, 1, lg_kernel_narrow, lg_backward_shape) \
  X(SELECT,     "select",     LG_KIND_OTHER,       1, 1, lg_kernel_select, lg_backward_shape) \
  /* shape ops that copy */                                                  \
  X(RESHAPE,    "reshape",    LG_KIND_OTHER,       1, 1, lg_kernel_reshape, lg_backward_shape) \
  X(FLIP,       "flip",       LG_KIND_OTHER,       1, 1, lg_kernel_flip, lg_backward_shape) \
  X(TILE,       "tile",       LG_KIND_OTHER,       1, 1, lg_kernel_tile, lg_backward_shape) \
  X(CAT,        "cat",        LG_KIND_OTHER,      -1, 1, lg_kernel_cat, lg_backward_shape) \
  X(CUMPROD,    "cumprod",    LG_KIND_OTHER,       1, 1, lg_kernel_cumsum, lg_backward_reduce) \
  /* indexing with 1-based int64 index tensors */                            \
  X(INDEX_SELECT,"index_select",LG_KIND_OTHER,     2, 1, lg_kernel_index_select, lg_backward_index) \
  X(GATHER,     "gather",     LG_KIND_OTHER,       2, 1, lg_kernel_gather, lg_backward_index) \
  X(SCATTER,    "scatter",    LG_KIND_OTHER,       3, 1, lg_kernel_scatter, lg_backward_index) \
  X(SCATTER_ADD,"scatter_add",LG_KIND_OTHER,       3, 1, lg_kernel_scatter, lg_backward_index) \
  X(MASKED_FILL,"masked_fill",LG_KIND_OTHER,       2, 1, lg_kernel_masked_fill, lg_backward_index) \
  X(MASKED_SELECT,"masked_select",LG_KIND_OTHER,   2, 1, lg_kernel_masked_select, lg_backward_index) \
  /* neural-network kernels (nn.functional): fused forwards; the params    \
   * conventions are in the header comments of nn_*.c / conv.c             \
   * (optional inputs are passed only when present, flagged LG_FLAG_OPT*) */\
  X(SOFTMAX, "softmax", LG_KIND_OTHER, 1, 1, lg_kernel_softmax, lg_backward_nn) \
  X(LOG_SOFTMAX, "log_softmax", LG_KIND_OTHER, 1, 1, lg_kernel_softmax, lg_backward_nn) \
  X(CROSS_ENTROPY, "cross_entropy", LG_KIND_OTHER, -1, 1, lg_kernel_cross_entropy, lg_backward_nn) \
  X(NLL_LOSS, "nll_loss", LG_KIND_OTHER, -1, 1, lg_kernel_cross_entropy, lg_backward_nn) \
  X(LAYER_NORM, "layer_norm", LG_KIND_OTHER, -1, 1, lg_kernel_norm, lg_backward_nn) \
  X(BATCH_NORM, "batch_norm", LG_KIND_OTHER, -1, 1, lg_kernel_norm, lg_backward_nn) \
  X(GROUP_NORM, "group_norm", LG_KIND_OTHER, -1, 1, lg_kernel_norm, lg_backward_nn) \
  X(CONV2D, "conv2d", LG_KIND_OTHER, -1, 1, lg_kernel_conv2d, lg_backward_conv) \
  X(CONV_TRANSPOSE2D, "conv_transpose2d", LG_KIND_OTHER, -1, 1, lg_kernel_conv2d, lg_backward_conv) \
  X(CONV2D_WEIGHT_GRAD, "conv2d_weight_grad", LG_KIND_OTHER, 2, 1, lg_kernel_conv2d, lg_backward_conv) \
  X(MAX_POOL2D, "max_pool2d", LG_KIND_OTHER, 1, 2, lg_kernel_pool2d, lg_backward_conv) \
  X(AVG_POOL2D, "avg_pool2d", LG_KIND_OTHER, 1, 1, lg_kernel_pool2d, lg_backward_conv) \
  X(ADAPTIVE_AVG_POOL2D, "adaptive_avg_pool2d", LG_KIND_OTHER, 1, 1, lg_kernel_pool2d, lg_backward_conv) \
  /* linear algebra: batched, broadcasting matmul through cblas */           \
  X(MATMUL,     "matmul",     LG_KIND_OTHER,       2, 1, lg_kernel_matmul, lg_backward_matmul) \
  /* linear(x, w[, b]): x w^T + b in one gemm (bias flagged LG_FLAG_OPT1) */ \
  X(LINEAR,     "linear",     LG_KIND_OTHER,      -1, 1, lg_kernel_linear, lg_backward_linear)

typedef enum lg_op {
#define LG_OP_ENUM(id, name, kind, nin, nout, fwd, bwd) LG_OP_##id,
  LG_OP_LIST(LG_OP_ENUM)
#undef LG_OP_ENUM
  LG_OP_COUNT
} lg_op;

#endif
