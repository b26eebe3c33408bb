"""Where a training step's time goes: `torch.profiler` over ten steps of the fastai `Learner` with `RowWiseAdagrad` (what
`dot_product_learner(dls, sparse=True)` uses), one torch
thread, full-size tables (162,001 users, 59,001 items, 50 factors), batches drawn from the first 6M synthetic ratings
(the parquet `bench/bench.py` writes). Prints the mean step time and the ops by self CPU time.

Usage: python bench/profile_step.py [bs]   (default 32768)
"""
import torch, pandas as pd, sys, time
from pathlib import Path
torch.set_num_threads(1)
bs=int(sys.argv[1]) if len(sys.argv) > 1 else 32768
from collab_recs.model import DotProductBias
from collab_recs.fast import fast_dataloaders
from collab_recs.learner import dot_product_learner
from fastai.callback.core import Callback, CancelFitException
df = pd.read_parquet(Path(__file__).resolve().parent.parent/'out'/'bench'/'synthetic-25000000.parquet').iloc[:6_000_000]
dls = fast_dataloaders(df, bs=bs, rating_range=(1,5))
learn = dot_product_learner(dls, n_factors=50, sparse=True)
learn.model = DotProductBias(162001, 59001, 50, sparse=True)
class Stop(Callback):
    order=100
    def after_batch(self):
        if self.iter == 1: self.t = time.perf_counter()
        if self.iter == 11: print(f'{(time.perf_counter()-self.t)/10*1e3:.1f} ms per step'); raise CancelFitException
from torch.profiler import profile
with learn.no_bar(), learn.no_logging():
    learn.fit_one_cycle(1, 0.1, wd=0.05, cbs=Stop())
    with profile() as prof: learn.fit_one_cycle(1, 0.1, wd=0.05, cbs=Stop())
print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=16))
