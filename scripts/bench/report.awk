# scripts/bench/report.awk: turns the driver's results (threads, workload,
# key, side, round, microseconds; tab-separated) into medians over rounds,
# and prints either the progress lines of one workload (mode=progress, t, w)
# or the final markdown table (mode=table).

function median(k,    c, i, j, tmp, a) {
  c = n[k]
  for (i = 1; i <= c; i++) a[i] = v[k, i]
  for (i = 2; i <= c; i++)             # insertion sort: a handful of rounds
    for (j = i; j > 1 && a[j - 1] > a[j]; j--) { tmp = a[j]; a[j] = a[j - 1]; a[j - 1] = tmp }
  return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}

function human(us) {
  if (us == "") return "-"
  if (us < 1000) return sprintf("%.2f µs", us)
  if (us < 1e6) return sprintf("%.2f ms", us / 1000)
  return sprintf("%.2f s", us / 1e6)
}

# the issue's target for a key: the largest allowed luagrad/PyTorch ratio
function target(key) {
  if (key == "compile_mlp_forward") return 0.1
  if (key == "compile_train_step") return 0.05
  if (key ~ /^compile_chain/) return 1.0
  if (key == "epoch_mlp_compiled") return 0.5
  if (key == "epoch_mlp_pure_eager") return 1.0
  if (key ~ /^mlp_forward$/) return 0.15
  if (key ~ /^mlp_grad$/) return 0.05
  if (key ~ /^mlp_sgd_step$/) return 0.15
  if (key ~ /_4$/) return 0.3
  return 1.0
}

function label(key) {
  if (key == "compile_mlp_forward") return "(12) func.compile MLP 16-32-4 forward b1 vs torch.jit frozen"
  if (key == "compile_train_step") return "(12) func.compile MLP SGD step (grad+functional_call+optim.fn) vs eager"
  if (key == "compile_chain_1M") return "(12) func.compile ((x*2+1):tanh()*y):sum() 1M float32"
  if (key == "compile_chain_1M_eager") return "(12) the same chain, luagrad eager (no PyTorch side)"
  if (key == "epoch_mlp_compiled") return "(13) Fashion-MNIST epoch, MLP Adam, compiled pure step vs PyTorch eager *"
  if (key == "epoch_mlp_pure_eager") return "(13) the same pure step, luagrad eager (no PyTorch side) *"
  if (key == "mlp_forward") return "(1) MLP 16-32-4 forward, batch 1, no grad"
  if (key == "mlp_grad") return "(2) func.grad(functional_call) MLP MSE"
  if (key == "mlp_sgd_step") return "(3) MLP SGD step"
  if (key ~ /_4$|_1M$/) { split(key, p, "_"); return "(4) " p[1] " " p[2] " float32" }
  if (key ~ /_rows$/) { split(key, p, "_"); return "(5) " p[1] " over rows 1024x1024" }
  if (key == "sgemm") return "(6) sgemm 1024^3"
  if (key == "conv2d_fwd_bwd") return "(7) conv2d fwd+bwd b64 1-32-64 3x3 28x28"
  if (key == "conv2d_fwd") return "(7) conv2d fwd b64 1-32-64 3x3 28x28, no grad"
  if (key == "epoch_mlp") return "(8) Fashion-MNIST epoch, MLP 784-256-10 Adam *"
  if (key == "epoch_cnn") return "(8) Fashion-MNIST epoch, CNN Adam *"
  if (key == "jvp_mlp") return "(11) func.jvp MLP 16-32-4 over functional_call"
  if (key == "jvp_mlp_forward") return "(11) the same MLP's forward (jvp reference)"
  if (key == "jvp_mlp_double_vjp") return "(11) the double-vjp jvp form (jvp reference)"
  if (key == "jacfwd_16_512") return "(11) jacfwd R^16 -> R^512"
  if (key == "jacrev_16_512") return "(11) jacrev R^16 -> R^512 (jacfwd reference)"
  if (key == "hessian_64") return "(11) hessian, MLP loss in 64 parameters"
  if (key ~ /^(lstm|gru)_T[0-9]+$/) {
    split(key, p, "_T"); return "(9) nn." toupper(p[1]) " fwd+bwd b32 64-128, T=" p[2]
  }
  if (key == "char_rnn_step") return "(10) char_rnn train step, LSTM 256, T=128 b32"
  if (key == "per_sample_grads") return "(11) vmap(grad) per-sample grads MLP 784-128-10 b64"
  if (key == "per_sample_grads_loop") return "(11) per-example loop of grad (the same)"
  if (key == "ensemble_forward") return "(11) ensemble of 10 MLPs 784-128-10 b64 forward"
  if (key == "jacrev") return "(11) jacrev 64->64 two-layer tanh MLP"
  if (key == "adam_step") return "(13) Adam step, MLP 784-256-10 (203k params)"
  if (key == "adamw_step") return "(13) AdamW step, MLP 784-256-10 (203k params)"
  return key
}

{
  k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
  v[k, ++n[k]] = $6
  row = $1 SUBSEP $2 SUBSEP $3
  if (!(row in seen)) { seen[row] = 1; rows[++nrows] = row }
}

function line(row, fmt,    p, key, l, py, d, ratio, tgt, met, extra) {
  split(row, p, SUBSEP)
  key = p[3]
  l = median(row SUBSEP "luagrad"); py = median(row SUBSEP "pytorch")
  ratio = (py > 0) ? l / py : 0
  if (key == "sgemm") {
    d = median(row SUBSEP "direct")
    tgt = sprintf(">= 95%% of direct OpenBLAS (%s): %.1f%%", human(d), 100 * d / l)
    met = (d / l >= 0.95) ? "yes" : "no"
  } else if (key == "conv2d_fwd") { # also: GFLOP/s against direct sgemm's
    # 2 * 64 * 784 * (32 * 9 + 64 * 288) multiply-adds; sgemm: 2 * 1024^3
    d = median(p[1] SUBSEP p[2] SUBSEP "sgemm" SUBSEP "direct")
    gf = 2 * 64 * 784 * (32 * 9 + 64 * 288) / (l * 1e3)
    sg = (d > 0) ? 2 * 1024 ^ 3 / (d * 1e3) : 0
    tgt = sprintf("<= 1; %.1f GFLOP/s, >= 60%% of sgemm's %.1f: %.0f%%", gf, sg,
                  sg > 0 ? 100 * gf / sg : 0)
    met = (ratio <= 1 && sg > 0 && gf >= 0.6 * sg) ? "yes" : "no"
  } else if (key ~ /_T512$/) { # also: linear in T, within 10% of 8x T=64
    sub(/_T512$/, "_T64", key)
    d = l / (8 * median(p[1] SUBSEP p[2] SUBSEP key SUBSEP "luagrad"))
    tgt = sprintf("<= %s; <= 1.10 of 8x T=64: %.2f", target(p[3]), d)
    met = (ratio <= target(p[3]) && d <= 1.10) ? "yes" : "no"
    key = p[3]
  } else {
    tgt = sprintf("<= %s", target(key))
    met = (ratio <= target(key)) ? "yes" : "no"
  }
  if (fmt == "table")
    printf "| %s | %s | %s | %s | %.3f | %s | %s |\n", label(key), p[1], human(l), human(py), ratio, tgt, met
  else
    printf "%-4s t=%s  %-16s luagrad %12s  pytorch %12s  ratio %7.3f  (target %s: %s)\n",
           p[2], p[1], key, human(l), human(py), ratio, tgt, met
}

END {
  if (mode == "table") {
    print "| workload | threads | luagrad | PyTorch | ratio | target | met? |"
    print "|---|---|---|---|---|---|---|"
  }
  for (i = 1; i <= nrows; i++) {
    split(rows[i], p, SUBSEP)
    if (p[3] == "sgemm" && p[2] != "sgemm") continue # conv's GFLOP/s reference
    if (mode == "table" || (p[1] == t && p[2] == w)) line(rows[i], mode)
  }
  if (mode == "table") {
    print ""
    print "ratio = luagrad time / PyTorch time (lower is better); times are per call,"
    print "(6) compares luagrad with cblas_sgemm called from C (sgemm_direct.c)."
    print "* epochs extrapolated from BENCH_EPOCH_BATCHES timed batches (default 40 MLP, 4 CNN)"
    print "  times the epoch's 469 batches; data loading included on both sides."
  }
}
