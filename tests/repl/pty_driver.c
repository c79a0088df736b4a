/* pty_driver.c: runs the `luagrad` REPL in a pseudo-terminal and plays a
 * session script against it (the .session files beside it), the way a person at a
 * terminal would: keys in, screen text out. Usage:
 *
 *   pty_driver path/to/luagrad path/to/scenario.session
 *
 * Each scenario gets a fresh temporary HOME (so history is its own) that is
 * removed afterwards. Script lines, one command each ('#' starts a comment):
 *
 *   spawn [args...]      start luagrad (TERM=xterm, 80x24, HOME=the temp dir)
 *   send "text"          once the REPL reads keys (the terminal is out of
 *                        canonical mode), type bytes; escapes \r \n \t \e
 *                        \\ \" \xHH. Put an `expect` of the next prompt
 *                        between two sends, so each goes to a fresh read.
 *   expect "text"        wait for text in the output after the last match
 *                        (terminal escape sequences and \r are ignored)
 *   interrupt [ms]       once a chunk runs (the terminal is back in
 *                        canonical mode, so Ctrl-C is a signal), press Ctrl-C
 *                        (ms milliseconds later: inside a long kernel)
 *   exit N               wait for luagrad to end with exit status N
 *   file "name" "text"   the file HOME/name contains text
 *
 * Every wait gives up after 15 s, printing what the terminal showed, so a
 * broken REPL fails the test instead of hanging it. PTY_DRIVER_DUMP=1 in
 * the environment prints the terminal output of a passing session too. */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 15000
#define MAX_ARGS 16

typedef struct session {
  const char *exe;
  char home[64];
  pid_t pid;          /* 0 when no luagrad is running */
  int master;         /* the pty's master side, -1 when closed */
  char *raw;          /* everything the terminal received */
  size_t raw_length, raw_capacity;
  size_t matched;     /* offset in the cleaned text after the last match */
  const char *script;
  int line_number;
} session;

static session S = {.pid = 0, .master = -1};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* The output as a person would read it: escape sequences, \r, bells and
 * backspaces removed. Stops before an escape sequence not yet complete. */
static char *cleaned(size_t *length) {
  char *out = malloc(S.raw_length + 1);
  size_t n = 0, i = 0;
  if (!out) abort();
  while (i < S.raw_length) {
    unsigned char c = (unsigned char)S.raw[i];
    if (c == 0x1b) {
      if (i + 1 >= S.raw_length) break;
      char next = S.raw[i + 1];
      size_t j = i + 2;
      if (next == '[') {
        while (j < S.raw_length && !(S.raw[j] >= 0x40 && S.raw[j] <= 0x7e)) j++;
        if (j >= S.raw_length) break;
        i = j + 1;
      } else if (next == ']') {
        while (j < S.raw_length && S.raw[j] != '\a' && S.raw[j] != 0x1b) j++;
        if (j >= S.raw_length) break;
        i = j + 1 + (S.raw[j] == 0x1b);
      } else if (next == '(' || next == ')') {
        i += 3;
      } else {
        i += 2;
      }
      continue;
    }
    if (c != '\r' && c != '\a' && c != '\b') out[n++] = (char)c;
    i++;
  }
  out[n] = '\0';
  *length = n;
  return out;
}

static void cleanup(void) {
  if (S.pid > 0) {
    kill(S.pid, SIGKILL);
    waitpid(S.pid, NULL, 0);
    S.pid = 0;
  }
  if (S.master >= 0) close(S.master);
  S.master = -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  (void)st; (void)flag; (void)ftw;
  return remove(path);
}

static void remove_home(void) {
  if (S.home[0]) nftw(S.home, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

__attribute__((format(printf, 1, 2), noreturn))
static void fail(const char *fmt, ...) {
  size_t length;
  char *text = cleaned(&length);
  va_list args;
  va_start(args, fmt);
  fprintf(stderr, "%s:%d: ", S.script, S.line_number);
  vfprintf(stderr, fmt, args);
  va_end(args);
  fprintf(stderr, "\n---- terminal output (after the last match: offset %zu)"
          " ----\n%s\n---- end ----\n", S.matched, text);
  free(text);
  cleanup();
  remove_home();
  exit(EXIT_FAILURE);
}

/* Reads what the terminal has for up to timeout ms; 0 once it is closed. */
static int pump(int timeout) {
  if (S.master < 0) return 0;
  struct pollfd p = {.fd = S.master, .events = POLLIN};
  int ready = poll(&p, 1, timeout);
  if (ready <= 0) return 1;
  if (S.raw_length + 4096 + 1 > S.raw_capacity) {
    S.raw_capacity = (S.raw_length + 4096 + 1) * 2;
    S.raw = realloc(S.raw, S.raw_capacity);
    if (!S.raw) abort();
  }
  ssize_t n = read(S.master, S.raw + S.raw_length, 4096);
  if (n <= 0) { /* EIO: the child closed its side */
    close(S.master);
    S.master = -1;
    return 0;
  }
  S.raw_length += (size_t)n;
  return 1;
}

/* Whether text appears after the last match; moves the match past it. */
static int find(const char *text) {
  size_t length;
  char *out = cleaned(&length);
  char *hit = S.matched <= length ? strstr(out + S.matched, text) : NULL;
  if (hit) S.matched = (size_t)(hit - out) + strlen(text);
  free(out);
  return hit != NULL;
}

static void send_bytes(const char *bytes, size_t length) {
  if (S.master < 0) fail("send: the terminal is closed");
  while (length > 0) {
    ssize_t n = write(S.master, bytes, length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("send: write failed");
    bytes += n;
    length -= (size_t)n;
  }
}

static void expect(const char *text) {
  double deadline = now_ms() + WAIT_MS;
  while (!find(text)) {
    if (now_ms() > deadline) fail("timed out waiting for \"%s\"", text);
    if (!pump(50) && !find(text))
      fail("the terminal closed before \"%s\"", text);
  }
}

/* Waits until the terminal is in line-editing mode (libedit reading keys:
 * not canonical) or, with editing 0, back in canonical mode (a chunk
 * running). On Linux the master side reads the slave's termios. libedit
 * prints its prompt before it switches modes, so keys sent on seeing a
 * prompt could still reach the canonical terminal and be echoed twice. */
static void wait_mode(int editing) {
  double deadline = now_ms() + WAIT_MS;
  for (;;) {
    struct termios mode;
    if (S.master < 0 || tcgetattr(S.master, &mode) != 0)
      fail("the terminal closed while waiting for its mode");
    if (((mode.c_lflag & ICANON) == 0) == (editing != 0)) return;
    if (now_ms() > deadline)
      fail("timed out waiting for the terminal to %s",
           editing ? "read keys for line editing" : "run a chunk");
    pump(5);
  }
}

static void spawn(char **args, int nargs) {
  char *argv[MAX_ARGS + 2];
  argv[0] = (char *)S.exe;
  for (int i = 0; i < nargs; i++) argv[i + 1] = args[i];
  argv[nargs + 1] = NULL;
  if (S.pid > 0) fail("spawn: luagrad is still running");
  struct winsize size = {.ws_row = 24, .ws_col = 80};
  S.raw_length = 0;
  S.matched = 0;
  pid_t pid = forkpty(&S.master, NULL, NULL, &size);
  if (pid < 0) fail("forkpty failed");
  if (pid == 0) {
    setenv("HOME", S.home, 1);
    setenv("TERM", "xterm", 1);
    unsetenv("LUA_INIT");
    unsetenv("LUA_INIT_5_4");
    unsetenv("EDITRC");
    execv(S.exe, argv);
    perror("execv");
    _exit(127);
  }
  S.pid = pid;
}

static void wait_exit(int expected) {
  double deadline = now_ms() + WAIT_MS;
  int status;
  for (;;) {
    pid_t done = waitpid(S.pid, &status, WNOHANG);
    if (done == S.pid) break;
    if (now_ms() > deadline) fail("timed out waiting for luagrad to exit");
    pump(20);
  }
  S.pid = 0;
  while (pump(0)) { /* drain what is left */
  }
  if (S.master >= 0) close(S.master);
  S.master = -1;
  if (!WIFEXITED(status)) fail("luagrad died from signal %d", WTERMSIG(status));
  if (WEXITSTATUS(status) != expected) {
    fail("luagrad exited with status %d, expected %d", WEXITSTATUS(status),
         expected);
  }
}

static void check_file(const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", S.home, name);
  FILE *f = fopen(path, "rb");
  if (!f) fail("file: cannot open %s", path);
  char content[65536];
  size_t n = fread(content, 1, sizeof content - 1, f);
  fclose(f);
  content[n] = '\0';
  if (!strstr(content, text)) fail("file: does not contain \"%s\"", text);
}

static int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Splits a script line into words in place: bare words or "quoted" with
 * escapes. Returns the number of words; lengths gives each word's bytes. */
static int split(char *line, char **words, size_t *lengths, int max) {
  int n = 0;
  char *p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\0' || *p == '\n' || *p == '#') return n;
    if (n == max) fail("too many words");
    char *out = p;
    words[n] = out;
    if (*p == '"') {
      p++;
      while (*p && *p != '"') {
        if (*p != '\\') { *out++ = *p++; continue; }
        p++;
        switch (*p) {
          case 'r': *out++ = '\r'; p++; break;
          case 'n': *out++ = '\n'; p++; break;
          case 't': *out++ = '\t'; p++; break;
          case 'e': *out++ = 0x1b; p++; break;
          case 'x':
            if (hex(p[1]) < 0 || hex(p[2]) < 0) fail("bad \\x escape");
            *out++ = (char)(hex(p[1]) * 16 + hex(p[2]));
            p += 3;
            break;
          case '\0': fail("unfinished escape"); break;
          default: *out++ = *p++; break;
        }
      }
      if (*p != '"') fail("unfinished string");
      p++;
    } else {
      while (*p && *p != ' ' && *p != '\t' && *p != '\n') *out++ = *p++;
      if (*p) p++;
    }
    lengths[n] = (size_t)(out - words[n]);
    *out = '\0';
    n++;
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s luagrad scenario.session\n", argv[0]);
    return EXIT_FAILURE;
  }
  S.exe = argv[1];
  S.script = argv[2];
  signal(SIGPIPE, SIG_IGN);
  FILE *f = fopen(S.script, "r");
  if (!f) {
    perror(S.script);
    return EXIT_FAILURE;
  }
  snprintf(S.home, sizeof S.home, "/tmp/luagrad-repl-XXXXXX");
  if (!mkdtemp(S.home)) {
    perror("mkdtemp");
    return EXIT_FAILURE;
  }
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    S.line_number++;
    char *words[MAX_ARGS + 1];
    size_t lengths[MAX_ARGS + 1];
    int n = split(line, words, lengths, MAX_ARGS + 1);
    if (n == 0) continue;
    const char *cmd = words[0];
    if (strcmp(cmd, "spawn") == 0) {
      spawn(words + 1, n - 1);
    } else if (strcmp(cmd, "send") == 0 && n == 2) {
      wait_mode(1);
      send_bytes(words[1], lengths[1]);
    } else if (strcmp(cmd, "expect") == 0 && n == 2) {
      expect(words[1]);
    } else if (strcmp(cmd, "interrupt") == 0 && (n == 1 || n == 2)) {
      wait_mode(0);
      if (n == 2) { /* let the chunk get into its work first */
        long ms = atol(words[1]);
        struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
      }
      send_bytes("\x03", 1);
    } else if (strcmp(cmd, "exit") == 0 && n == 2) {
      wait_exit(atoi(words[1]));
    } else if (strcmp(cmd, "file") == 0 && n == 3) {
      check_file(words[1], words[2]);
    } else {
      fail("unknown command or wrong arguments: %s", cmd);
    }
  }
  fclose(f);
  if (S.pid > 0) fail("the script ended with luagrad still running");
  if (getenv("PTY_DRIVER_DUMP")) { /* to see a passing session's screen */
    size_t length;
    char *text = cleaned(&length);
    fprintf(stderr, "%s\n", text);
    free(text);
  }
  cleanup();
  remove_home();
  free(S.raw);
  printf("%s: passed\n", S.script);
  return EXIT_SUCCESS;
}
