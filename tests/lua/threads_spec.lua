-- threads_spec.lua: work split across the context's threads (large
-- elementwise ops, row reductions, softmax) gives the same bits as one
-- thread, and set_num_threads checks its argument.
local lg = require "luagrad"

describe("threads", function()
  after_each(function() lg.set_num_threads(1) end)

  it("large elementwise ops, reductions and softmax match one thread bit for bit", function()
    lg.manual_seed(3)
    local x, y = lg.randn(700, 900), lg.randn(700, 900)
    local function run()
      return {x + y, x * y, x:exp(), x:tanh(), lg.sigmoid(x), x:sum(2), x:mean(1),
              x:softmax(2), x:log_softmax(1), x:pow(2)}
    end
    lg.set_num_threads(1)
    local one = run()
    lg.set_num_threads(2)
    assert.are.equal(2, lg.get_num_threads())
    local two = run()
    for i = 1, #one do
      assert.are.equal(0, (one[i] - two[i]):abs():max():item(), "result " .. i)
    end
  end)

  it("rejects a bad thread count with a clear error", function()
    local ok, err = pcall(lg.set_num_threads, 0)
    assert.is_false(ok)
    assert.truthy(err:find("set_num_threads", 1, true))
  end)
end)
