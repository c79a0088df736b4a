/* vmath.h: float32 exp, tanh, sigmoid and log written so that a loop
 * calling them auto-vectorises (no branch, no table, and no libm call but
 * the baseline clone's fmaf), and
 * the attribute that compiles a hot loop for AVX2 and AVX-512 as well as
 * the baseline ISA, picked at load time.
 *
 * Each function is a Cephes-style range reduction plus polynomial with
 * every special case (overflow, underflow to subnormals and zero, NaN,
 * infinities, -0) folded into clamps and selects. Measured against
 * double-precision libm over sweeps of every binade (tests/c/test_vmath.c,
 * which asserts bounds of 1, 3, 2.5 and 1 ulp), the worst errors are:
 * lg_vexpf 0.95 ulp, lg_vtanhf 2.57 ulp (every float checked; mean 0.05),
 * lg_vsigmoidf 2.2 ulp, lg_vlogf 0.74 ulp (glibc's expf/tanhf/logf are
 * within 1-2 ulp). The build compiles
 * ISO C, where GCC does not contract a*b+c into FMA, and exp and tanh
 * call fmaf where they want one rounding (an instruction in the AVX2 and
 * AVX-512 clones, libm's correctly rounded fmaf in the baseline one), so
 * every clone computes bit-identical results on every machine.
 */
#ifndef LG_VMATH_H
#define LG_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Clones of a hot loop for AVX-512 and AVX2 (the x86-64-v4 and -v3
 * levels, so with FMA: lg_vtanhf's explicit fmaf calls are one instruction
 * per lane there, and a correctly rounded libm call in the baseline clone,
 * the same bits either way), chosen once at load time through an ifunc;
 * other compilers and targets get the plain function. ISO C mode keeps
 * GCC from contracting any other a * b + c. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&       \
    defined(__linux__) && !defined(LG_NO_TARGET_CLONES)
#define LG_VECTOR_CLONES                                                     \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3",          \
                               "default")))
#else
#define LG_VECTOR_CLONES
#endif

static inline uint32_t lg_vm_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
static inline float lg_vm_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
/* cond ? a : b by bit masks. A plain ?: lets GCC sink the arithmetic
 * feeding one arm into a branch, which it then won't if-convert (the
 * arithmetic might trap), and the loop stays scalar. */
static inline float lg_vm_select(int cond, float a, float b) {
  uint32_t m = 0u - (uint32_t)cond;
  return lg_vm_float((lg_vm_bits(a) & m) | (lg_vm_bits(b) & ~m));
}
/* The same for doubles. */
static inline double lg_vm_select_d(int cond, double a, double b) {
  uint64_t m = 0u - (uint64_t)cond, ua, ub;
  memcpy(&ua, &a, sizeof ua);
  memcpy(&ub, &b, sizeof ub);
  ua = (ua & m) | (ub & ~m);
  memcpy(&a, &ua, sizeof a);
  return a;
}

/* e^x. x is clamped to [-110, 88.8] (beyond: 0 and inf arise from the
 * scaling itself); n = round(x / ln 2) via the 1.5 * 2^23 trick (no
 * float-to-int conversion, so NaN is no undefined behaviour: it flows
 * through the polynomial); 2^n is applied as two factors so that
 * subnormal results are rounded once, correctly. The reduction and the
 * polynomial use fmaf (as lg_vtanhf does): 1M floats 362 -> 261 us, worst
 * error over every float 0.990 -> 0.977 ulp; the last p z + r + 1 stays
 * two roundings (as one fmaf it reached 1.01 ulp). */
static inline float lg_vexpf(float x) {
  const float shifter = 12582912.0f; /* 1.5 * 2^23 */
  float xc = lg_vm_select(x > 88.8f, 88.8f, x);
  xc = lg_vm_select(xc < -110.0f, -110.0f, xc);
  float t = fmaf(xc, 1.44269504088896341f, shifter);
  float nf = t - shifter;
  int32_t n = (int32_t)(lg_vm_bits(t) - lg_vm_bits(shifter)); /* |n| <= 160 */
  /* r = x - n ln2 in two steps (0.693359375 has 9 bits: n * it is exact) */
  float r = fmaf(nf, -0.693359375f, xc);
  r = fmaf(nf, 2.12194440e-4f, r);
  float z = r * r;
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  float y = p * z + r + 1.0f;
  int32_t n1 = n >> 1, n2 = n - n1; /* GCC shifts signed ints arithmetically */
  float s1 = lg_vm_float((uint32_t)(n1 + 127) << 23);
  float s2 = lg_vm_float((uint32_t)(n2 + 127) << 23);
  return y * s1 * s2;
}

/* tanh(x) = E / (E + 2) with E = e^{2a} - 1 (a = |x|, the sign put back
 * by bits, so tanh(-0) is -0), one expm1 and one division: about half the
 * work of a polynomial below 0.625 and 1 - 2 / (e^{2a} + 1) above both
 * computed and one picked, which this replaced (1.3 ulp, now 2.57: the
 * fused chain of issue 16 spent 60% of its time here). The multiply-adds
 * are fmaf (one rounding each): with FMA lanes a loop of it ran 1.5x
 * faster (AVX-512 on a Zen 5: 275 -> 180 us per 1M floats); loops calling
 * it must be LG_VECTOR_CLONES, or each fmaf is a libm call.
 * a is clamped to 9.1, where tanh is 1 in float (NaN passes the clamp);
 * 2a = n ln2 + u with |u| <= ln2 / 2 (n <= 26: one step of reduction
 * with ln2 as a float is enough, its error is scaled by 2 / (E + 2));
 * expm1(u) = u + u^2 p(u), p fitted for relative error 1.7e-8 (so E is
 * accurate relative to itself for small a too; below 2^-25, E = 2a and the
 * quotient is a exactly); E = (2^n - 1) + 2^n expm1(u), both terms exact
 * but for the last addition. */
static inline float lg_vtanhf(float x) {
  const float shifter = 12582912.0f; /* 1.5 * 2^23 */
  uint32_t sign = lg_vm_bits(x) & 0x80000000u;
  float a = lg_vm_float(lg_vm_bits(x) & 0x7fffffffu);
  a = lg_vm_select(a > 9.1f, 9.1f, a);
  float t = fmaf(a, 2.88539008177792681f, shifter); /* 2a / ln2 + shifter */
  float nf = t - shifter;                            /* n = round(2a / ln2) */
  float u = fmaf(nf, -0.693147182464599609375f, a + a);
  float p = 1.3882509666e-3f;
  p = fmaf(p, u, 8.3665801212e-3f);
  p = fmaf(p, u, 4.1667200625e-2f);
  p = fmaf(p, u, 1.6666543484e-1f);
  p = fmaf(p, u, 4.9999997020e-1f);
  float q = fmaf(p, u * u, u); /* expm1(u) */
  /* 2^n: n + 127 in the exponent field, from t's low bits (t's bits are
   * those of shifter plus n, 0 <= n <= 26) */
  float s = lg_vm_float((lg_vm_bits(t) << 23) +
                        (uint32_t)((127u - 0x4b400000u) << 23));
  float e = fmaf(s, q, s - 1.0f);
  float r = e / (e + 2.0f);
  return lg_vm_float(lg_vm_bits(r) | sign);
}

/* 1 / (1 + e^-x) from e = e^{-|x|} (never overflows): 1 / (1 + e) for
 * x >= 0, e / (1 + e) below, one division either way. */
static inline float lg_vsigmoidf(float x) {
  float a = lg_vm_float(lg_vm_bits(x) & 0x7fffffffu);
  float e = lg_vexpf(-a);
  return lg_vm_select(x >= 0, 1.0f, e) / (1.0f + e);
}

/* log(x): x = m 2^k with m in [sqrt(1/2), sqrt(2)), log(m) by Cephes'
 * polynomial in m - 1; subnormals are scaled by 2^23 first. Negative
 * gives NaN, 0 gives -inf, inf and NaN pass through. */
static inline float lg_vlogf(float x) {
  int subnormal = x < 1.17549435e-38f;
  float xs = lg_vm_select(subnormal, x * 8388608.0f, x);
  /* musl's trick: offset the bits so that the exponent field rolls over
   * at sqrt(1/2), then rebuild the mantissa around sqrt(1/2) */
  uint32_t u = lg_vm_bits(xs) + (0x3f800000u - 0x3f3504f3u);
  int32_t k = (int32_t)(u >> 23) - 127 - (subnormal ? 23 : 0);
  float m = lg_vm_float((u & 0x007fffffu) + 0x3f3504f3u);
  float f = m - 1.0f;
  float z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  float kf = (float)k;
  float y = p * f * z;
  y = y + kf * -2.12194440e-4f;
  y = y - 0.5f * z;
  float r = f + y + kf * 0.693359375f;
  r = lg_vm_select(x == 0, -INFINITY, r);
  r = lg_vm_select(x == INFINITY, x, r);
  r = lg_vm_select(x < 0, NAN, r);
  return lg_vm_select(x != x, x, r);
}

#endif
