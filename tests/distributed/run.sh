#!/usr/bin/env bash
# tests/distributed/run.sh NP SCRIPT [expect-failure PATTERN]: runs SCRIPT
# under `mpirun --oversubscribe -np NP` with the luagrad executable in
# $LUAGRAD_EXE, within a time limit. With expect-failure, the job must end
# (not hang) with a non-zero status and print PATTERN. Without mpirun (or a
# build without MPI) it prints why and exits 77, which ctest reports as
# skipped.
set -u
np=$1 script=$2 mode=${3:-} pattern=${4:-}
if ! command -v mpirun >/dev/null; then
  echo "SKIPPED: mpirun not found (install openmpi-bin libopenmpi-dev)"; exit 77
fi
if ! "$LUAGRAD_EXE" -e 'os.exit(require("luagrad").distributed.is_available() and 0 or 1)'; then
  echo "SKIPPED: luagrad was built without MPI"; exit 77
fi
output=$(timeout 60 mpirun --oversubscribe -np "$np" "$LUAGRAD_EXE" "$script" 2>&1)
status=$?
echo "$output" | grep -v ORTE_ERROR_LOG
if [ "$mode" = expect-failure ]; then
  if [ $status -eq 124 ]; then echo "FAIL: the job hung (killed after 60 s)"; exit 1; fi
  if [ $status -eq 0 ]; then echo "FAIL: the job succeeded"; exit 1; fi
  if ! grep -q -- "$pattern" <<<"$output"; then echo "FAIL: no '$pattern' in the output"; exit 1; fi
  exit 0
fi
exit $status
