/* conv_winograd.c: conv2d's forward, and its input gradient (which is
 * itself such a correlation, winograd_image), by Winograd's minimal
 * filtering F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2015), see conv_winograd.h. Each 2x2
 * block of outputs (a
 * "tile") of one output channel o is
 *
 *   Y = A^T [ sum over c of (G g[o,c] G^T) * (B^T d[c] B) ] A
 *
 * with d[c] the tile's 4x4 input patch of channel c, g the 3x3 kernel, *
 * elementwise, and
 *
 *   B^T = [1  0 -1  0]   G = [ 1    0    0 ]   A^T = [1  1  1  0]
 *         [0  1  1  0]       [1/2  1/2  1/2]         [0  1 -1 -1]
 *         [0 -1  1  0]       [1/2 -1/2  1/2]
 *         [0  1  0 -1]       [ 0    0    1 ]
 *
 * So for each of the 16 elements xi of the 4x4 transforms, the sum over c
 * is a product of matrices: M[xi] (og, tiles) = U[xi] (og, cg) V[xi] (cg,
 * tiles), one gemm per xi (lg_gemm_call), 16 multiply-adds per tile and
 * channel pair where im2col's gemm does 36.
 *
 * The batch's rows of tiles are cut into blocks of whole rows (at most
 * BLOCK_TILES tiles and SLOT_BYTES of V and M unless one row alone is
 * larger, a count of tiles near a
 * whole number of the gemm's 48-column panels: wider gemms measured faster
 * than blocks small enough for L2, 160 tiles 9.4-10.2 ms against 8.5-9.4
 * for 336 on the bench's conv2d forward); the
 * blocks split across the context's threads, each thread with its own
 * scratch. The transforms run 16 tiles of a row at a time in AVX-512
 * registers (a tile's 4 input columns are the even and odd lanes of two
 * vector loads from the image row, masked where the padding is), down
 * each column of tiles, keeping the two patch rows a tile shares with the
 * one below. */
#include "conv_winograd.h"

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) &&         \
    !defined(LG_NO_TARGET_CLONES)
#include <immintrin.h>
#include <stdatomic.h>
#include <string.h>

#include "blas_threads.h"
#include "gemm_tiled.h"
#include "parallel.h"

#define AVX512 __attribute__((target("avx512f")))

#define BLOCK_TILES 400 /* tiles per block, at most (whole rows of tiles) */
#define SLOT_BYTES ((int64_t)4 << 20) /* a block's V and M, at most */
#define PANEL 48        /* the AVX-512 gemm's columns per panel */
#define PIECES 16       /* runs of blocks the threads share out */
#define MAX_SLOTS 64    /* scratch slots: pieces running at once */

bool lg_conv_winograd_fits(const conv_geom *g) {
  int64_t cg = g->c / g->groups, og = g->o / g->groups;
  bool shape = g->dtype == LG_FLOAT32 && g->kh == 3 && g->kw == 3 &&
               g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
               cg >= 16 && og >= 16;
  if (g->side == SOLVE_RESPONSE)
    shape = shape && g->oh >= 2 && g->ow >= 2;
  else if (g->side == SOLVE_IMAGE) /* a correlation padded by 2 - p */
    shape = shape && g->ph <= 2 && g->pw <= 2 && g->h >= 2 && g->w >= 2;
  else
    shape = false;
  return shape && __builtin_cpu_supports("avx512f");
}

/* u[xi][o][c] = (G g[o,c] G^T)[xi] for one group: w (og, cg, 3, 3). */
static void transform_weight(const float *w, int64_t og, int64_t cg,
                             float *u) {
  for (int64_t o = 0; o < og; o++)
    for (int64_t c = 0; c < cg; c++) {
      const float *k = w + (o * cg + c) * 9;
      float t[4][3]; /* G g */
      for (int j = 0; j < 3; j++) {
        t[0][j] = k[j];
        t[1][j] = 0.5f * (k[j] + k[3 + j] + k[6 + j]);
        t[2][j] = 0.5f * (k[j] - k[3 + j] + k[6 + j]);
        t[3][j] = k[6 + j];
      }
      for (int i = 0; i < 4; i++) { /* (G g) G^T, row i */
        float r[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]),
                      0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
        for (int j = 0; j < 4; j++) u[((i * 4 + j) * og + o) * cg + c] = r[j];
      }
    }
}

/* Rows of tiles per block: whole rows, at most `most` tiles (one row when
 * a row is longer), the count with the least padding in the gemm's last
 * panel (ties: the larger). */
static int64_t rows_per_block(int64_t tw, int64_t most) {
  int64_t best = 1;
  double best_waste = 2.0;
  for (int64_t r = 1; r == 1 || r * tw <= most; r++) {
    int64_t n = r * tw, padded = (n + PANEL - 1) / PANEL * PANEL;
    double waste = (double)(padded - n) / (double)padded;
    if (waste <= best_waste) best = r, best_waste = waste;
  }
  return best;
}

typedef struct wino_job {
  const conv_geom *g;
  const float *image, *bias, *u; /* u: groups x 16 x og x cg */
  float *response;
  int64_t th, tw, rows, n_rows, n_blocks, n_pieces;
  int64_t og, cg;
  float *slots;
  size_t slot_floats;
  lg_ctx *ctx; /* read only for its interrupt flag */
  atomic_bool stopped;
  atomic_flag busy[MAX_SLOTS];
} wino_job;

/* lanes 0..15 of the even (odd) elements of the 32 in lo:hi */
#define EVENS _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define ODDS _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)

/* The 16 lanes of image row `row` (w floats) from column x0 on, with
 * columns outside [0, w) read as zero (masked: nothing outside is
 * touched). */
AVX512 static inline __m512 row_lanes(const float *row, int64_t w, int64_t x0) {
  int64_t lo = x0 < 0 ? -x0 : 0, hi = w - x0 < 16 ? w - x0 : 16;
  if (lo >= hi) return _mm512_setzero_ps();
  __mmask16 m = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
  return _mm512_maskz_loadu_ps(m, row + x0);
}

/* V[xi][c][n] for the block's rows of tiles (tile n = row in block * tw +
 * tx) of one group's channel c, straight from the image. */
AVX512 static void transform_input(const wino_job *j, const float *plane_of_c0,
                                   int64_t c, int64_t row0, int64_t rows,
                                   float *v, int64_t n_cols) {
  const conv_geom *g = j->g;
  const __m512i evens = EVENS, odds = ODDS;
  for (int64_t tx0 = 0; tx0 < j->tw; tx0 += 16) {
    int64_t lanes = j->tw - tx0 < 16 ? j->tw - tx0 : 16;
    int64_t x0 = 2 * tx0 - g->pw; /* the first tile's first column */
    __m512 d[4][4]; /* [patch row][patch column], 16 tiles */
    for (int64_t rr = 0; rr < rows; rr++) {
      int64_t gr = row0 + rr, img = gr / j->th, ty = gr % j->th;
      const float *plane = plane_of_c0 + (img * g->c + c) * g->h * g->w;
      int r = 0;
      if (rr > 0 && ty > 0) { /* the tile row below in the same image: its
                               * patch rows 0, 1 are the last one's 2, 3 */
        for (int k = 0; k < 4; k++) d[0][k] = d[2][k], d[1][k] = d[3][k];
        r = 2;
      }
      for (; r < 4; r++) {
        int64_t iy = 2 * ty - g->ph + r;
        if (iy < 0 || iy >= g->h) {
          d[r][0] = d[r][1] = d[r][2] = d[r][3] = _mm512_setzero_ps();
          continue;
        }
        const float *p = plane + iy * g->w;
        __m512 lo = row_lanes(p, g->w, x0), hi = row_lanes(p, g->w, x0 + 16);
        __m512 lo2 = row_lanes(p, g->w, x0 + 2), hi2 = row_lanes(p, g->w, x0 + 18);
        d[r][0] = _mm512_permutex2var_ps(lo, evens, hi);
        d[r][1] = _mm512_permutex2var_ps(lo, odds, hi);
        d[r][2] = _mm512_permutex2var_ps(lo2, evens, hi2);
        d[r][3] = _mm512_permutex2var_ps(lo2, odds, hi2);
      }
      __m512 t[4][4]; /* B^T d */
      for (int k = 0; k < 4; k++) {
        t[0][k] = _mm512_sub_ps(d[0][k], d[2][k]);
        t[1][k] = _mm512_add_ps(d[1][k], d[2][k]);
        t[2][k] = _mm512_sub_ps(d[2][k], d[1][k]);
        t[3][k] = _mm512_sub_ps(d[1][k], d[3][k]);
      }
      __mmask16 mask = (__mmask16)((1u << lanes) - 1);
      float *out = v + c * n_cols + rr * j->tw + tx0;
      int64_t step = j->cg * n_cols; /* from one xi to the next */
      for (int i = 0; i < 4; i++) { /* (B^T d) B, row i */
        __m512 s[4] = {_mm512_sub_ps(t[i][0], t[i][2]), _mm512_add_ps(t[i][1], t[i][2]),
                       _mm512_sub_ps(t[i][2], t[i][1]), _mm512_sub_ps(t[i][1], t[i][3])};
        for (int k = 0; k < 4; k++)
          _mm512_mask_storeu_ps(out + (i * 4 + k) * step, mask, s[k]);
      }
    }
  }
}

/* The block's outputs of one group's channel o from M[xi][o][n], plus the
 * bias when there is one. */
AVX512 static void transform_output(const wino_job *j, float *response_o0,
                                    int64_t o, int64_t row0, int64_t rows,
                                    const float *m, int64_t n_cols, float bias) {
  const conv_geom *g = j->g;
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20,
                                           5, 21, 6, 22, 7, 23);
  const __m512i hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12,
                                           28, 13, 29, 14, 30, 15, 31);
  const __m512 vb = _mm512_set1_ps(bias);
  int64_t step = j->og * n_cols;
  for (int64_t rr = 0; rr < rows; rr++) {
    int64_t gr = row0 + rr, img = gr / j->th, ty = gr % j->th;
    float *plane = response_o0 + (img * g->o + o) * g->oh * g->ow;
    for (int64_t tx0 = 0; tx0 < j->tw; tx0 += 16) {
      int64_t lanes = j->tw - tx0 < 16 ? j->tw - tx0 : 16;
      __mmask16 mask = (__mmask16)((1u << lanes) - 1);
      const float *in = m + o * n_cols + rr * j->tw + tx0;
      __m512 s[2][4]; /* A^T M */
      for (int k = 0; k < 4; k++) {
        __m512 m0 = _mm512_maskz_loadu_ps(mask, in + (0 * 4 + k) * step);
        __m512 m1 = _mm512_maskz_loadu_ps(mask, in + (1 * 4 + k) * step);
        __m512 m2 = _mm512_maskz_loadu_ps(mask, in + (2 * 4 + k) * step);
        __m512 m3 = _mm512_maskz_loadu_ps(mask, in + (3 * 4 + k) * step);
        s[0][k] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        s[1][k] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
      }
      int64_t x0 = 2 * tx0, count = g->ow - x0 < 2 * lanes ? g->ow - x0 : 2 * lanes;
      __mmask16 lo_mask = count >= 16 ? 0xffff : (__mmask16)((1u << count) - 1);
      __mmask16 hi_mask = count >= 32 ? 0xffff : count > 16 ? (__mmask16)((1u << (count - 16)) - 1) : 0;
      for (int i = 0; i < 2; i++) { /* (A^T M) A, output row 2 ty + i */
        int64_t y = 2 * ty + i;
        if (y >= g->oh) break;
        __m512 y0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s[i][0], s[i][1]), s[i][2]), vb);
        __m512 y1 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]), vb);
        float *row = plane + y * g->ow + x0;
        _mm512_mask_storeu_ps(row, lo_mask, _mm512_permutex2var_ps(y0, lo_idx, y1));
        _mm512_mask_storeu_ps(row + 16, hi_mask, _mm512_permutex2var_ps(y0, hi_idx, y1));
      }
    }
  }
}

/* One block of rows of tiles, every group: the input transform, 16 gemms,
 * the output transform. */
static void run_block(const wino_job *j, int64_t block, float *scratch) {
  const conv_geom *g = j->g;
  int64_t row0 = block * j->rows;
  int64_t rows = j->n_rows - row0 < j->rows ? j->n_rows - row0 : j->rows;
  int64_t n_cols = rows * j->tw, og = j->og, cg = j->cg;
  float *v = scratch, *m = v + 16 * cg * rows * j->tw;
  for (int64_t grp = 0; grp < g->groups; grp++) {
    for (int64_t c = 0; c < cg; c++)
      transform_input(j, j->image + grp * cg * g->h * g->w, c, row0, rows, v,
                      n_cols);
    const float *u = j->u + grp * 16 * og * cg;
    for (int xi = 0; xi < 16; xi++)
      lg_gemm_call(LG_FLOAT32, false, false, og, n_cols, cg, u + xi * og * cg,
                   cg, v + xi * cg * n_cols, n_cols, 0.0, m + xi * og * n_cols,
                   n_cols);
    float *rsp = j->response + grp * og * g->oh * g->ow;
    for (int64_t o = 0; o < og; o++)
      transform_output(j, rsp, o, row0, rows, m, n_cols,
                       j->bias ? j->bias[grp * og + o] : 0.0f);
  }
}

static void run_pieces(void *arg, int64_t begin, int64_t end) {
  wino_job *j = arg;
  int slot = 0; /* a free scratch slot */
  while (atomic_flag_test_and_set(&j->busy[slot])) slot = (slot + 1) % MAX_SLOTS;
  float *scratch = j->slots + (size_t)slot * j->slot_floats;
  for (int64_t p = begin; p < end; p++) {
    int64_t b0 = p * j->n_blocks / j->n_pieces, b1 = (p + 1) * j->n_blocks / j->n_pieces;
    for (int64_t b = b0; b < b1; b++) {
      if (lg_interrupt_pending(j->ctx)) {
        atomic_store(&j->stopped, true);
        break;
      }
      run_block(j, b, scratch);
    }
  }
  atomic_flag_clear(&j->busy[slot]);
}

/* out = the correlation of in with weight (+ bias): the response side. */
static lg_status winograd_forward(lg_ctx *ctx, const conv_geom *g,
                                  const float *image, const float *weight,
                                  const float *bias, float *response) {
  wino_job *j = lg_cache_alloc(ctx, sizeof *j);
  if (!j) return lg_fail(ctx, LG_ERR_MEMORY, "conv2d: out of memory");
  memset(j, 0, sizeof *j);
  for (int k = 0; k < MAX_SLOTS; k++) atomic_flag_clear(&j->busy[k]);
  atomic_store(&j->stopped, false);
  j->g = g, j->ctx = ctx, j->image = image, j->bias = bias, j->response = response;
  j->og = g->o / g->groups, j->cg = g->c / g->groups;
  j->th = (g->oh + 1) / 2, j->tw = (g->ow + 1) / 2;
  int64_t most = SLOT_BYTES / (16 * (j->cg + j->og) * (int64_t)sizeof(float));
  j->rows = rows_per_block(j->tw, most < BLOCK_TILES ? most : BLOCK_TILES);
  j->n_rows = g->n * j->th;
  j->n_blocks = (j->n_rows + j->rows - 1) / j->rows;
  j->n_pieces = j->n_blocks < PIECES ? j->n_blocks : PIECES;
  int64_t threads = lg_ctx_num_threads(ctx);
  int64_t slots = threads < j->n_pieces ? threads : j->n_pieces;
  if (slots > MAX_SLOTS) slots = MAX_SLOTS;
  int64_t n_cols = j->rows * j->tw;
  j->slot_floats = (size_t)(16 * (j->cg + j->og) * n_cols + 16);
  size_t u_floats = (size_t)(g->groups * 16 * j->og * j->cg);
  size_t bytes = (u_floats + (size_t)slots * j->slot_floats) * sizeof(float);
  float *scratch = lg_cache_alloc(ctx, bytes);
  if (!scratch) {
    lg_cache_free(ctx, j, sizeof *j);
    return lg_fail(ctx, LG_ERR_MEMORY, "conv2d: out of memory for %zu bytes "
                   "of Winograd transforms", bytes);
  }
  float *u = scratch;
  for (int64_t grp = 0; grp < g->groups; grp++)
    transform_weight(weight + grp * j->og * j->cg * 9, j->og, j->cg,
                     u + grp * 16 * j->og * j->cg);
  j->u = u;
  j->slots = scratch + u_floats;
  lg_blas_enter_count(1); /* each block's gemms on its own thread */
  lg_status st = lg_parallel_for(ctx, j->n_pieces, 1, run_pieces, j);
  lg_blas_leave();
  if (!st && atomic_load(&j->stopped)) { /* even if withdrawn meanwhile */
    st = lg_check_interrupt(ctx);
    if (!st) st = lg_fail(ctx, LG_ERR_INTERRUPTED, "interrupted");
  }
  lg_cache_free(ctx, scratch, bytes);
  lg_cache_free(ctx, j, sizeof *j);
  return st;
}

/* The image side (conv_transpose2d, and conv2d's input gradient) at
 * stride 1 is itself a correlation: of the response, padded by 2 - p, with
 * the kernel turned 180 degrees and its two channel dims swapped. */
static lg_status winograd_image(lg_ctx *ctx, const conv_geom *g,
                                float *image, const float *weight,
                                const float *bias, const float *response) {
  int64_t cg = g->c / g->groups, og = g->o / g->groups;
  conv_geom t = *g;
  t.side = SOLVE_RESPONSE;
  t.c = g->o, t.h = g->oh, t.w = g->ow;
  t.o = g->c, t.oh = g->h, t.ow = g->w;
  t.ph = 2 - g->ph, t.pw = 2 - g->pw;
  size_t bytes = (size_t)(g->o * cg * 9) * sizeof(float);
  float *turned = lg_cache_alloc(ctx, bytes); /* (C, O/g, 3, 3) */
  if (!turned) return lg_fail(ctx, LG_ERR_MEMORY, "conv_transpose2d: out of memory");
  for (int64_t grp = 0; grp < g->groups; grp++)
    for (int64_t ci = 0; ci < cg; ci++)
      for (int64_t oi = 0; oi < og; oi++) {
        const float *k = weight + ((grp * og + oi) * cg + ci) * 9;
        float *d = turned + ((grp * cg + ci) * og + oi) * 9;
        for (int e = 0; e < 9; e++) d[e] = k[8 - e];
      }
  lg_status st = winograd_forward(ctx, &t, response, turned, bias, image);
  lg_cache_free(ctx, turned, bytes);
  return st;
}

lg_status lg_conv_winograd(lg_ctx *ctx, const conv_geom *g, float *image,
                           const float *weight, const float *bias,
                           float *response) {
  if (g->side == SOLVE_IMAGE)
    return winograd_image(ctx, g, image, weight, bias, response);
  return winograd_forward(ctx, g, image, weight, bias, response);
}

#else

bool lg_conv_winograd_fits(const conv_geom *g) {
  (void)g;
  return false;
}

lg_status lg_conv_winograd(lg_ctx *ctx, const conv_geom *g, float *image,
                           const float *weight, const float *bias,
                           float *response) {
  (void)g, (void)image, (void)weight, (void)bias, (void)response;
  return lg_fail(ctx, LG_ERR_RUNTIME, "conv2d: no Winograd kernel in this build");
}

#endif
