/* repl.c: the `luagrad` REPL: reads chunks (on a terminal with line editing,
 * history and Tab completion through libedit; from a pipe as plain lines),
 * runs them, prints their values through the Lua module luagrad.repl, and
 * turns Ctrl-C into a Lua error that returns to the prompt.
 *
 * Invariant: Lua code runs only inside protected calls (repl_call, or
 * lua_pcall in the libedit callbacks), so a Lua error never unwinds through
 * libedit or this loop, and the loop's Lua stack is balanced after each
 * chunk. libedit is BSD-licensed; GNU readline would make the executable GPL. */
#include "repl.h"
#include "luagrad_lua.h"

#include <ctype.h>
#include <errno.h>
#include <histedit.h>
#include <lauxlib.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#define HISTORY_FILE ".luagrad_history"
#define HISTORY_SIZE 1000

static char prompt_first[] = "> ";
static char prompt_more[] = ">> ";

/* ---- protected calls and Ctrl-C ------------------------------------------ */

/* The state whose hook SIGINT sets: a signal handler can reach nothing
 * else (lua.c keeps the same static). Set before the handler is installed. */
static lua_State *interrupted_state = NULL;
/* Its luagrad context: SIGINT also stops a running kernel (a large matmul
 * or conv) at its next tile, with the error "interrupted". */
static lg_ctx *interrupted_ctx = NULL;

/* In the REPL the handler stays installed between calls too, so a Ctrl-C
 * pressed just as a chunk starts interrupts it instead of ending the
 * process. While a line is edited the terminal sends no SIGINT at all. */
static int sigint_between_calls = 0;

/* Stops Lua code; when a kernel already took the request (its error
 * "interrupted" is unwinding and runs the message handler, which is what
 * fired the hook) it only removes itself. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (interrupted_ctx && !lg_ctx_clear_interrupt(interrupted_ctx)) return;
  luaL_error(L, "interrupted!");
}

static void set_sigint_handler(void (*handler)(int)) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, NULL);
}

/* Async-signal-safe: lua_sethook is documented as safe to call here. */
static void on_sigint(int sig) {
  (void)sig;
  set_sigint_handler(SIG_DFL); /* a second Ctrl-C ends the process */
  lg_ctx_interrupt(interrupted_ctx); /* an atomic store */
  lua_sethook(interrupted_state, stop_hook,
              LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

int repl_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int repl_call(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, repl_traceback);
  lua_insert(L, base);
  interrupted_state = L;
  interrupted_ctx = luagrad_context(L);
  set_sigint_handler(on_sigint);
  int status = lua_pcall(L, nargs, nresults, base);
  /* a Ctrl-C that came after the call ended must not stop the next one */
  if (lua_gethook(L) == stop_hook) lua_sethook(L, NULL, 0, 0);
  lg_ctx_clear_interrupt(interrupted_ctx);
  set_sigint_handler(sigint_between_calls ? on_sigint : SIG_DFL);
  lua_remove(L, base);
  return status;
}

/* ---- reading lines ------------------------------------------------------ */

typedef struct repl {
  lua_State *L;
  EditLine *editor;   /* NULL when reading plain lines */
  History *history;   /* NULL without an editor */
  char *history_path; /* $HOME/.luagrad_history, NULL without $HOME */
  char *prompt;
  int line_cleared;   /* Ctrl-C discarded the line being typed */
  char *plain_line;   /* getline's buffer when reading plain lines */
  size_t plain_capacity;
  int module_ref;     /* luagrad.repl in the registry, or LUA_NOREF */
  int quit;           /* :quit ended the loop, not end of input */
  int failures;       /* chunks that raised an error or did not compile */
} repl;

enum { LINE_OK, LINE_EOF, LINE_CLEARED };

static repl *repl_of(EditLine *editor) {
  void *data = NULL;
  el_get(editor, EL_CLIENTDATA, &data);
  return data;
}

static char *prompt_of(EditLine *editor) { return repl_of(editor)->prompt; }

/* Ctrl-C on the line being typed: end the line and mark it discarded. */
static unsigned char on_clear_key(EditLine *editor, int key) {
  (void)key;
  repl_of(editor)->line_cleared = 1;
  return CC_NEWLINE;
}

/* Writes text, with "\r\n" line ends: the terminal is raw while editing. */
static void write_raw(FILE *out, const char *text) {
  for (; *text; text++) {
    if (*text == '\n') fputc('\r', out);
    fputc(*text, out);
  }
}

/* Tab: asks luagrad.repl.complete what to insert or list. */
static unsigned char on_complete_key(EditLine *editor, int key) {
  (void)key;
  repl *r = repl_of(editor);
  lua_State *L = r->L;
  if (r->module_ref == LUA_NOREF) return CC_ERROR;
  const LineInfo *line = el_line(editor);
  int width = 0;
  if (el_get(editor, EL_GETTC, "co", &width) != 0 || width <= 0) width = 80;
  int top = lua_gettop(L);
  unsigned char result = CC_ERROR;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->module_ref);
  lua_getfield(L, -1, "complete");
  lua_pushlstring(L, line->buffer, (size_t)(line->cursor - line->buffer));
  lua_pushinteger(L, width);
  if (lua_pcall(L, 2, 2, 0) == LUA_OK) {
    const char *insert = lua_tostring(L, -2);
    const char *list = lua_tostring(L, -1);
    if (insert && *insert) {
      if (el_insertstr(editor, insert) == 0) result = CC_REFRESH;
    } else if (list) {
      FILE *out = stdout;
      el_get(editor, EL_GETFP, 1, &out);
      write_raw(out, "\n");
      write_raw(out, list);
      write_raw(out, "\n");
      fflush(out);
      result = CC_REDISPLAY;
    }
  }
  lua_settop(L, top);
  return result;
}

static void open_editor(repl *r) {
  setlocale(LC_CTYPE, ""); /* UTF-8 input; numbers keep the C locale */
  EditLine *editor = el_init("luagrad", stdin, stdout, stderr);
  if (editor == NULL) return;
  r->editor = editor;
  el_set(editor, EL_CLIENTDATA, (void *)r);
  el_set(editor, EL_EDITOR, "emacs");
  el_set(editor, EL_SIGNAL, 1);
  el_set(editor, EL_PROMPT, prompt_of);
  r->history = history_init();
  if (r->history) {
    HistEvent event;
    history(r->history, &event, H_SETSIZE, HISTORY_SIZE);
    history(r->history, &event, H_SETUNIQUE, 1);
    el_set(editor, EL_HIST, history, r->history);
    const char *home = getenv("HOME");
    if (home && *home) {
      size_t size = strlen(home) + sizeof "/" HISTORY_FILE;
      r->history_path = malloc(size);
      if (r->history_path) {
        snprintf(r->history_path, size, "%s/%s", home, HISTORY_FILE);
        history(r->history, &event, H_LOAD, r->history_path);
      }
    }
  }
  /* The wide el_wset keeps pointers to these literals; el_set would copy
   * them with wcsdup and never free the copies. */
  el_wset(editor, EL_ADDFN, L"luagrad-complete",
          L"Complete the Lua name before the cursor", on_complete_key);
  el_set(editor, EL_BIND, "^I", "luagrad-complete", NULL);
  /* While editing, Ctrl-C is a key (it clears the line), not a signal;
   * while a chunk runs the terminal is back in its own mode and Ctrl-C
   * sends SIGINT, which repl_call turns into an error. */
  el_wset(editor, EL_ADDFN, L"luagrad-clear-line",
          L"Discard the line and any unfinished chunk", on_clear_key);
  el_set(editor, EL_BIND, "^C", "luagrad-clear-line", NULL);
  el_set(editor, EL_SETTY, "-d", "-isig", NULL);
  el_source(editor, NULL); /* the user's ~/.editrc, when there is one */
}

static void close_editor(repl *r) {
  if (r->editor) el_end(r->editor);
  if (r->history) history_end(r->history);
  free(r->history_path);
  r->editor = NULL;
  r->history = NULL;
  r->history_path = NULL;
}

/* Reads one line and pushes it without its newline (LINE_OK); pushes
 * nothing at end of input (LINE_EOF) or when Ctrl-C cleared it. */
static int read_line(repl *r, char *prompt) {
  const char *text;
  size_t length;
  if (r->editor) {
    int count = 0;
    r->prompt = prompt;
    r->line_cleared = 0;
    for (;;) {
      errno = 0;
      text = el_gets(r->editor, &count);
      if (r->line_cleared || text != NULL || count >= 0 || errno != EINTR)
        break;
    }
    if (r->line_cleared) {
      fputs("^C\n", stdout);
      fflush(stdout);
      return LINE_CLEARED;
    }
    if (text == NULL || count <= 0) return LINE_EOF;
    length = (size_t)count;
  } else {
    errno = 0;
    ssize_t count = getline(&r->plain_line, &r->plain_capacity, stdin);
    if (count < 0 && errno == EINTR) { /* Ctrl-C while waiting */
      clearerr(stdin);
      if (lua_gethook(r->L) == stop_hook) lua_sethook(r->L, NULL, 0, 0);
      lg_ctx_clear_interrupt(interrupted_ctx);
      set_sigint_handler(on_sigint);
      fputc('\n', stdout);
      fflush(stdout);
      return LINE_CLEARED;
    }
    if (count < 0) return LINE_EOF;
    text = r->plain_line;
    length = (size_t)count;
  }
  if (length > 0 && text[length - 1] == '\n') length--;
  lua_pushlstring(r->L, text, length);
  return LINE_OK;
}

static void add_history(repl *r, const char *entry) {
  if (r->history == NULL) return;
  HistEvent event;
  history(r->history, &event, H_ENTER, entry);
  if (r->history_path) history(r->history, &event, H_SAVE, r->history_path);
}

/* ---- chunks ------------------------------------------------------------- */

enum { CHUNK_READY, CHUNK_ERROR, CHUNK_SKIP, CHUNK_EOF };
enum { COMPILE_OK, COMPILE_ERROR, COMPILE_INCOMPLETE };

typedef struct chunk_options {
  int quiet; /* the chunk ends in ';': do not print its values */
  int timed; /* :time: print the wall time */
} chunk_options;

/* A syntax error at the end of the text: more lines may complete it. */
static int is_incomplete(lua_State *L, int status) {
  static const char mark[] = "<eof>";
  size_t length;
  const char *msg = lua_tolstring(L, -1, &length);
  return status == LUA_ERRSYNTAX && msg && length >= sizeof mark - 1 &&
         strcmp(msg + length - (sizeof mark - 1), mark) == 0;
}

/* Compiles the code on the top of the stack, as "return <code>" first (so
 * an expression yields its values) and then as a statement, and pushes the
 * function or the error message. Incomplete when either form might still
 * be completed by more lines. */
static int compile(lua_State *L) {
  lua_pushliteral(L, "return ");
  lua_pushvalue(L, -2);
  lua_concat(L, 2);
  size_t length;
  const char *code = lua_tolstring(L, -1, &length);
  int status = luaL_loadbuffer(L, code, length, "=stdin");
  lua_remove(L, -2);
  if (status == LUA_OK) return COMPILE_OK;
  int return_incomplete = is_incomplete(L, status);
  lua_pop(L, 1);
  code = lua_tolstring(L, -1, &length);
  status = luaL_loadbuffer(L, code, length, "=stdin");
  if (status == LUA_OK) return COMPILE_OK;
  if (return_incomplete || is_incomplete(L, status)) return COMPILE_INCOMPLETE;
  return COMPILE_ERROR;
}

static int is_blank(const char *s) {
  while (isspace((unsigned char)*s)) s++;
  return *s == '\0';
}

static int ends_with_semicolon(const char *s, size_t length) {
  while (length > 0 && isspace((unsigned char)s[length - 1])) length--;
  return length > 0 && s[length - 1] == ';';
}

static const char help_text[] =
    "REPL commands:\n"
    "  :help          this list\n"
    "  :help <name>   the reference of a function, class or method\n"
    "                 (as help(lg.func.grad), help(\"nn.Linear\"), help(t.sum))\n"
    "  :time <code>   run an expression or statement, print its wall time\n"
    "  :quit          leave the REPL (as Ctrl-D on an empty line does)\n"
    "An expression prints its values; a trailing ';' suppresses that.\n"
    "Unfinished code continues on the next line (prompt '>>').\n"
    "Tab completes globals, fields and methods (lg.nn.Lin<Tab>, t:su<Tab>,\n"
    "net[1].<Tab>); it reads the expression, never calls: none after f().\n"
    "Ctrl-C clears the line, or interrupts a running computation.\n"
    "Globals: lg, nn, F, func, optim, help (loaded on first use); help()\n"
    "lists the sub-libraries.\n";

/* ":help name": luagrad.help's entry for name (or its closest names). */
static void show_help(lua_State *L, const char *name, repl *r) {
  int top = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luagrad.help");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    lua_getfield(L, -1, "help");
    lua_pushstring(L, name);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK) {
      lua_settop(L, top);
      return;
    }
  }
  fflush(stdout);
  fprintf(stderr, ":help: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "failed");
  r->failures++;
  lua_settop(L, top);
}

/* Handles ":command rest" (the line is on the top of the stack). Returns
 * CHUNK_READY with the code to run in place of the line (:time), or
 * CHUNK_SKIP / CHUNK_EOF with the line popped. */
static int run_command(repl *r, chunk_options *options) {
  lua_State *L = r->L;
  const char *line = lua_tostring(L, -1);
  const char *name = line + 1;
  size_t name_length = 0;
  while (isalpha((unsigned char)name[name_length])) name_length++;
  const char *rest = name + name_length;
  while (isspace((unsigned char)*rest)) rest++;
#define IS(word) (name_length == sizeof word - 1 && \
                  strncmp(name, word, name_length) == 0)
  if (IS("time")) {
    if (*rest == '\0') {
      fputs("usage: :time <expression or statement>\n", stderr);
      r->failures++;
      lua_pop(L, 1);
      return CHUNK_SKIP;
    }
    options->timed = 1;
    lua_pushstring(L, rest);
    lua_remove(L, -2);
    return CHUNK_READY;
  }
  add_history(r, line);
  if ((IS("help") || IS("h")) && *rest) {
    show_help(L, rest, r);
  } else if (IS("help") || IS("h")) {
    fputs(help_text, stdout);
  } else if (IS("quit") || IS("q") || IS("exit")) {
    lua_pop(L, 1);
    r->quit = 1;
    return CHUNK_EOF;
  } else {
    fflush(stdout);
    fprintf(stderr, "unknown command ':%.*s' (:help lists the commands)\n",
            (int)name_length, name);
    r->failures++;
  }
#undef IS
  lua_pop(L, 1);
  return CHUNK_SKIP;
}

/* Reads a chunk, asking for more lines while it is incomplete. On
 * CHUNK_READY pushes its function; on CHUNK_ERROR the syntax error. */
static int read_chunk(repl *r, chunk_options *options) {
  lua_State *L = r->L;
  int got = read_line(r, prompt_first);
  if (got == LINE_EOF) return CHUNK_EOF;
  if (got == LINE_CLEARED) return CHUNK_SKIP;
  const char *line = lua_tostring(L, -1);
  if (is_blank(line)) {
    lua_pop(L, 1);
    return CHUNK_SKIP;
  }
  if (line[0] == ':' && isalpha((unsigned char)line[1])) {
    int command = run_command(r, options);
    if (command != CHUNK_READY) return command;
  }
  int status;
  while ((status = compile(L)) == COMPILE_INCOMPLETE) {
    got = read_line(r, prompt_more);
    if (got == LINE_CLEARED) {
      lua_pop(L, 2);
      return CHUNK_SKIP;
    }
    if (got == LINE_EOF) {
      status = COMPILE_ERROR;
      break;
    }
    lua_remove(L, -2); /* the error message */
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
  size_t length;
  const char *code = lua_tolstring(L, -2, &length);
  options->quiet = ends_with_semicolon(code, length);
  if (options->timed) {
    lua_pushfstring(L, ":time %s", code);
    add_history(r, lua_tostring(L, -1));
    lua_pop(L, 1);
  } else {
    add_history(r, code);
  }
  lua_remove(L, -2);
  return status == COMPILE_OK ? CHUNK_READY : CHUNK_ERROR;
}

/* Prints the error message on the top of the stack and pops it. */
static void print_error(lua_State *L) {
  fflush(stdout);
  fprintf(stderr, "%s\n", lua_tostring(L, -1));
  fflush(stderr);
  lua_pop(L, 1);
}

/* Prints (and pops) the n values on the top of the stack. */
static void print_values(repl *r, int n) {
  lua_State *L = r->L;
  if (r->module_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->module_ref);
    lua_getfield(L, -1, "print_values");
    lua_remove(L, -2);
  } else {
    lua_getglobal(L, "print");
  }
  lua_insert(L, -(n + 1));
  if (repl_call(L, n, 0) != LUA_OK) {
    print_error(L);
    r->failures++;
  }
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_wall_time(double seconds) {
  if (seconds < 1e-3)
    printf("wall time: %.1f us\n", seconds * 1e6);
  else if (seconds < 1.0)
    printf("wall time: %.3f ms\n", seconds * 1e3);
  else
    printf("wall time: %.3f s\n", seconds);
  fflush(stdout);
}

/* Runs the function on the top of the stack and prints what it returns. */
static void run_chunk(repl *r, const chunk_options *options) {
  lua_State *L = r->L;
  int base = lua_gettop(L) - 1;
  double start = now_seconds();
  int status = repl_call(L, 0, LUA_MULTRET);
  double elapsed = now_seconds() - start;
  if (status != LUA_OK) {
    print_error(L);
    r->failures++;
  } else if (lua_gettop(L) > base && !options->quiet) {
    print_values(r, lua_gettop(L) - base);
  }
  lua_settop(L, base);
  if (options->timed) print_wall_time(elapsed);
}

/* Loads luagrad.repl and makes the lazy globals resolve. Without it the
 * REPL still runs: values print through print, Tab does nothing. */
static void load_repl_module(repl *r) {
  lua_State *L = r->L;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luagrad.repl");
  if (repl_call(L, 1, 1) != LUA_OK) {
    print_error(L);
    return;
  }
  lua_getfield(L, -1, "install_globals");
  if (repl_call(L, 0, 0) != LUA_OK) print_error(L);
  r->module_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int repl_run(lua_State *L, const char *progname) {
  (void)progname;
  repl r;
  memset(&r, 0, sizeof r);
  r.L = L;
  r.module_ref = LUA_NOREF;
  r.prompt = prompt_first;
  int top = lua_gettop(L);
  interrupted_state = L;
  interrupted_ctx = luagrad_context(L);
  sigint_between_calls = 1;
  set_sigint_handler(on_sigint);
  load_repl_module(&r);
  if (isatty(STDIN_FILENO)) {
    open_editor(&r);
    printf("luagrad %s (%s)  :help lists the REPL commands\n",
           LUAGRAD_VERSION, LUA_RELEASE);
    fflush(stdout);
  }
  for (;;) {
    chunk_options options = {0, 0};
    int status = read_chunk(&r, &options);
    if (status == CHUNK_EOF) break;
    if (status == CHUNK_READY) {
      run_chunk(&r, &options);
    } else if (status == CHUNK_ERROR) {
      print_error(L);
      r.failures++;
    }
    lua_settop(L, top);
  }
  int interactive = r.editor != NULL;
  if (r.editor && !r.quit) { /* Ctrl-D left the cursor after the prompt */
    fputc('\n', stdout);
    fflush(stdout);
  }
  close_editor(&r);
  sigint_between_calls = 0;
  set_sigint_handler(SIG_DFL);
  free(r.plain_line);
  luaL_unref(L, LUA_REGISTRYINDEX, r.module_ref);
  /* at a terminal an error is part of the conversation; piped input is a
   * script whose caller must learn that part of it failed */
  return interactive ? 0 : r.failures;
}
