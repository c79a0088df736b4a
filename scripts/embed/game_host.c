/* game_host.c: an example engine embedding luagrad: a simulated game loop
 * that runs a Lua policy (scripts/embed/policy.lua) every frame on a
 * host-owned observation buffer, trains it every few frames, hot-reloads the
 * script when it changes (keeping the weights) and reports per-frame latency
 * and the allocator calls of the inference path, for two paths: the Lua
 * agent.act() and the plan of the compiled agent.policy run from C
 * (lg_plan_run, luagrad.h), which must give the same actions.
 *
 *   game_host [frames] [--policy path] [--train-every n] [--check]
 *
 * --check runs a fixed 1200 frames, forces one reload half way, and exits
 * nonzero when anything fails, when the reload changed the policy's output,
 * when the plan's actions differ from Lua's, or when a warm inference frame
 * (either path) called the allocator.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "luagrad_lua.h"

#ifndef GAME_HOST_POLICY
#define GAME_HOST_POLICY "policy.lua"
#endif
#ifndef LUAGRAD_SOURCE_LUA_DIR
#define LUAGRAD_SOURCE_LUA_DIR "lua"
#endif

enum { N_OBS = 8, N_ACT = 2, HIDDEN = 32, BATCH = 64, WARMUP = 10 };

/* One allocator for Lua and tensors, counting every call. */
typedef struct counter {
  size_t calls, live_bytes;
} counter;

static void *counting_alloc(void *ud, void *ptr, size_t old_size,
                            size_t new_size) {
  counter *c = ud;
  c->calls++;
  if (ptr) c->live_bytes -= old_size;
  if (new_size == 0) {
    free(ptr);
    return NULL;
  }
  void *p = realloc(ptr, new_size);
  c->live_bytes += p ? new_size : (ptr ? old_size : 0);
  return p;
}

/* The game: a few bodies drifting on a circle; the expert steers toward the
 * centre. Plain host memory, nothing from luagrad. */
typedef struct game {
  float phase[N_OBS / 2], speed[N_OBS / 2];
  float obs[2][N_OBS]; /* double buffer: frame f writes obs[f & 1] */
  float obs_home[N_OBS];       /* what Lua sees between frames        */
  float actions[1][N_ACT];     /* written by the policy (out=)        */
  float batch_obs[BATCH][N_OBS], batch_target[BATCH][N_ACT];
  int batch_fill;
} game;

static void game_observe(game *g, int frame, float *obs) {
  for (int i = 0; i < N_OBS / 2; i++) {
    g->phase[i] += g->speed[i];
    obs[2 * i] = cosf(g->phase[i]) + 0.1f * sinf(0.37f * (float)frame);
    obs[2 * i + 1] = sinf(g->phase[i]);
  }
}

/* The expert's action: what the policy learns to imitate. */
static void expert_action(const float *obs, float *target) {
  for (int j = 0; j < N_ACT; j++) {
    float s = 0;
    for (int i = 0; i < N_OBS; i++) s += (float)((i + j) % 3 - 1) * obs[i];
    target[j] = tanhf(0.5f * s);
  }
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct host {
  lua_State *L;
  game *g;
  const char *policy_path;
  int io_ref, agent_ref, act_ref;
  lg_tensor *obs_tensor;
  lg_plan *plan;        /* agent.policy's plan, traced on obs */
  time_t policy_mtime;
} host;

static int fail(host *h, const char *what) {
  fprintf(stderr, "game_host: %s: %s\n", what,
          lua_isstring(h->L, -1) ? lua_tostring(h->L, -1) : "(no message)");
  return 0;
}

/* Wraps a host array as a tensor and stores it in the io table at -1. */
static int wrap_field(host *h, const char *name, void *data, int64_t rows,
                      int64_t cols) {
  int64_t sizes[2] = {rows, cols};
  if (luagrad_push_wrapped(h->L, LG_FLOAT32, 2, sizes, data, NULL, NULL)) {
    fprintf(stderr, "game_host: wrap %s: %s\n", name,
            lg_ctx_error(luagrad_context(h->L)));
    return 0;
  }
  lua_setfield(h->L, -2, name);
  return 1;
}

static int setup_lua(host *h, counter *c) {
  lua_State *L = h->L = lua_newstate(counting_alloc, c);
  if (!L) return 0;
  luaL_openlibs(L);
  const char *dir = getenv("LUAGRAD_LUA_DIR");
  if (!dir) dir = LUAGRAD_SOURCE_LUA_DIR;
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  if (luagrad_open(L, counting_alloc, c) != LG_OK) return fail(h, "open");
  lua_pop(L, 1);
  lua_newtable(L); /* io: the tensors over host memory, made once */
  if (!wrap_field(h, "obs", h->g->obs_home, 1, N_OBS) ||
      !wrap_field(h, "act", h->g->actions, 1, N_ACT) ||
      !wrap_field(h, "batch_obs", h->g->batch_obs, BATCH, N_OBS) ||
      !wrap_field(h, "batch_target", h->g->batch_target, BATCH, N_ACT))
    return 0;
  lua_getfield(L, -1, "obs");
  h->obs_tensor = luagrad_to_tensor(L, -1); /* kept alive by the io table */
  lua_pop(L, 1);
  h->io_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  h->agent_ref = h->act_ref = LUA_NOREF;
  return 1;
}

/* Calls agent[name](args at the top) and leaves nresults. */
static int call_agent(host *h, const char *name, int nargs, int nresults) {
  lua_rawgeti(h->L, LUA_REGISTRYINDEX, h->agent_ref);
  lua_getfield(h->L, -1, name);
  lua_remove(h->L, -2);
  lua_insert(h->L, -1 - nargs);
  if (lua_pcall(h->L, nargs, nresults, 0) != LUA_OK) return fail(h, name);
  return 1;
}

/* (Re)loads the policy script; a previous agent's weights carry over. */
static int load_policy(host *h) {
  lua_State *L = h->L;
  struct stat st;
  if (stat(h->policy_path, &st) == 0) h->policy_mtime = st.st_mtime;
  if (luaL_loadfile(L, h->policy_path) != LUA_OK) return fail(h, "load");
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, N_OBS);
  lua_setfield(L, -2, "n_obs");
  lua_pushinteger(L, N_ACT);
  lua_setfield(L, -2, "n_act");
  lua_pushinteger(L, HIDDEN);
  lua_setfield(L, -2, "hidden");
  lua_pushnumber(L, 0.05);
  lua_setfield(L, -2, "lr");
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->io_ref);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) return fail(h, "run policy");
  if (!lua_istable(L, -1)) {
    lua_pushliteral(L, "the policy script must return the agent table");
    return fail(h, "run policy");
  }
  int new_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (h->agent_ref != LUA_NOREF) { /* carry the trained weights over */
    if (!call_agent(h, "state_dict", 0, 1)) return 0;
    int old_ref = h->agent_ref;
    h->agent_ref = new_ref;
    if (!call_agent(h, "load_state_dict", 1, 0)) return 0;
    luaL_unref(L, LUA_REGISTRYINDEX, old_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, h->act_ref);
  }
  h->agent_ref = new_ref;
  lua_rawgeti(L, LUA_REGISTRYINDEX, new_ref);
  lua_getfield(L, -1, "act");
  h->act_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  /* the compiled policy: trace it on obs once, then take its plan */
  lua_getfield(L, -1, "policy");
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->io_ref);
  lua_getfield(L, -1, "obs");
  lua_remove(L, -2);
  lua_pushvalue(L, -2);
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) return fail(h, "trace policy");
  lg_plan_release(h->plan);
  h->plan = lgl_compiled_plan(L, -1);
  lua_pop(L, 2);
  if (!h->plan || lg_plan_num_inputs(h->plan) != 1 ||
      lg_plan_num_outputs(h->plan) != 1) {
    lua_pushliteral(L, "agent.policy gave no plan of one input and one output");
    return fail(h, "plan");
  }
  return 1;
}

/* The same frame through the plan, from C: actions into plan_act. */
static int infer_plan(host *h, float *obs, float *plan_act) {
  if (luagrad_rebind(h->obs_tensor, obs, sizeof(float) * N_OBS)) return 0;
  lg_tensor *out = NULL;
  lg_status st = lg_plan_run(h->plan, &h->obs_tensor, &out);
  luagrad_rebind(h->obs_tensor, NULL, 0);
  if (st) {
    fprintf(stderr, "game_host: plan: %s\n",
            lg_ctx_error(luagrad_context(h->L)));
    return 0;
  }
  memcpy(plan_act, lg_tensor_data(out), sizeof(float) * N_ACT);
  lg_tensor_release(out);
  return 1;
}

/* One inference frame on the borrowed observation buffer obs. */
static int infer(host *h, float *obs) {
  if (luagrad_rebind(h->obs_tensor, obs, sizeof(float) * N_OBS)) return 0;
  lua_rawgeti(h->L, LUA_REGISTRYINDEX, h->act_ref);
  int ok = lua_pcall(h->L, 0, 0, 0) == LUA_OK;
  luagrad_rebind(h->obs_tensor, NULL, 0); /* end of the borrow */
  return ok ? 1 : fail(h, "act");
}

int main(int argc, char **argv) {
  int frames = 2000, train_every = 50, check = 0;
  const char *policy = GAME_HOST_POLICY;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--check") == 0) check = 1;
    else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc) policy = argv[++i];
    else if (strcmp(argv[i], "--train-every") == 0 && i + 1 < argc)
      train_every = atoi(argv[++i]);
    else if (atoi(argv[i]) > 0) frames = atoi(argv[i]);
    else {
      fprintf(stderr, "usage: game_host [frames] [--policy path] "
                      "[--train-every n] [--check]\n");
      return 2;
    }
  }
  if (check) frames = 1200;
  if (train_every < 1) train_every = 1;
  counter c = {0, 0};
  game *g = calloc(1, sizeof *g);
  double *latency = calloc((size_t)frames, sizeof *latency);
  double *plan_latency = calloc((size_t)frames, sizeof *plan_latency);
  if (!g || !latency || !plan_latency) return 1;
  for (int i = 0; i < N_OBS / 2; i++) {
    g->phase[i] = (float)i;
    g->speed[i] = 0.01f * (float)(i + 1);
  }
  host h = {0};
  h.g = g;
  h.policy_path = policy;
  int ok = setup_lua(&h, &c) && load_policy(&h);
  size_t warm_calls = 0, plan_warm_calls = 0;
  double plan_total_us = 0;
  int mismatches = 0;
  int warm_frames = 0, since_load = 0, reloads = 0;
  double first_loss = -1, last_loss = -1, total_us = 0;
  for (int f = 0; ok && f < frames; f++) {
    float *obs = g->obs[f & 1];
    game_observe(g, f, obs);
    size_t before = c.calls;
    double t0 = now_us();
    ok = infer(&h, obs);
    double t1 = now_us();
    latency[f] = t1 - t0;
    total_us += latency[f];
    float plan_act[N_ACT];
    size_t plan_before = c.calls;
    double t2 = now_us();
    ok = ok && infer_plan(&h, obs, plan_act);
    plan_latency[f] = now_us() - t2;
    plan_total_us += plan_latency[f];
    if (ok && memcmp(plan_act, g->actions[0], sizeof plan_act)) mismatches++;
    if (++since_load > WARMUP) {
      warm_calls += plan_before - before;
      plan_warm_calls += c.calls - plan_before;
      warm_frames++;
    }
    /* the game uses the actions; the expert's go into the training batch */
    for (int i = 0; i < N_OBS / 2; i++)
      g->speed[i] += 1e-4f * g->actions[0][i % N_ACT];
    memcpy(g->batch_obs[g->batch_fill], obs, sizeof g->batch_obs[0]);
    expert_action(obs, g->batch_target[g->batch_fill]);
    g->batch_fill = (g->batch_fill + 1) % BATCH;
    if (ok && f >= BATCH && f % train_every == 0) {
      ok = call_agent(&h, "train", 0, 1);
      if (ok) {
        last_loss = lua_tonumber(h.L, -1);
        if (first_loss < 0) first_loss = last_loss;
        lua_pop(h.L, 1);
      }
    }
    struct stat st;
    int changed = f % 30 == 0 && stat(policy, &st) == 0 &&
                  st.st_mtime != h.policy_mtime;
    if (ok && (changed || (check && f == frames / 2))) {
      float before_reload[N_ACT];
      ok = infer(&h, obs);
      memcpy(before_reload, g->actions[0], sizeof before_reload);
      ok = ok && load_policy(&h) && infer(&h, obs);
      if (ok && memcmp(before_reload, g->actions[0], sizeof before_reload)) {
        fprintf(stderr, "game_host: reload changed the policy's output\n");
        ok = 0;
      }
      if (ok) printf("frame %d: reloaded %s (weights kept)\n", f, policy);
      reloads++;
      since_load = 0;
    }
  }
  if (ok) {
    qsort(latency, (size_t)frames, sizeof *latency, compare_double);
    printf("frames %d, reloads %d, loss %.4f -> %.4f\n", frames, reloads,
           first_loss, last_loss);
    printf("inference per frame: p50 %.2f us, p99 %.2f us, mean %.2f us\n",
           latency[frames / 2], latency[(size_t)(frames * 0.99)],
           total_us / frames);
    printf("allocator calls in %d warm inference frames: %zu\n", warm_frames,
           warm_calls);
    qsort(plan_latency, (size_t)frames, sizeof *plan_latency, compare_double);
    printf("plan from C per frame: p50 %.2f us, p99 %.2f us, mean %.2f us; "
           "allocator calls %zu; frames whose actions differ from Lua's %d\n",
           plan_latency[frames / 2], plan_latency[(size_t)(frames * 0.99)],
           plan_total_us / frames, plan_warm_calls, mismatches);
  }
  if (ok && check && (plan_warm_calls != 0 || mismatches != 0)) {
    fprintf(stderr, "game_host: the plan called the allocator %zu times or "
                    "differed from Lua in %d frames\n", plan_warm_calls,
            mismatches);
    ok = 0;
  }
  if (ok && check && (warm_calls != 0 || warm_frames < 1000)) {
    fprintf(stderr, "game_host: expected 0 allocator calls in >= 1000 warm "
                    "frames, got %zu in %d\n", warm_calls, warm_frames);
    ok = 0;
  }
  if (ok && check && !(last_loss < first_loss)) {
    fprintf(stderr, "game_host: training did not lower the loss\n");
    ok = 0;
  }
  lg_plan_release(h.plan); /* before its context goes with the state */
  if (h.L) lua_close(h.L);
  if (c.live_bytes != 0) {
    fprintf(stderr, "game_host: %zu bytes still allocated after lua_close\n",
            c.live_bytes);
    ok = 0;
  }
  free(latency);
  free(plan_latency);
  free(g);
  return ok ? 0 : 1;
}
