/* pool_jvp.c: the jvp rule of max_pool2d (see jvp.h for the layout): the
 * tangent at each window's maximum, gathered with the indices the forward
 * returned (1-based flat positions in each H x W plane). avg_pool2d and
 * adaptive_avg_pool2d are linear (lg_jvp_linear). */
#include "jvp.h"

lg_status lg_jvp_max_pool(lg_ctx *ctx, lg_op op, int n_in,
                          lg_tensor *const *primal, lg_tensor *const *tangent,
                          const lg_params *p, lg_tensor *const *outs,
                          lg_tensor **out_tangent) {
  (void)op, (void)n_in, (void)p;
  lg_scope scope, *s = &scope;
  lg_scope_begin(s, ctx);
  const lg_tensor *x = primal[0];
  lg_tensor *idx = outs[1];
  int nd = x->ndim;
  int64_t planes[LG_MAX_DIMS], flat_out[LG_MAX_DIMS];
  for (int d = 0; d < nd - 2; d++) planes[d] = flat_out[d] = x->sizes[d];
  planes[nd - 2] = x->sizes[nd - 2] * x->sizes[nd - 1];
  flat_out[nd - 2] = idx->sizes[nd - 2] * idx->sizes[nd - 1];
  lg_tensor *in[2] = {lg_s_reshape(s, tangent[0], nd - 1, planes),
                      lg_s_reshape(s, idx, nd - 1, flat_out)};
  lg_params g = {0};
  g.dim = nd - 2;
  lg_tensor *picked = in[0] && in[1] ? lg_s_op(s, LG_OP_GATHER, 2, in, &g) : NULL;
  out_tangent[0] = lg_keep(s, lg_s_reshape(s, picked, nd, outs[0]->sizes));
  return lg_scope_end(s);
}
