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

#endif
