/* plan_direct.c: the C side of benchmark (12): lg_plan_run of the compiled
 * 16-32-4 MLP forward at batch 1 (functional_call over detached params,
 * reuse_outputs), called from C with no Lua in the loop; prints the median
 * over 7 repetitions of 200 000 runs, in process CPU time (steady on a
 * shared machine, one thread). Built beside the suite (CMakeLists.txt);
 * run as build/plan_direct. Target of the issue: <= 0.5 us. */
#include <stdio.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "luagrad.h"
#include "luagrad_lua.h"

#define REPS 7
#define RUNS 200000

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  if (luagrad_open(L, NULL, NULL) != LG_OK) { /* the built-in Lua sources */
    fprintf(stderr, "plan_direct: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_setglobal(L, "lg");
  if (luaL_dostring(L,
        "lg.set_num_threads(1)\n"
        "lg.manual_seed(0)\n"
        "local nn = lg.nn\n"
        "local model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))\n"
        "local params = {}\n"
        "for k, p in pairs(model:named_parameters()) do params[k] = p:detach() end\n"
        "policy = lg.func.compile(function(x)\n"
        "  return lg.func.functional_call(model, params, x)\n"
        "end, {reuse_outputs = true})\n"
        "x = lg.randn(1, 16)\n"
        "policy(x); policy(x)\n")) {
    fprintf(stderr, "plan_direct: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_getglobal(L, "policy");
  lg_plan *plan = lgl_compiled_plan(L, -1);
  lua_getglobal(L, "x");
  lg_tensor *x = luagrad_to_tensor(L, -1);
  lg_tensor *out = NULL;
  if (!plan || !x || lg_plan_run(plan, &x, &out) != LG_OK) {
    fprintf(stderr, "plan_direct: no plan to run\n");
    lua_close(L);
    return 1;
  }
  lg_tensor_release(out);
  double us[REPS];
  for (int r = 0; r < REPS; r++) {
    double t0 = cpu_seconds();
    for (int i = 0; i < RUNS; i++) {
      lg_plan_run(plan, &x, &out);
      lg_tensor_release(out);
    }
    us[r] = (cpu_seconds() - t0) / RUNS * 1e6;
  }
  for (int i = 1; i < REPS; i++) /* insertion sort */
    for (int j = i; j > 0 && us[j - 1] > us[j]; j--) {
      double t = us[j];
      us[j] = us[j - 1];
      us[j - 1] = t;
    }
  printf("plan_direct: lg_plan_run, MLP 16-32-4 forward b1: median %.3f us "
         "(min %.3f, max %.3f; CPU time, %d x %d runs)\n",
         us[REPS / 2], us[0], us[REPS - 1], REPS, RUNS);
  lg_plan_release(plan);
  lua_close(L);
  return 0;
}
