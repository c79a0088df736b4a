#!/usr/bin/env bash
# test_install.sh: installs the build into a temporary prefix and checks that
# a stock lua5.4 loads luagrad from the standard Lua paths under it.
set -euo pipefail
build_dir=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
export LUA_CPATH="$prefix/lib/lua/5.4/?.so;;"
export LUA_PATH="$prefix/share/lua/5.4/?.lua;$prefix/share/lua/5.4/?/init.lua;;"
out=$(lua5.4 -e '
  local lg = require "luagrad"
  local x = lg.tensor({{1, 2}, {3, 4}}, {dtype = "float64", requires_grad = true})
  local y = x * x * 2
  y:backward(lg.ones_like(y))
  print(x.grad:tolist()[2][1], lg.autograd ~= nil)')
[ "$out" = "12.0	true" ] || { echo "unexpected output: $out"; exit 1; }
test -f "$prefix/include/luagrad/luagrad.h"
test -x "$prefix/bin/luagrad"
echo "install test passed: stock lua5.4 runs require \"luagrad\" from $prefix"
