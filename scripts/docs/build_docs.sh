#!/bin/sh
# scripts/docs/build_docs.sh OUT_DIR: generates luagrad's HTML reference
# with LDoc (Debian's lua-ldoc) from the doc comments of lua/luagrad and
# lua/binding (configuration: config.ld beside this script), failing on any
# LDoc warning. Debian's ldoc script asks for Lua 5.1/5.2 through lua-any;
# the library runs under 5.4, so it is run with lua5.4 (or, without it,
# with luagrad's own interpreter, LUAGRAD_EXE).
set -eu
out=${1:?usage: build_docs.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
ldoc=$(command -v ldoc || true)
if [ -z "$ldoc" ]; then
  echo "docs: ldoc was not found (apt-get install lua-ldoc; scripts/setup does)" >&2
  exit 1
fi
lua=$(command -v lua5.4 || true)
[ -n "$lua" ] || lua=${LUAGRAD_EXE:?docs: neither lua5.4 nor LUAGRAD_EXE}
# LDoc takes a file's first doc comment for its module comment, so every
# file with doc comments must open with one naming its module; say so
# plainly rather than with LDoc's "'class' cannot have multiple values".
root=$(cd "$here/../.." && pwd)
missing=0
for f in "$root"/lua/binding/*.c "$root"/lua/binding/distributed/*.c; do
  if grep -q '^ */\*\*\*' "$f" && ! grep -q '@module' "$f"; then
    echo "docs: ${f#$root/} has doc comments but no module block: add" \
         "/*** <what the file holds>. @module lg */ below its opening comment" >&2
    missing=1
  fi
done
for f in $(find "$root/lua/luagrad" -name '*.lua'); do
  if grep -q '^ *--- ' "$f" && ! grep -q '^-- @module' "$f"; then
    echo "docs: ${f#$root/} has doc comments but no module: make its opening" \
         "comment '--- <what it holds>' ending with '-- @module <name>'" \
         "(as lua/luagrad/func.lua)" >&2
    missing=1
  fi
done
[ "$missing" -eq 0 ] || exit 1
mkdir -p "$out"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cd "$here"
status=0
"$lua" "$ldoc" --fatalwarnings -q -d "$out" . >"$log" 2>&1 || status=$?
# LDoc prints "found master module" for every file merged into a module
# (nn, func, lg, ...): information, not a warning.
grep -v -e '^found master module' -e '^reading configuration' "$log" >&2 || true
if grep -v -e '^found master module' -e '^reading configuration' "$log" | grep -q .; then
  status=1
fi
[ "$status" -eq 0 ] && echo "docs: $out/index.html"
exit "$status"
