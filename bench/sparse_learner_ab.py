"""Side by side in one process, through the fastai `Learner`, on the 25M synthetic set (bs=32768 unless given):
`SparseAdam` against the previous coalesce-based step, and one against two torch threads; 40 timed batches each, two rounds.

Usage: python bench/sparse_learner_ab.py [bs]
"""
import torch, pandas as pd, time, os, json, sys
from functools import partial
from fastai.optimizer import Optimizer
from fastai.callback.core import Callback, CancelFitException
from fastai.torch_core import set_seed
from collab_recs.fast import fast_dataloaders
from collab_recs.learner import dot_product_learner, SparseAdam
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); from sparse_step import old_step
bs = int(sys.argv[1]) if len(sys.argv) > 1 else 32768
df = pd.read_parquet(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'out', 'bench', 'synthetic-25000000.parquet'))
dls = fast_dataloaders(df, bs=bs, rating_range=(1, 5)); del df
def OldAdam(params, lr=1e-3, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01): return Optimizer(params, [old_step], lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd)
class Timer(Callback):
    order = 100
    def before_fit(self): self.t = None
    def after_batch(self):
        if self.iter == 2: self.t = time.perf_counter()
        if self.iter == 42: self.s = time.perf_counter() - self.t; raise CancelFitException
print('load', os.getloadavg(), flush=True)
res = {}
for rep in range(2):
    for name, opt, th in (('unique, 1 thread', SparseAdam, 1), ('coalesce, 1 thread', OldAdam, 1), ('unique, 2 threads', SparseAdam, 2)):
        torch.set_num_threads(th); set_seed(0)
        learn = dot_product_learner(dls, n_factors=50, sparse=True, opt_func=opt); tm = Timer()
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 5e-2, wd=0.5, cbs=tm)
        res.setdefault(name, []).append(40*bs/tm.s); print(name, f'{40*bs/tm.s:,.0f} ratings/s', flush=True)
print('load', os.getloadavg())
print(json.dumps(res))
