/* replay.c: runs a fuzz harness without libFuzzer on the files given on
 * the command line (directories are walked one level), so the committed
 * corpus and every crash input of tests/fuzz/regressions/ stay tests in
 * the release and the sanitizer builds. */
#include "fuzz.h" /* first: it asks for memfd_create */

#include <dirent.h>
#include <sys/stat.h>

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: can't open %s\n", path);
    return 1;
  }
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 4096;
      uint8_t *grown = realloc(buf, cap);
      if (!grown) {
        free(buf);
        fclose(f);
        return 1;
      }
      buf = grown;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    if (got == 0) break;
    n += got;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, n); /* a finding aborts */
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  int failures = 0, files = 0;
  for (int i = 1; i < argc; i++) {
    struct stat sb;
    if (stat(argv[i], &sb) != 0) {
      fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      failures++;
      continue;
    }
    if (!S_ISDIR(sb.st_mode)) {
      failures += replay_file(argv[i]);
      files++;
      continue;
    }
    DIR *d = opendir(argv[i]);
    if (!d) {
      failures++;
      continue;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue; /* ., .., .gitkeep */
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
      if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
      failures += replay_file(path);
      files++;
    }
    closedir(d);
  }
  printf("replay: %d input(s), %d unreadable\n", files, failures);
  return failures ? 1 : 0;
}
