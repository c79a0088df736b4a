/* test_embed_sandbox.c: luagrad in a host that sandboxes its scripts
 * (base, table, string and math only; see sandbox_util.h), issue 21:
 * - every public function that opens a path is refused, creates and reads
 *   nothing, and its message quotes nothing of the file;
 * - lg.nn, lg.func, lg.optim, lg.data, lg.utils all work without require;
 * - the memory and op-size limits fail cleanly and the state goes on;
 * - the API fuzz runs inside the sandbox (file functions fuzzed too);
 * - a host granting read-only access beneath one directory lets a model
 *   load from it and nothing outside it (`..` and symlinks included);
 * - a host's opener serves files from its own store. */
#define _XOPEN_SOURCE 700 /* mkdtemp, symlink */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox_util.h"

static char dir[64];

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* Entries of a directory, . and .. not counted. */
static int count_entries(const char *path) {
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

static void set_dir_global(lua_State *L) {
  lua_pushstring(L, dir);
  lua_setglobal(L, "DIR");
}

/* Every file function, pointed at a secret file or a new file. */
static const char *const hostile =
    "local secret, out = DIR .. '/secret', DIR .. '/out'\n"
    "local net = lg.nn.Linear(2, 2)\n"
    "local history = {epochs = {1, 2}, train_loss = {1, 0.5}}\n"
    "local attempts = {\n"
    "  {'io.save', function() lg.io.save(out .. 1, {a = lg.ones(2)}) end},\n"
    "  {'io.load', function() return lg.io.load(secret) end},\n"
    "  {'io.save_npy', function() lg.io.save_npy(out .. 2, lg.ones(2)) end},\n"
    "  {'io.load_npy', function() return lg.io.load_npy(secret) end},\n"
    "  {'data.load_idx', function() return lg.data.load_idx(secret) end},\n"
    "  {'data.load_idx', function() return lg.data.load_idx('/etc/passwd') end},\n"
    "  {'fashion_mnist', function() return lg.data.fashion_mnist{root = DIR} end},\n"
    "  {'io.save', function() net:save(out .. 3) end},\n"
    "  {'io.load', function() net:load(secret) end},\n"
    "  {'svg_curves', function() lg.utils.svg_curves(out .. '4.svg', history) end},\n"
    "  {'io.save', function() lg._safetensors_save(out .. 5, {a = lg.ones(2)}) end},\n"
    "  {'io.load', function() return lg._safetensors_load(secret) end},\n"
    "  {'io.save_npy', function() lg._npy_save(out .. 6, lg.ones(2)) end},\n"
    "  {'io.load_npy', function() return lg._npy_load(secret) end},\n"
    "  {'data.load_idx', function() return lg._idx_load(secret) end},\n"
    "  {'write_file', function() lg._write_file(out .. 7, 'x') end},\n"
    "  {'file_exists', function() return lg._file_exists(secret) end},\n"
    "  {'io.load', function() return lg.io.load(DIR .. '/../' .. secret) end},\n"
    "}\n"
    "local problems = {}\n"
    "for i, a in ipairs(attempts) do\n"
    "  local ok, err = pcall(a[2])\n"
    "  err = tostring(err)\n"
    "  local want = a[1] .. ': file access is disabled by the host'\n"
    "  if ok then problems[#problems + 1] = i .. ' ' .. a[1] .. ' succeeded'\n"
    "  elseif err ~= want then problems[#problems + 1] = i .. ': ' .. err\n"
    "  end\n"
    "end\n"
    "return table.concat(problems, '; ')\n";

static void test_files_refused(void) {
  lua_State *L = sandbox_state();
  if (!L) return (void)test_failures++;
  char secret[128];
  snprintf(secret, sizeof secret, "%s/secret", dir);
  write_text(secret, "root:x:0:0:SECRET-CONTENT\n");
  set_dir_global(L);
  CHECK_SCRIPT(L, "=hostile", hostile);
  CHECK(count_entries(dir) == 1); /* only the secret: nothing was created */
  /* the libraries a sandbox removes are still absent */
  CHECK_SCRIPT(L, "=globals", "return (io or os or debug or package or "
                              "require or dofile) and 'leaked a library' "
                              "or ''");
  lua_close(L);
  unlink(secret);
}

/* The library, without require, io, os or debug. */
static const char *const library =
    "local nn, F, func, optim = lg.nn, lg.nn.functional, lg.func, lg.optim\n"
    "lg.manual_seed(0)\n"
    "local net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))\n"
    "local opt = optim.Adam(net:parameters(), {lr = 0.01})\n"
    "local x, y = lg.randn(64, 4), lg.randn(64, 1)\n"
    "local first, last\n"
    "for step = 1, 30 do\n"
    "  opt:zero_grad()\n"
    "  local loss = F.mse_loss(net(x), y)\n"
    "  loss:backward(); opt:step()\n"
    "  first = first or loss:item(); last = loss:item()\n"
    "end\n"
    "if not (last < first) then return 'adam did not train' end\n"
    "local params = net:named_parameters()\n"
    "local function loss_of(p) return F.mse_loss(func.functional_call(net, p, x), y) end\n"
    "local g = func.grad(loss_of)(params)\n"
    "if not lg.is_tensor(g['1.weight']) then return 'func.grad' end\n"
    "local h = func.hessian(function(v) return (v * v * v):sum() end)(lg.ones(3))\n"
    "if h[1][1] ~= 6 or h[1][2] ~= 0 then return 'func.hessian' end\n"
    "local loader = lg.data.DataLoader(lg.data.TensorDataset(x, y), {batch_size = 16})\n"
    "local batches = 0\n"
    "local bar = lg.utils.progress(loader, {desc = 'epoch', tty = false, min_interval = 0})\n"
    "for xb, yb in bar() do batches = batches + 1 end\n"
    "if batches ~= 4 then return 'DataLoader gave ' .. batches end\n"
    "local ok, err = pcall(nn.Linear, 'x', 2)\n"
    "if ok or not err:find('^user:%d+: ') then return 'error position: ' .. tostring(err) end\n"
    "local sched = optim.lr_scheduler.StepLR(opt, {step_size = 1})\n"
    "local m = nn.MultiheadAttention and nn.MultiheadAttention(8, 2)\n"
    "return ''\n";

static void capture(void *ud, const char *text, size_t len) {
  size_t *total = ud;
  *total += len;
  (void)text;
}

static void test_library(void) {
  lua_State *L = sandbox_state();
  if (!L) return (void)test_failures++;
  CHECK_SCRIPT(L, "=quiet", "lg.utils.progress(3, {tty = false})"
                            ":update(3) return ''"); /* no writer: silent */
  size_t written = 0;
  luagrad_set_writer(L, capture, &written);
  CHECK_SCRIPT(L, "=user", library);
  CHECK(written > 0); /* the progress bar went to the host's writer */
  lua_close(L);
}

/* A host's own library source: its luagrad.utils, the rest built in. */
static const char *host_source(void *ud, const char *module, size_t *length) {
  int *asked = ud;
  ++*asked;
  if (strcmp(module, "luagrad.utils") != 0) return NULL;
  static const char text[] = "local lg = require 'luagrad'\n"
                             "return {marker = 42, lg = lg}\n";
  *length = sizeof text - 1;
  return text;
}

static void test_source_loader(void) {
  lua_State *L = sandbox_state();
  if (!L) return (void)test_failures++;
  int asked = 0;
  luagrad_set_source_loader(L, host_source, &asked);
  CHECK_SCRIPT(L, "=loader",
      "if lg.utils.marker ~= 42 or lg.utils.lg ~= lg then return 'not the host loader' end\n"
      "return lg.nn.Linear(2, 2)(lg.ones(1, 2)):numel() == 2 and '' or 'nn'\n");
  CHECK(asked > 2); /* also asked for luagrad.nn and its files */
  lua_close(L);
}

/* luaopen_luagrad (full file access) into a state without package: the
 * library comes from the built-in sources too. */
static void test_luaopen_without_package(void) {
  lua_State *L = luaL_newstate();
  if (!L) return (void)test_failures++;
  lua_pushcfunction(L, sandbox_libs);
  lua_call(L, 0, 0);
  luaL_requiref(L, "lg", luaopen_luagrad, 1);
  lua_pop(L, 1);
  CHECK_SCRIPT(L, "=luaopen",
      "local y = lg.nn.Linear(3, 2)(lg.ones(4, 3))\n"
      "local g = lg.func.grad(function(x) return (x * x):sum() end)(lg.ones(2))\n"
      "return (y:numel() == 8 and g[1] == 2) and '' or 'wrong'\n");
  lua_close(L);
}

static void test_limits(void) {
  lua_State *L = sandbox_state();
  if (!L) return (void)test_failures++;
  lg_ctx *ctx = luagrad_context(L);
  lg_ctx_set_memory_limit(ctx, 1 << 20);
  lg_ctx_set_op_size_limit(ctx, 60000);
  CHECK_SCRIPT(L, "=limits",
      "local keep = lg.zeros(50000)\n" /* 200 kB of the 1 MB */
      "local ok, err = pcall(lg.ones, 300, 201)\n"
      "if ok or not err:find('limit of 60000 elements per op', 1, true) then\n"
      "  return 'op size: ' .. tostring(err) end\n"
      "ok, err = pcall(lg.matmul, lg.ones(301, 2), lg.ones(2, 200))\n"
      "if ok or not err:find('elements per op', 1, true) then return 'matmul' end\n"
      "local hold = {}\n"
      "for i = 1, 40 do\n"
      "  local ok2, t = pcall(lg.zeros, 9000)\n"
      "  if not ok2 then\n"
      "    if not t:find('tensor memory limit reached', 1, true) then return t end\n"
      "    hold = nil; collectgarbage(); collectgarbage()\n"
      "    local s = lg.ones(100, 100):sum():item()\n"
      "    if s ~= 10000 then return 'unusable after the limit' end\n"
      "    return ''\n"
      "  end\n"
      "  hold[i] = t\n"
      "end\n"
      "return 'the memory limit was never reached'\n");
  lua_close(L);
}

static void test_fuzz(void) {
  lua_State *L = sandbox_state();
  if (!L) return (void)test_failures++;
  lua_pushboolean(L, 1);
  lua_setglobal(L, "FUZZ_SANDBOX");
  lua_createtable(L, 2, 0);
  lua_pushliteral(L, "1500");
  lua_rawseti(L, -2, 1);
  lua_pushliteral(L, "7");
  lua_rawseti(L, -2, 2);
  lua_setglobal(L, "arg");
  int files_before = count_entries(".");
  /* the host reads the script (luaL_loadfile is the host's, not Lua's) */
  if (luaL_loadfile(L, LUAGRAD_SOURCE_LUA_DIR "/../tests/fuzz/api_fuzz.lua") ||
      lua_pcall(L, 0, 0, 0)) {
    fprintf(stderr, "api_fuzz in the sandbox: %s\n", lua_tostring(L, -1));
    test_failures++;
  }
  CHECK(count_entries(".") == files_before);
  lua_close(L);
}

/* An opener as an engine writes one: "pack:<name>" opens <dir>/<name>
 * (its asset store); everything else is refused. */
static int pack_open(void *ud, const char *path, int writing) {
  const char *root = ud;
  if (strncmp(path, "pack:", 5) != 0 || strchr(path + 5, '/')) return -1;
  char real[256];
  snprintf(real, sizeof real, "%s/%s", root, path + 5);
  return writing ? open(real, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                 : open(real, O_RDONLY | O_CLOEXEC);
}

static void test_granted(void) {
  char models[96], outside[96], path[160], target[160];
  snprintf(models, sizeof models, "%s/models", dir);
  snprintf(outside, sizeof outside, "%s/outside", dir);
  mkdir(models, 0755);
  mkdir(outside, 0755);
  snprintf(path, sizeof path, "%s/sub", models);
  mkdir(path, 0755);
  /* the host itself (full access) saves a model inside and one outside */
  lua_State *H = sandbox_state();
  if (!H) return (void)test_failures++;
  lg_ctx_allow_files(luagrad_context(H), LG_FILES_ALL);
  set_dir_global(H);
  CHECK_SCRIPT(H, "=save",
      "lg.manual_seed(1)\n"
      "lg.nn.Linear(3, 2):save(DIR .. '/models/net.safetensors')\n"
      "lg.nn.Linear(3, 2):save(DIR .. '/outside/secret.safetensors')\n"
      "return ''\n");
  lua_close(H);
  snprintf(path, sizeof path, "%s/passwd", models);
  write_text(path, "root:x:0:0:SECRET-CONTENT\n");
  snprintf(path, sizeof path, "%s/link.safetensors", models);
  snprintf(target, sizeof target, "%s/secret.safetensors", outside);
  CHECK(symlink(target, path) == 0);
  snprintf(path, sizeof path, "%s/dirlink", models);
  CHECK(symlink(outside, path) == 0);

  lua_State *L = sandbox_state();
  if (!L) return (void)test_failures++;
  CHECK(lg_ctx_allow_directory(luagrad_context(L), models, LG_FILES_READ) ==
        LG_OK);
  set_dir_global(L);
  CHECK_SCRIPT(L, "=granted",
      "lg.manual_seed(1)\n"
      "local want = lg.nn.Linear(3, 2)\n"
      "local net = lg.nn.Linear(3, 2)\n"
      "net:load(DIR .. '/models/net.safetensors')\n"
      "if (net.weight - want.weight):abs():max():item() ~= 0 then return 'loaded wrong values' end\n"
      "net:load(DIR .. '/models/sub/../net.safetensors')\n" /* stays inside */
      "for _, p in ipairs({'/models/../outside/secret.safetensors',\n"
      "    '/models/sub/../../outside/secret.safetensors',\n"
      "    '/models/link.safetensors', '/models/dirlink/secret.safetensors',\n"
      "    '/outside/secret.safetensors', '/models/missing.safetensors'}) do\n"
      "  local ok, err = pcall(lg.io.load, DIR .. p)\n"
      "  if ok or not err:find('not found, or outside the directories the host allows', 1, true) then\n"
      "    return p .. ': ' .. tostring(err) end\n"
      "end\n"
      "for _, f in ipairs({lg.io.load, lg.io.load_npy, lg.data.load_idx}) do\n"
      "  local ok, err = pcall(f, DIR .. '/models/passwd')\n" /* readable */
      "  if ok or err:find('SECRET', 1, true) or err:find('root:', 1, true) then\n"
      "    return 'content in a message: ' .. tostring(err) end\n"
      "end\n"
      "local ok, err = pcall(net.save, net, DIR .. '/models/new.safetensors')\n"
      "if ok or err ~= 'io.save: writing files is disabled by the host' then\n"
      "  return 'save: ' .. tostring(err) end\n"
      "return ''\n");
  lua_close(L);

  L = sandbox_state(); /* an engine serving its packed assets */
  if (!L) return (void)test_failures++;
  lg_ctx_set_file_opener(luagrad_context(L), pack_open, models);
  CHECK_SCRIPT(L, "=pack",
      "local net = lg.nn.Linear(3, 2)\n"
      "net:load('pack:net.safetensors')\n"
      "net:save('pack:copy.safetensors')\n"
      "lg.nn.Linear(3, 2):load('pack:copy.safetensors')\n"
      "local ok, err = pcall(lg.io.load, 'pack:../outside/secret.safetensors')\n"
      "if ok or not err:find('the host did not open it', 1, true) then return tostring(err) end\n"
      "return ''\n");
  lua_close(L);
  const char *rm[] = {"models/passwd", "models/net.safetensors",
                      "models/copy.safetensors", "models/link.safetensors",
                      "models/dirlink", "outside/secret.safetensors"};
  for (size_t i = 0; i < sizeof rm / sizeof rm[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, rm[i]);
    unlink(path);
  }
  const char *dirs[] = {"models/sub", "models", "outside"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, dirs[i]);
    rmdir(path);
  }
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/lg_sandbox_XXXXXX");
  if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
  test_files_refused();
  test_library();
  test_source_loader();
  test_luaopen_without_package();
  test_limits();
  test_granted();
  test_fuzz();
  rmdir(dir);
  if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
  else printf("sandbox: files refused, library and limits work, grants hold\n");
  return test_failures ? 1 : 0;
}
