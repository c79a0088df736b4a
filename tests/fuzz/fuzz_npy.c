/* fuzz_npy.c: libFuzzer harness for lg_npy_load: a load fails with a
 * message or gives a tensor whose every element can be read; no leak. */
#include "fuzz.h"
#include "serialize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_one_tensor_reader(data, size, lg_npy_load);
}
