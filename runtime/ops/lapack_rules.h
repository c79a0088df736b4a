/* lapack_rules.h: the matrix shorthands the LAPACK rows' backward and jvp
 * rules are written with (lapack_backward.c defines them). Each runs
 * differentiable ops in the rule's scope, so rules compose under
 * create_graph and nested forward levels; NULL in, NULL out. */
#ifndef LG_LAPACK_RULES_H
#define LG_LAPACK_RULES_H

#include "formula.h"

/* Constant (n, n) matrices of a dtype, broadcast against batches. */
typedef enum lr_const {
  LR_EYE,        /* the identity                                    */
  LR_OFFDIAG,    /* ones off the diagonal                           */
  LR_TRIL,       /* ones on and below the diagonal                  */
  LR_STRICT_TRIL,/* ones below the diagonal                         */
  LR_PHI         /* below the diagonal ones, 1/2 on it (Cholesky's) */
} lr_const;
lg_tensor *lr_const_matrix(lg_scope *s, int64_t n, lg_dtype dtype, lr_const kind);

/* a @ b; t^T (last two dims); t with a size-1 dim inserted at dim. */
lg_tensor *lr_mm(lg_scope *s, lg_tensor *a, lg_tensor *b);
lg_tensor *lr_mt(lg_scope *s, lg_tensor *t);
lg_tensor *lr_unsq(lg_scope *s, lg_tensor *t, int64_t dim);
/* (.., n, n) -> its diagonal (.., n); (.., n) -> the diagonal matrix. */
lg_tensor *lr_diag(lg_scope *s, lg_tensor *x);
lg_tensor *lr_diag_embed(lg_scope *s, lg_tensor *v);
/* x * mask for the constant matrix kind (x square). */
lg_tensor *lr_masked(lg_scope *s, lg_tensor *x, lr_const kind);
/* v_j - v_i at (i, j), with ones on the diagonal (v (.., n)): the
 * denominators of the eigen- and singular-vector rules. */
lg_tensor *lr_gaps(lg_scope *s, lg_tensor *v);
/* Columns [start, start + len) (dim -1) or rows (dim -2). */
lg_tensor *lr_narrow(lg_scope *s, lg_tensor *t, int64_t dim, int64_t start,
                     int64_t len);
/* op on one input with params p: every output into outs (temporaries). */
lg_status lr_run(lg_scope *s, lg_op op, lg_tensor *a, const lg_params *p,
                 lg_tensor **outs);
/* The upper-right (n, n) block of matrix_exp([[a, b], [0, a]]): the
 * Frechet derivative of exp at a in direction b. */
lg_tensor *lr_exp_frechet(lg_scope *s, lg_tensor *a, lg_tensor *b);

#endif
