/* fuzz_safetensors.c: libFuzzer harness for lg_safetensors_load. Any byte
 * string is a file to load: a load either fails with a message or gives
 * tensors whose every element can be read; nothing leaks either way. */
#include "fuzz.h"
#include "serialize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_alloc f = {0, 0, FUZZ_ALLOC_CAP};
  lg_ctx *ctx = lg_ctx_new(fuzz_alloc_fn, &f);
  FUZZ_ASSERT(ctx != NULL, "a context");
  const char *path = fuzz_input_path(data, size);
  lg_safetensors *file = NULL;
  lg_status st = lg_safetensors_load(ctx, path, &file);
  FUZZ_CHECK_FAILURE(ctx, st);
  if (st == LG_OK) {
    FUZZ_ASSERT(file != NULL, "a loaded file");
    FUZZ_ASSERT(file->n_tensors >= 0 && file->n_metadata >= 0, "counts");
    for (int64_t i = 0; i < file->n_tensors; i++) {
      FUZZ_ASSERT(file->names[i] != NULL && file->tensors[i] != NULL,
                  "a named tensor");
      (void)strlen(file->names[i]);
      (void)fuzz_touch(file->tensors[i]);
    }
    for (int64_t i = 0; i < 2 * file->n_metadata; i++)
      (void)strlen(file->metadata[i]);
  } else {
    FUZZ_ASSERT(file == NULL, "no result on failure");
  }
  lg_safetensors_free(ctx, file);
  fuzz_finish(ctx, &f);
  return 0;
}
