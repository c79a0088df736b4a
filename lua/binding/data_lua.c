/* data_lua.c: _epoch_order, the sample order of one DataLoader epoch as an
 * int64 tensor, which lg.data's loader gathers its batches from.
 *
 * The numbers are data.permutation's exactly (data.lua: splitmix64 driving
 * an unbiased Fisher-Yates shuffle, a function of the seed and the epoch
 * alone) and the shard is shard_of's (PyTorch's DistributedSampler), but
 * made here: in Lua the shuffle of 60 000 samples and the table-to-tensor
 * copy took 12.7 ms an epoch (27 us per batch of 128), and every rank of a
 * distributed run pays it whole, so it did not shrink with more ranks.
 * data_spec checks the two against each other.
 */
#include "lgl.h"

#define TWO_POW_53 ((uint64_t)1 << 53)

/* One step of splitmix64 (Lua's wrapping integers are these uint64s):
 * advances *state and returns the next number. */
static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

/* order[0..n) = a permutation of 1..n: data.permutation(n, seed, epoch). */
static void permutation(int64_t *order, int64_t n, int64_t seed,
                        int64_t epoch) {
  uint64_t state = (uint64_t)seed;
  state = splitmix64(&state) ^ (uint64_t)epoch;
  for (int64_t i = 0; i < n; i++) order[i] = i + 1;
  for (int64_t i = n; i >= 2; i--) {
    uint64_t limit = TWO_POW_53 - TWO_POW_53 % (uint64_t)i, z;
    do z = splitmix64(&state) >> 11; while (z >= limit);
    int64_t j = (int64_t)(z % (uint64_t)i); /* 0-based */
    int64_t t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
}

/* _epoch_order(n, shuffle, seed, epoch, rank, replicas, drop_uneven):
 * the 1-based sample order of an epoch of n samples (shuffled or 1..n),
 * then rank's shard of it out of replicas (1 and 1: all of it): padded
 * from its start to a multiple of replicas, or cut to one with
 * drop_uneven, every replicas-th sample from rank on. Internal (lg.data
 * checks the arguments). */
static int l_epoch_order(lua_State *L) {
  const char *fname = "data._epoch_order";
  int64_t n = lgl_check_integer(L, 1, fname, "n");
  bool shuffle = lua_toboolean(L, 2);
  int64_t seed = lgl_check_integer(L, 3, fname, "seed");
  int64_t epoch = lgl_check_integer(L, 4, fname, "epoch");
  int64_t rank = lgl_check_integer(L, 5, fname, "rank");
  int64_t replicas = lgl_check_integer(L, 6, fname, "replicas");
  bool drop_uneven = lua_toboolean(L, 7);
  luaL_argcheck(L, n >= 0, 1, "data._epoch_order: n must be >= 0");
  luaL_argcheck(L, replicas >= 1 && rank >= 1 && rank <= replicas, 5,
                "data._epoch_order: rank must be in 1..replicas");
  int64_t per_rank = drop_uneven ? n / replicas : (n + replicas - 1) / replicas;
  lg_ctx *ctx = lgl_ctx(L);
  lgl_box *box = lgl_new_box(L);
  lg_tensor *order = NULL, *out = NULL;
  if (lg_empty(ctx, LG_INT64, 1, &n, &order) != LG_OK) return lgl_error(L);
  lgl_box_set(box, order); /* owned by the box until replaced */
  int64_t *all = lg_tensor_data(order);
  if (shuffle) permutation(all, n, seed, epoch);
  else
    for (int64_t i = 0; i < n; i++) all[i] = i + 1;
  if (replicas == 1 && per_rank == n) return 1;
  lgl_box *shard_box = lgl_new_box(L);
  if (lg_empty(ctx, LG_INT64, 1, &per_rank, &out) != LG_OK) return lgl_error(L);
  lgl_box_set(shard_box, out);
  int64_t *mine = lg_tensor_data(out);
  for (int64_t k = 0; k < per_rank; k++)
    mine[k] = all[(k * replicas + rank - 1) % n];
  return 1;
}

static const luaL_Reg data_functions[] = {{"_epoch_order", l_epoch_order},
                                          {NULL, NULL}};

/* Registers _epoch_order on the module table. */
void lgl_open_data(lua_State *L, const lgl_tables *T) {
  lgl_register_family(L, T, data_functions, NULL);
}
