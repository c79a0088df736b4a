/* fuzz_npy.c: libFuzzer harness for lg_npy_load: a load fails with a
 * message or gives a tensor whose every element can be read; no leak. */
#include "fuzz.h"
#include "serialize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_alloc f = {0, 0, FUZZ_ALLOC_CAP};
  lg_ctx *ctx = lg_ctx_new(fuzz_alloc_fn, &f);
  FUZZ_ASSERT(ctx != NULL, "a context");
  lg_tensor *t = NULL;
  lg_status st = lg_npy_load(ctx, fuzz_input_path(data, size), &t);
  FUZZ_CHECK_FAILURE(ctx, st);
  FUZZ_ASSERT((st == LG_OK) == (t != NULL), "a tensor exactly on success");
  if (t) (void)fuzz_touch(t);
  lg_tensor_release(t);
  fuzz_finish(ctx, &f);
  return 0;
}
