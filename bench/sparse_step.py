"""Side by side in one process: `SparseAdam`'s step (`sum_sparse_rows`: torch.unique + index_add_) against the same step with
`coalesce()` (the previous implementation), on the same sparse gradients of a full-size `DotProductBias` (162,001 users,
59,001 items, 50 factors) at three batch sizes, one torch thread. Needs the synthetic parquet that `bench/bench.py` writes.

Usage: python bench/sparse_step.py   (prints medians of 5 interleaved rounds of 3 timed steps each)
"""
import time, torch, pandas as pd, json, os
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
from collab_recs.model import DotProductBias
from collab_recs.learner import sparse_adam_step
def old_step(  # the step before `sum_sparse_rows`, kept here as the reference
    p, lr, mom, sqr_mom, eps, wd, step=0, avgs=None, **kwargs):
    f = p.shape[-1]
    if avgs is None: avgs = p.data.new_zeros((*p.shape[:-1], 2*f))
    step, g = step + 1, p.grad
    g = g.coalesce(); rows, g = g.indices()[0], g.values()
    st, w = avgs.index_select(0, rows), p.data.index_select(0, rows)
    ga, sa = st[..., :f], st[..., f:]
    ga.mul_(mom).add_(g, alpha=1-mom); sa.mul_(sqr_mom).addcmul_(g, g, value=1-sqr_mom)
    if wd: w.mul_(1 - lr*wd)
    w.addcdiv_(ga, (sa/(1 - sqr_mom**step)).sqrt_().add_(eps), value=-lr/(1 - mom**step))
    avgs.index_copy_(0, rows, st); p.data.index_copy_(0, rows, w)
    return {'avgs':avgs, 'step':step}
def main():
    torch.set_num_threads(1)
    df = pd.read_parquet(ROOT/'out'/'bench'/'synthetic-25000000.parquet', columns=['user','item']).iloc[:3_000_000]
    u = torch.as_tensor(pd.factorize(df.user)[0]+1); i = torch.as_tensor(pd.factorize(df.item)[0]+1)
    order = torch.randperm(len(u))
    print(os.getloadavg())
    for bs in (32768, 131072, 262144):
        sl = order[:bs]; x = torch.stack([u[sl], i[sl]], 1); y = torch.rand(bs, 1)*4+1
        m = DotProductBias(162001, 59001, 50, sparse=True); ps = list(m.parameters())
        res = {}
        for _ in range(5):
            for name, fn in (('old', old_step), ('new', sparse_adam_step)):
                sts = [dict() for p in ps]; tt = {'fb':0., 'opt':0.}
                for k in range(4):
                    t = time.perf_counter(); m.zero_grad(); ((m(x)-y)**2).mean().backward(); t1 = time.perf_counter()
                    for p, s in zip(ps, sts): s.update(fn(p, lr=1e-3, mom=.9, sqr_mom=.99, eps=1e-5, wd=.01, **s))
                    t2 = time.perf_counter()
                    if k: tt['fb'] += (t1-t)/3; tt['opt'] += (t2-t1)/3
                res.setdefault(name, []).append(tt)
        med = lambda L, k: sorted(o[k] for o in L)[2]*1e3
        print(f"bs {bs}: fwd+bwd {med(res['new'],'fb'):.1f} ms; optimizer step old (coalesce) {med(res['old'],'opt'):.1f} ms, new (unique) {med(res['new'],'opt'):.1f} ms")
    print(os.getloadavg())

if __name__ == '__main__': main()
