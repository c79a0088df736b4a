/* lapack.h: the few LAPACK routines luagrad calls, declared by hand.
 * OpenBLAS ships LAPACK (its libopenblas exports the Fortran symbols), so
 * the runtime needs no LAPACKE and no extra library. Fortran conventions:
 * every argument by pointer, column-major matrices, and one hidden length
 * argument per character argument at the end (gfortran's ABI; passing it
 * is what LAPACKE does too). Everything runs in double precision. */
#ifndef LG_LAPACK_H
#define LG_LAPACK_H

#include <stddef.h>

typedef int lapack_int; /* LP64 OpenBLAS: 32-bit integers */

void dgesv_(const lapack_int *n, const lapack_int *nrhs, double *a,
            const lapack_int *lda, lapack_int *ipiv, double *b,
            const lapack_int *ldb, lapack_int *info);
void dgetrf_(const lapack_int *m, const lapack_int *n, double *a,
             const lapack_int *lda, lapack_int *ipiv, lapack_int *info);
void dpotrf_(const char *uplo, const lapack_int *n, double *a,
             const lapack_int *lda, lapack_int *info, size_t uplo_len);
void dsyevd_(const char *jobz, const char *uplo, const lapack_int *n,
             double *a, const lapack_int *lda, double *w, double *work,
             const lapack_int *lwork, lapack_int *iwork,
             const lapack_int *liwork, lapack_int *info, size_t jobz_len,
             size_t uplo_len);
void dgesdd_(const char *jobz, const lapack_int *m, const lapack_int *n,
             double *a, const lapack_int *lda, double *s, double *u,
             const lapack_int *ldu, double *vt, const lapack_int *ldvt,
             double *work, const lapack_int *lwork, lapack_int *iwork,
             lapack_int *info, size_t jobz_len);
void dgeqrf_(const lapack_int *m, const lapack_int *n, double *a,
             const lapack_int *lda, double *tau, double *work,
             const lapack_int *lwork, lapack_int *info);
void dorgqr_(const lapack_int *m, const lapack_int *n, const lapack_int *k,
             double *a, const lapack_int *lda, const double *tau,
             double *work, const lapack_int *lwork, lapack_int *info);


#endif
