-- (9) nn.GRU forward+backward: lstm.lua's workload with RNN_MODE = "GRU".
RNN_MODE = "GRU"
dofile(arg[0]:match("(.*/)") .. "lstm.lua")
