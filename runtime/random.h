/* random.h: a sequential reader over the context's Philox stream, shared
 * by the generators of random.c and the samplers of ops/sample.c.
 *
 * Invariant (random.c): a stream is a pure function of (seed, offset).
 * A reader starts on the context's next unused block and, when closed,
 * commits the blocks it read (a partly used last block is dropped), so the
 * same seed and the same calls give the same numbers everywhere.
 */
#ifndef LG_RANDOM_H
#define LG_RANDOM_H

#include "core.h"

typedef struct lg_stream {
  lg_ctx *ctx;
  uint64_t block;   /* next block to generate */
  uint32_t words[4];
  int used;         /* words of `words` already handed out (4: none left) */
} lg_stream;

static inline void lg_stream_open(lg_stream *s, lg_ctx *ctx) {
  if (lg_tracing_outside_kernel(ctx)) /* func.compile: not replayable yet */
    lg_trace_taint(ctx, "a random op (rand, randn, dropout, ...) drew "
                   "numbers outside a kernel");
  s->ctx = ctx;
  s->block = ctx->rng_offset;
  s->used = 4;
}

static inline uint32_t lg_stream_next32(lg_stream *s) {
  if (s->used == 4) {
    lg_philox(s->ctx->seed, 0, s->block++, s->words);
    s->used = 0;
  }
  return s->words[s->used++];
}

static inline uint64_t lg_stream_next64(lg_stream *s) {
  uint64_t hi = lg_stream_next32(s);
  return hi << 32 | lg_stream_next32(s);
}

/* Commits the blocks read so far to the context. */
static inline void lg_stream_close(lg_stream *s) {
  s->ctx->rng_offset = s->block;
}

/* Uniform on [0, 1) with 24 bits (float32) or 53 bits (other dtypes). */
static inline double lg_stream_uniform(lg_stream *s, lg_dtype dtype) {
  if (dtype == LG_FLOAT32) return (double)(lg_stream_next32(s) >> 8) * 0x1p-24;
  return (double)(lg_stream_next64(s) >> 11) * 0x1p-53;
}

/* LG_OK for float32 and float64; otherwise fails "op: expected a floating
 * point dtype (float32 or float64), got <dtype>". */
lg_status lg_check_float_dtype(lg_ctx *ctx, const char *op, lg_dtype dtype);

/* One draw that fills a tensor: what rand, randn, randint, bernoulli,
 * uniform_ and normal_ compute, so that func.compile can record it as a
 * plan step and a replay draws fresh numbers from the stream exactly as
 * the eager call would at that point of the sequence. */
typedef enum lg_draw_kind {
  LG_DRAW_RAND,      /* uniform on [0, 1)                                  */
  LG_DRAW_UNIFORM,   /* uniform on [a, b) (uniform_'s formula)             */
  LG_DRAW_RANDN,     /* standard normal; with affine, then * a + b         */
  LG_DRAW_RANDINT,   /* integers in [low, high)                            */
  LG_DRAW_BERNOULLI  /* 1 with probability p[i] (a tensor) or a, else 0    */
} lg_draw_kind;

typedef struct lg_draw {
  lg_draw_kind kind;
  double a, b;
  bool affine;
  int64_t low, high;
} lg_draw;

/* Fills out (contiguous; float for all but RANDINT and BERNOULLI) from the
 * context's stream; p: BERNOULLI's probabilities (out's shape) or NULL for
 * the number d->a. While func.compile traces, the draw is also recorded. */
lg_status lg_draw_into(lg_ctx *ctx, const lg_draw *d, lg_tensor *p,
                       lg_tensor *out);
/* Records a draw as a plan step (compile/trace.c; out was just drawn). */
lg_status lg_trace_draw(lg_ctx *ctx, const lg_draw *d, lg_tensor *p,
                        lg_tensor *out);
/* The BERNOULLI fill (ops/sample.c): checks p's values, then draws. */
lg_status lg_draw_bernoulli(lg_ctx *ctx, lg_tensor *p, double p_scalar,
                            lg_tensor *out);

#endif
