# (9) nn.GRU forward+backward: lstm.py's workload with RNN_MODE = "GRU".
import os, runpy
here = os.path.dirname(os.path.abspath(__file__))
runpy.run_path(os.path.join(here, "lstm.py"), init_globals={"RNN_MODE": "GRU"},
               run_name="__main__")
