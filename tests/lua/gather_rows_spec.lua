-- gather_rows_spec.lua: gather along the last dim with int64 indices (the
-- row loop split across threads in index.c, F.fold's backward) and
-- scatter_add of one line of indices along the last dim (its row split,
-- F.unfold's backward): checked against per-element references for a
-- strided source, an expanded (stride-0) index and every 4- and 8-byte
-- dtype, at 1 and 2 threads with the same bits.
local lg = require "luagrad"
local root = os.getenv("LUAGRAD_SOURCE_DIR") or "."
package.path = root .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"

describe("gather and scatter_add along the last dim by rows", function()
  after_each(function() lg.set_num_threads(1) end)

  for _, dtype in ipairs({"float32", "float64", "int64", "int32"}) do
    it("gathers like the element loop, " .. dtype, function()
      lg.manual_seed(3)
      -- x (32, 40, 300) read through a transpose; the index a line expanded
      -- over the first two dims, plus a dense one
      local x = (lg.randn(32, 300, 40) * 100):to(dtype):transpose(2, 3)
      local line = lg.randint(1, 301, {700})
      local expanded = line:reshape(1, 1, 700):expand(32, 40, 700)
      local dense = lg.randint(1, 301, {32, 40, 700})
      for _, index in ipairs({expanded, dense}) do
        local results = {}
        for threads = 1, 2 do
          lg.set_num_threads(threads)
          results[threads] = x:gather(3, index)
        end
        H.same_bits(results[1], results[2], "1 and 2 threads")
        for _, at in ipairs({{1, 1, 1}, {32, 40, 700}, {3, 2, 351}, {17, 25, 9}}) do
          local i, j, k = at[1], at[2], at[3]
          assert.are.equal(x[i][j][index[i][j][k]], results[1][i][j][k])
        end
      end
    end)
  end

  it("scatter_adds a line of indices the same at 1 and 2 threads", function()
    lg.manual_seed(4)
    local src = lg.randn(64, 16, 2000)
    local line = lg.randint(1, 101, {2000})
    local index = line:reshape(1, 1, 2000):expand(64, 16, 2000)
    local results = {}
    for threads = 1, 2 do
      lg.set_num_threads(threads)
      results[threads] = lg.zeros(64, 16, 100):scatter_add(3, index, src)
    end
    H.same_bits(results[1], results[2], "1 and 2 threads")
    -- one row against its own sums in float64
    local want = lg.zeros(100, {dtype = "float64"})
    want = want:scatter_add(1, line, src[7][3]:double())
    H.agree(results[1][7][3]:double(), want, 1e-4, "row 7, 3")
  end)
end)
