/* compile.h: the internals of func.compile shared by trace.c (recording
 * kernel calls into a plan) and plan.c (arena planning and replay).
 *
 * A plan is a list of values (every tensor the traced function touched)
 * and a list of steps (the outermost kernel calls, in order). Each value
 * has one replay tensor: an argument bound per run, a constant held by the
 * plan, a slot of the arena (intermediates, placed by liveness), an output
 * buffer, or a view whose geometry relative to its root was fixed by the
 * trace. Replay calls the kernels directly with those tensors as given
 * outputs (out=), so it runs no layer, no Lua and allocates nothing.
 */
#ifndef LG_COMPILE_H_INTERNAL
#define LG_COMPILE_H_INTERNAL

#include "core.h"
#include "lg_compile.h"
#include "elementwise_fuse.h"
#include "random.h"

enum {
  LG_VAL_ARG,   /* the argument leaf `arg`, bound per run                  */
  LG_VAL_CONST, /* a tensor f reached without receiving it, held           */
  LG_VAL_ARENA, /* an intermediate: a slot of the arena                    */
  LG_VAL_OUT,   /* a result buffer (or the root of a result view)          */
  LG_VAL_VIEW,  /* a view of the value `root` at offset `delta`            */
  LG_VAL_FUSED  /* an intermediate living only in a fused group's tiles    */
};

typedef struct lg_plan_val {
  int kind;
  int arg;         /* LG_VAL_ARG: the leaf index                           */
  int root;        /* LG_VAL_VIEW: the value it views (never a view)       */
  int64_t delta;   /* LG_VAL_VIEW: its offset minus the root's (elements)  */
  lg_dtype dtype;
  int ndim;
  int64_t sizes[LG_MAX_DIMS], strides[LG_MAX_DIMS];
  size_t extent;   /* bytes its geometry spans (arena and out buffers)     */
  size_t offset;   /* LG_VAL_ARENA: byte offset in the arena               */
  int def, last;   /* the step defining it, the last step reading it       */
  bool written;    /* some step writes it in place                         */
  unsigned char *snapshot; /* LG_VAL_CONST made during the trace and
                              written in place: its storage's bytes before */
  size_t snapshot_bytes;
  lg_tensor *t;    /* the replay tensor (borrowed for LG_VAL_ARG)          */
} lg_plan_val;

/* Steps that are not kernel calls: a fused optimizer update (optim.c,
 * lg_optim_step) on the operands its slots name, and a random draw
 * (random.h, lg_draw_into) into its one output, on [probabilities]. */
#define LG_PLAN_OPTIM ((lg_op)(LG_OP_COUNT + 1))
#define LG_PLAN_DRAW ((lg_op)(LG_OP_COUNT + 2))

typedef struct lg_plan_step {
  lg_op op;        /* a kernel, LG_PLAN_OPTIM or LG_PLAN_DRAW              */
  lg_params p;
  lg_optim_call optim; /* LG_PLAN_OPTIM: kind and options (no tensors)    */
  unsigned slots;  /* LG_PLAN_OPTIM: bit k set when slot k is an operand;
                      the operands are the set slots in order             */
  lg_draw draw;    /* LG_PLAN_DRAW                                         */
  bool linear_row; /* a linear step of one contiguous row: replay calls
                      lg_linear_row (n outputs, k inputs) without the
                      kernel's checks, which the trace's geometry settled */
  int64_t row_n, row_k;
  int n_in, n_out;
  int first;       /* index of its operands in plan->operands: inputs,
                      then outputs                                         */
  int group;       /* 1 + the fused group it belongs to; 0: none (fuse.c) */
  lg_ew_loop ew;   /* in a group: its loop (the reduction has none)        */
  int tile[3];     /* in a group, per operand (output, inputs): its tile
                      buffer, or -1 to read/write the value's memory       */
} lg_plan_step;

/* Consecutive steps [first, first + n) that run as one pass over memory
 * in tiles (fuse.c): elementwise steps, the last possibly a full sum or
 * mean of a value the group makes. */
typedef struct lg_plan_group {
  int first, n;
  lg_dtype dtype;
  int64_t numel;
  bool reduce;     /* its last step is the sum / mean                      */
} lg_plan_group;

struct lg_plan {
  int refcount;
  lg_ctx *ctx;
  int n_vals, n_steps, n_operands;
  int cap_vals, cap_steps, cap_operands; /* allocated lengths */
  lg_plan_val *vals;
  lg_plan_step *steps;
  int *operands;
  int n_inputs;          /* argument leaves (aliases included)             */
  int *input_val;        /* per leaf: its value (aliases share one)        */
  int n_outputs;
  int *output_val;       /* per result: its value                          */
  bool reuse_outputs;
  lg_tensor *arena;      /* one uint8 storage holding every slot           */
  size_t arena_bytes;
  int n_copies;          /* steps whose kernel ignored the given output    */
  int max_operands;      /* the most inputs + outputs of one step          */
  lg_tensor **scratch;   /* 2 * max_operands tensor pointers for a step    */
  int64_t runs;
  int n_run_vals;        /* values a run binds, makes, restores or drops:  */
  int *run_vals;         /* arguments, results, snapshots and the views of
                            arguments and results, in value order         */
  bool fuse;             /* lg_plan_finish forms fused groups              */
  int n_groups, cap_groups, fused_ops;
  lg_plan_group *groups;
  int n_tiles;           /* tile buffers of the largest group              */
  unsigned char *tiles;  /* n_tiles * LG_FUSE_TILE elements of 8 bytes,
                            plus alignment slack                           */
  unsigned char *fold;   /* a summed group's values that other threads made,
                            for the sum to add in order (fuse.c); made on
                            the first replay that splits a sum            */
  size_t fold_bytes;
};

/* Elements per tile of a fused group: a multiple of the sum kernel's 32
 * lanes, so a tiled sum adds each element into the same lane. */
#define LG_FUSE_TILE 512
/* Forms the fused groups of a plan whose liveness is computed, extending
 * the liveness of what the groups read and write (fuse.c). */
lg_status lg_plan_fuse(lg_plan *plan);
/* Runs group g (fuse.c). */
lg_status lg_plan_run_group(lg_plan *plan, const lg_plan_group *g);
/* Frees what lg_plan_fuse allocated. */
void lg_plan_fuse_free(lg_plan *plan);

/* Bytes the geometry of v spans from its first element (plan.c). */
size_t lg_plan_extent(const lg_plan_val *v);

/* Builds plan->arena and the replay tensors once values and steps are in
 * place (plan.c); fails on out of memory. */
lg_status lg_plan_finish(lg_plan *plan);

/* Growable arrays in the context's allocator. */
lg_status lg_grow(lg_ctx *ctx, void **items, int *cap, int need, size_t item);

#endif
