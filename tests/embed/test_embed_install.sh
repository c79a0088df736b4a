#!/usr/bin/env bash
# test_embed_install.sh: after `cmake --install`, the worked example that
# opens lua/binding/luagrad_lua.h compiles against the installed header and
# libluagrad and runs, and a stock lua5.4 uses out= and nn from the
# installed module.
set -euo pipefail
build_dir=$1
source_dir=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
header="$prefix/include/luagrad/luagrad_lua.h"
test -f "$header"
# the example: the comment lines between "A worked example" and "Rules:"
sed -n '/^ \*   #include <stdio.h>/,/ \* Rules:/p' "$header" | sed -n 's/^ \*   //p' \
  > "$prefix/host.c"
libdir=$(ls -d "$prefix"/lib*/ | head -1)
cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Werror "$prefix/host.c" \
   -I"$prefix/include/luagrad" $(pkg-config --cflags lua5.4) \
   -L"$libdir" -lluagrad $(pkg-config --libs lua5.4) -o "$prefix/host"
out=$(LD_LIBRARY_PATH="$libdir" "$prefix/host" | head -1)
[ "$out" = "2 0 6" ] || { echo "header example printed: $out"; exit 1; }
export LUA_CPATH="$prefix/lib/lua/5.4/?.so;;"
export LUA_PATH="$prefix/share/lua/5.4/?.lua;$prefix/share/lua/5.4/?/init.lua;;"
out=$(lua5.4 -e '
  local lg = require "luagrad"
  local net = lg.nn.Linear(3, 2)
  local x, y = lg.ones(4, 3), lg.empty(4, 2)
  local r = lg.no_grad(function()
    return lg.addmm(net.bias, x, net.weight:t(), {out = y}) end)
  local ref = lg.no_grad(function() return net(x) end)
  print(rawequal(r, y), (y - ref):abs():max():item() == 0)')
[ "$out" = "true	true" ] || { echo "stock lua5.4 printed: $out"; exit 1; }
echo "embed install test passed: header example and stock lua5.4 from $prefix"
