/* lg_compile.h: tracing a function into a plan (runtime/compile), for the
 * binding's func.compile; the host side (lg_plan_run) is in luagrad.h.
 *
 * Between lg_trace_begin and lg_trace_end every outermost kernel call in
 * the context is recorded (ops that kernels run inside themselves are
 * not); whatever reads tensor values outside a kernel (lg_tensor_get, a
 * random draw) or changes them outside one (a version bump nobody
 * recorded) taints the trace, and lg_trace_end then fails with the reason.
 */
#ifndef LG_COMPILE_H
#define LG_COMPILE_H

#include "luagrad.h"

/* Starts recording in ctx; leaves are the argument tensors in guard order
 * (the same tensor may appear twice: aliases share one value). Fails when
 * a trace is already recording. */
lg_status lg_trace_begin(lg_ctx *ctx, int n_leaves, lg_tensor *const *leaves);
/* Whether a trace is recording in ctx. */
bool lg_trace_active(const lg_ctx *ctx);
/* Marks the recording trace data-dependent, keeping the first reason
 * (printf-style); nothing when no trace records. */
void lg_trace_taint(lg_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ends the trace: the plan computing outs (n_outs results) from the
 * leaves. A tainted trace fails (LG_ERR_RUNTIME) with its reason. With
 * fuse, chains of elementwise steps (and a full sum/mean they feed) run
 * as fused groups, one pass over memory (bit-identical); without, every
 * step runs its kernel (the reference replay). */
lg_status lg_trace_end(lg_ctx *ctx, int n_outs, lg_tensor *const *outs,
                       bool reuse_outputs, bool fuse, lg_plan **plan);
/* Drops a trace that will not finish (f raised). */
void lg_trace_abort(lg_ctx *ctx);

typedef struct lg_plan_info {
  int ops;          /* kernel calls per run                              */
  int views;        /* views resolved at trace time (no call at replay)  */
  int values;       /* tensors the plan tracks                           */
  int inputs, outputs;
  int consts;       /* tensors read without being arguments              */
  int copies;       /* ops whose kernel ignored the arena buffer         */
  size_t arena_bytes;   /* the one buffer holding every intermediate     */
  size_t naive_bytes;   /* what the intermediates would take unshared    */
  int64_t runs;
  int fused_groups; /* groups of steps run as one pass (fuse)           */
  int fused_ops;    /* steps inside those groups                        */
} lg_plan_info;
void lg_plan_get_info(const lg_plan *plan, lg_plan_info *info);
/* The op name of step i (plan_info's listing), NULL past the end. */
const char *lg_plan_step_name(const lg_plan *plan, int i);
/* 1 + the fused group step i runs in, 0 when it runs alone. */
int lg_plan_step_group(const lg_plan *plan, int i);

#endif
