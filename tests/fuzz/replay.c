/* A main() for a fuzz target without libFuzzer: runs LLVMFuzzerTestOneInput
 * once on each file named, or on each file in each directory named. For
 * replaying corpora and findings with any compiler (scripts/coverage.sh
 * builds the targets with gcc --coverage this way). Exit status 0 unless a
 * file cannot be read; a failed check in the target aborts. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 1;
  }
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  size_t n;
  while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      uint8_t *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  fclose(f);
  if (!buf) return 1;
  /* an exact-size copy, so reading past the input is caught by sanitizers */
  uint8_t *exact = malloc(len ? len : 1);
  if (!exact) return free(buf), 1;
  memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

int main(int argc, char **argv) {
  int bad = 0, runs = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      bad = 1;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      bad |= run_file(argv[i]);
      runs++;
      continue;
    }
    DIR *d = opendir(argv[i]);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      size_t n = strlen(argv[i]) + strlen(e->d_name) + 2;
      char *p = malloc(n);
      if (!p) return 1;
      snprintf(p, n, "%s/%s", argv[i], e->d_name);
      if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) bad |= run_file(p), runs++;
      free(p);
    }
    if (d) closedir(d);
  }
  fprintf(stderr, "replay: %d inputs\n", runs);
  return bad;
}
