/* mpi_lua.c: the MPI calls under lg.distributed (lua/luagrad/distributed.lua),
 * as the module's `_mpi` table; built only when CMake finds MPI.
 *
 * Every collective works on contiguous tensor buffers (distributed.lua makes
 * the contiguous copies and checks shapes first), in place for all_reduce
 * and broadcast. An async collective returns a request whose userdata keeps
 * the tensors it reads and writes alive until it completes. After init, an
 * uncaught script error calls MPI_Abort (the executable's
 * "luagrad.on_uncaught_error" hook), so one failing rank ends the job
 * instead of leaving the others blocked in a collective; a normal exit
 * finalizes. Before MPI_Init, two Open MPI defaults that measured slower
 * here are changed unless the user set them: 2-rank async all-reduces take
 * libnbc's ring, and ranks on one node copy through shared buffers instead
 * of CMA. */
#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lgl.h"

static const char request_type[] = "luagrad.distributed.Request";
static int world_rank = 0, world_size = 1;
/* Whether the ranks on this node fit its CPUs (poll_wait spins then). */
static bool own_core = false;

static bool mpi_active(void) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

static void finalize_at_exit(void) {
  if (mpi_active()) MPI_Finalize();
}

/* The executable calls this after printing an uncaught error. */
static int abort_job(lua_State *L) {
  if (!mpi_active()) return 0;
  fprintf(stderr, "luagrad: rank %d of %d failed (the error above); "
          "aborting the whole job\n", world_rank + 1, world_size);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  (void)L;
  return 0;
}

static int raise_mpi(lua_State *L, const char *fname, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return luaL_error(L, "%s: MPI error: %s", fname, text);
}

/* Open MPI 4.1's non-blocking all-reduce (coll/libnbc, under every async
 * all_reduce and DDP's buckets) takes its binomial algorithm below 4 ranks:
 * a reduce into rank 0, then a broadcast, every byte twice through one
 * rank. On 2 ranks its ring (a reduce-scatter, then an all-gather: each
 * rank moves half) measured 0.15 ms against 0.26-0.5 ms for 0.8 MB, and no
 * slower for small buffers; at 3 ranks neither wins, and from 4 up libnbc
 * picks the ring itself for large buffers. So a 2-rank Open MPI job gets
 * the ring unless the user chose (the variable is read by MPI_Init; other
 * MPIs ignore it). */
static void prefer_ring_allreduce(void) {
  const char *size = getenv("OMPI_COMM_WORLD_SIZE");
  if (size && !strcmp(size, "2"))
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "ring", 0);
}

/* Open MPI's shared-memory transport (btl/vader) moves a large message in
 * one copy by default, the receiver reading the sender's memory through
 * process_vm_readv (CMA). On the KVM guests measured that ran slower than
 * copying through vader's shared buffers twice: 2 ranks, p50 of 200-600
 * calls from C, 0.8 MB: MPI_Allreduce 128 -> 96 us, the ring Iallreduce
 * 221 -> 114 us; 25 MB: 6.4 -> 3.7 ms and 12.0 -> 6.4 ms; the MLP's
 * 2-process epoch 345-364 -> 293-298 ms (scripts/bench/FINDINGS_CONTINUED.md,
 * "CMA"). So the copies are the default unless the user chose
 * (OMPI_MCA_btl_vader_single_copy_mechanism=cma brings CMA back); only
 * messages between ranks of one node use vader. */
static void prefer_shared_buffer_copies(void) {
  setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
}

/* The number of ranks sharing this node's memory (and CPUs). */
static int ranks_on_this_node(void) {
  MPI_Comm node;
  int n = 1;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
                          MPI_INFO_NULL, &node) != MPI_SUCCESS)
    return world_size; /* the safe guess: all of them */
  MPI_Comm_size(node, &n);
  MPI_Comm_free(&node);
  return n;
}

/* _mpi.init() -> rank (0-based), size */
static int l_init(lua_State *L) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized)
    return luaL_error(L, "distributed.init: MPI was finalized in this process and "
                      "cannot start again");
  if (!mpi_active()) {
    prefer_ring_allreduce();
    prefer_shared_buffer_copies();
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return raise_mpi(L, "init", rc);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    atexit(finalize_at_exit);
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  own_core = ranks_on_this_node() <= sysconf(_SC_NPROCESSORS_ONLN);
  lua_pushcfunction(L, abort_job);
  lua_setfield(L, LUA_REGISTRYINDEX, "luagrad.on_uncaught_error");
  lua_pushinteger(L, world_rank);
  lua_pushinteger(L, world_size);
  return 2;
}

static int l_finalize(lua_State *L) {
  (void)L;
  if (mpi_active()) MPI_Finalize();
  return 0;
}

static int l_abort(lua_State *L) {
  int code = (int)luaL_optinteger(L, 1, 1);
  if (mpi_active()) MPI_Abort(MPI_COMM_WORLD, code);
  return 0;
}

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Waits for req. A rank with a core of its own (the ranks on this node fit
 * its CPUs) polls MPI_Test without a break for up to SPIN_S, as MPI_Wait
 * would: a sched_yield there hands the core to any other runnable process
 * for up to a scheduler slice, and on a busy machine that made the wait for
 * a 0.8 MB all-reduce (~0.15 ms of work) take 1-2 ms at the median. Then
 * (at once when the node is oversubscribed, so a rank spinning there would
 * take the CPU from the rank it waits for: an MLP step ~2x slower on 2
 * cores with 3 ranks) it polls with sched_yield between polls until 2 ms
 * more have passed, and after that with sleeps growing from 20 to 200 us,
 * so a long wait (a rank far behind, a barrier) costs little CPU. Only
 * sleeping would cost a quiet machine ~25% on a 25 MB all_reduce. */
#define SPIN_S 5e-3
#define YIELD_S 2e-3

static int poll_wait(lua_State *L, MPI_Request *req, const char *fname) {
  long pause_ns = 20000;
  double started = 0, spin = own_core ? SPIN_S : 0;
  enum { SPIN, YIELD, SLEEP } phase = SPIN;
  for (int polls = 0;; polls++) {
    int done = 0;
    int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return raise_mpi(L, fname, rc);
    if (done) return 0;
    if (polls < 64) continue;
    if ((polls & 63) == 0) { /* the clock, every 64 polls */
      double now = seconds_now();
      if (polls == 64) started = now;
      double waited = now - started;
      phase = waited < spin ? SPIN : waited < spin + YIELD_S ? YIELD : SLEEP;
    }
    if (phase == YIELD) {
      sched_yield();
    } else if (phase == SLEEP) {
      struct timespec pause = {0, pause_ns};
      nanosleep(&pause, NULL);
      if (pause_ns < 200000) pause_ns += pause_ns / 4;
    }
  }
}

static int l_barrier(lua_State *L) {
  MPI_Request req;
  int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req);
  if (rc != MPI_SUCCESS) return raise_mpi(L, "barrier", rc);
  return poll_wait(L, &req, "barrier");
}

/* _mpi.allgather_ints({a, b, ...}) -> {{...rank 1's}, {...rank 2's}, ...}:
 * every rank passes the same count of integers (the collectives' header). */
static int l_allgather_ints(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = (int)lua_rawlen(L, 1);
  int64_t *buf = lua_newuserdatauv(
      L, sizeof(int64_t) * (size_t)n * (size_t)(world_size + 1), 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    buf[i] = (int64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  int64_t *all = buf + n;
  MPI_Request req;
  int rc = MPI_Iallgather(buf, n, MPI_INT64_T, all, n, MPI_INT64_T,
                          MPI_COMM_WORLD, &req);
  if (rc != MPI_SUCCESS) return raise_mpi(L, "header exchange", rc);
  poll_wait(L, &req, "header exchange");
  lua_createtable(L, world_size, 0);
  for (int r = 0; r < world_size; r++) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
      lua_pushinteger(L, (lua_Integer)all[r * n + i]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_rawseti(L, -2, r + 1);
  }
  return 1;
}

static MPI_Datatype mpi_type(lg_dtype dtype) {
  switch (dtype) {
    case LG_FLOAT32: return MPI_FLOAT;
    case LG_FLOAT64: return MPI_DOUBLE;
    case LG_INT32: return MPI_INT32_T;
    case LG_INT64: return MPI_INT64_T;
    default: return MPI_UINT8_T; /* uint8, bool (one byte, 0 or 1) */
  }
}

/* sum, mean (a sum here), max, min, prod; on bool: or for sum and max,
 * and for prod and min. */
static MPI_Op mpi_op(lua_State *L, const char *name, lg_dtype dtype) {
  bool is_bool = dtype == LG_BOOL;
  if (!strcmp(name, "sum") || !strcmp(name, "mean"))
    return is_bool ? MPI_LOR : MPI_SUM;
  if (!strcmp(name, "max")) return is_bool ? MPI_LOR : MPI_MAX;
  if (!strcmp(name, "min")) return is_bool ? MPI_LAND : MPI_MIN;
  if (!strcmp(name, "prod")) return is_bool ? MPI_LAND : MPI_PROD;
  luaL_error(L, "all_reduce: op must be sum, mean, max, min or prod, got %s",
             name);
  return MPI_OP_NULL;
}

typedef struct request {
  MPI_Request req;
  bool active;
} request;

static int wait_request(lua_State *L, request *r) {
  if (!r->active) return 0;
  r->active = false;
  if (!mpi_active()) return 0;
  return poll_wait(L, &r->req, "wait");
}

static int request_wait(lua_State *L) {
  wait_request(L, luaL_checkudata(L, 1, request_type));
  return 0;
}

static int request_test(lua_State *L) {
  request *r = luaL_checkudata(L, 1, request_type);
  int done = 1;
  if (r->active && mpi_active()) {
    int rc = MPI_Test(&r->req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return raise_mpi(L, "is_completed", rc);
    if (done) r->active = false;
  }
  lua_pushboolean(L, done);
  return 1;
}

static int64_t checked_count(lua_State *L, lg_tensor *t, const char *fname) {
  if (!lg_tensor_is_contiguous(t))
    luaL_error(L, "%s: internal: expected a contiguous buffer", fname);
  int64_t n = lg_tensor_numel(t);
  if (n > INT_MAX)
    luaL_error(L, "%s: a tensor of %lld elements is more than one MPI call "
               "takes (%d)", fname, (long long)n, INT_MAX);
  return n;
}

/* _mpi.run(kind, send, recv, op, root, async) -> request or nothing.
 * kind: all_reduce (recv == send, in place), broadcast (in place, root is
 * 0-based), all_gather (recv holds size x send), reduce_scatter (send holds
 * size x recv). */
static int l_run(lua_State *L) {
  const char *kind = luaL_checkstring(L, 1);
  lg_tensor *send = lgl_check_tensor(L, 2, kind);
  lg_tensor *recv = lgl_check_tensor(L, 3, kind);
  const char *op_name = luaL_optstring(L, 4, "sum");
  int root = (int)luaL_optinteger(L, 5, 0);
  bool async = lua_toboolean(L, 6);
  lg_dtype dtype = lg_tensor_dtype(send);
  MPI_Datatype type = mpi_type(dtype);
  int n_send = (int)checked_count(L, send, kind);
  int n_recv = (int)checked_count(L, recv, kind);
  void *sbuf = lg_tensor_data(send), *rbuf = lg_tensor_data(recv);
  request *r = NULL;
  if (async) {
    r = lua_newuserdatauv(L, sizeof *r, 2);
    r->active = false;
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, 3);
    lua_setiuservalue(L, -2, 2);
    luaL_setmetatable(L, request_type);
  }
  MPI_Request *req = r ? &r->req : NULL;
  int rc;
  if (!strcmp(kind, "all_reduce")) {
    MPI_Op op = mpi_op(L, op_name, dtype);
    rc = req ? MPI_Iallreduce(MPI_IN_PLACE, rbuf, n_recv, type, op,
                              MPI_COMM_WORLD, req)
             : MPI_Allreduce(MPI_IN_PLACE, rbuf, n_recv, type, op,
                             MPI_COMM_WORLD);
  } else if (!strcmp(kind, "broadcast")) {
    rc = req ? MPI_Ibcast(rbuf, n_recv, type, root, MPI_COMM_WORLD, req)
             : MPI_Bcast(rbuf, n_recv, type, root, MPI_COMM_WORLD);
  } else if (!strcmp(kind, "all_gather")) {
    rc = req ? MPI_Iallgather(sbuf, n_send, type, rbuf, n_send, type,
                              MPI_COMM_WORLD, req)
             : MPI_Allgather(sbuf, n_send, type, rbuf, n_send, type,
                             MPI_COMM_WORLD);
  } else if (!strcmp(kind, "reduce_scatter")) {
    MPI_Op op = mpi_op(L, op_name, dtype);
    rc = req ? MPI_Ireduce_scatter_block(sbuf, rbuf, n_recv, type, op,
                                         MPI_COMM_WORLD, req)
             : MPI_Reduce_scatter_block(sbuf, rbuf, n_recv, type, op,
                                        MPI_COMM_WORLD);
  } else {
    return luaL_error(L, "distributed: unknown collective %s", kind);
  }
  if (rc != MPI_SUCCESS) return raise_mpi(L, kind, rc);
  if (!r) return 0;
  r->active = true;
  return 1;
}

/* Seconds on MPI's clock, for the benchmarks. */
static int l_wtime(lua_State *L) {
  lua_pushnumber(L, MPI_Wtime());
  return 1;
}

static const luaL_Reg functions[] = {
    {"init", l_init},         {"finalize", l_finalize},
    {"abort", l_abort},       {"barrier", l_barrier},
    {"run", l_run},           {"allgather_ints", l_allgather_ints},
    {"wtime", l_wtime},       {NULL, NULL},
};

void lgl_open_distributed(lua_State *L, const lgl_tables *T) {
  luaL_newmetatable(L, request_type);
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, request_wait);
  lua_setfield(L, -2, "wait");
  lua_pushcfunction(L, request_test);
  lua_setfield(L, -2, "is_completed");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, request_wait); /* never free a buffer MPI writes */
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_newtable(L);
  lgl_setfuncs(L, functions, T->state, T->meta);
  lua_setfield(L, T->module, "_mpi");
}
