-- luagrad-scm-1.rockspec: builds luagrad (the C module luagrad.so and the
-- Lua library luagrad.*) with LuaRocks through the project's CMake build.
-- System packages needed first (Debian): liblua5.4-dev libopenblas-dev
-- zlib1g-dev libedit-dev cmake.
rockspec_format = "3.0"
package = "luagrad"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Tensors with autograd and nn for Lua 5.4, in C",
  detailed = [[
luagrad is a Lua 5.4-scriptable tensor library: a C11 runtime with reverse
mode autograd, PyTorch-style nn modules, func transforms and optimizers, and
a C API (luagrad_lua.h) for engines that embed Lua.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
-- OpenBLAS, zlib and libedit are found by CMake through pkg-config (Debian
-- keeps cblas.h in a multiarch directory LuaRocks does not search), and
-- CMake's error names whichever is missing.
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    -- where LuaRocks wants the C module and the Lua files of this rock
    LUAGRAD_ROCK_LIBDIR = "$(LIBDIR)",
    LUAGRAD_ROCK_LUADIR = "$(LUADIR)",
  },
}
test = {
  type = "command",
  command = "lua -e 'local lg = require \"luagrad\"; assert(lg.nn.Linear(2, 1)(lg.ones(1, 2)))'",
}
