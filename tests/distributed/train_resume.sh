#!/usr/bin/env bash
# tests/distributed/train_resume.sh: scripts/train_fashion_mnist.lua
# --distributed under mpirun -np 2 on 2000 images: a run stopped after epoch
# 1 and resumed from rank 1's checkpoint ends exactly like an uninterrupted
# run. Skips (77) without mpirun, MPI or the dataset.
set -u
here=$(cd "$(dirname "$0")" && pwd)
script=$here/../../scripts/train_fashion_mnist.lua
if ! command -v mpirun >/dev/null ||
   ! "$LUAGRAD_EXE" -e 'os.exit(require("luagrad").distributed.is_available() and 0 or 1)'; then
  echo "SKIPPED: no mpirun or luagrad was built without MPI"; exit 77
fi
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "SKIPPED: dataset-fashion-mnist is not installed"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
train() {
  timeout 120 mpirun --oversubscribe -np 2 "$LUAGRAD_EXE" "$script" --distributed \
    --limit 2000 --epochs 2 --threads 1 --curves "$work/curves.svg" "$@" 2>&1 |
    grep -a '^epoch [0-9]*:\|^resumed'
}
whole=$(train) || { echo "FAIL: the uninterrupted run failed"; exit 1; }
train --checkpoint "$work/ck.safetensors" --stop-after 1 >/dev/null
resumed=$(train --checkpoint "$work/ck.safetensors")
echo "uninterrupted:"; echo "$whole"; echo "resumed:"; echo "$resumed"
[ -f "$work/ck.safetensors" ] && [ ! -e "$work/ck.safetensors.tmp" ] ||
  { echo "FAIL: no checkpoint, or a temporary one left behind"; exit 1; }
grep -q '^resumed from' <<<"$resumed" || { echo "FAIL: did not resume"; exit 1; }
[ "$(grep '^epoch 2:' <<<"$whole")" = "$(grep '^epoch 2:' <<<"$resumed")" ] ||
  { echo "FAIL: the resumed epoch 2 differs"; exit 1; }
echo "resumed run equals the uninterrupted one"
