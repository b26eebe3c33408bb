"""Peak memory of dense training at scale, with and without `TrimMemoryCallback`, side by side in one run.

Usage: python bench/trim_memory.py [--ratings 25000000] [--bs 32768] [--threads 2]

Each setting runs in a fresh process on the synthetic ratings of bench/bench.py (written there once, then reused):
`fast_dataloaders`, `DotProductBias` with 50 factors and dense gradients, `fit_one_cycle(1, 0.05, wd=0.5)` with
fastai's Adam, then `evaluate`. It prints the peak RSS before training, after the epoch (with validation) and after
`evaluate`, and the training throughput: first without the callback (which `dot_product_learner` adds itself), then with it,
once per `--every`; then the same runs again in reverse order.
"""
import argparse, json, resource, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))

def peak_gb() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/2**20

def worker(args) -> dict:
    import pandas as pd, torch
    from fastai.callback.core import Callback
    from fastai.torch_core import set_seed
    from collab_recs.fast import fast_dataloaders
    from collab_recs.learner import dot_product_learner, evaluate, TrimMemoryCallback
    from bench import synthetic_file
    if args.threads: torch.set_num_threads(args.threads)
    df = pd.read_parquet(synthetic_file(args.ratings))
    dls = fast_dataloaders(df, bs=args.bs, rating_range=(1, 5))
    del df
    class Probe(Callback):
        order = 100  # after TrimMemoryCallback
        def before_train(self): self.t, self.n = time.perf_counter(), 0
        def after_batch(self):
            if self.training: self.n += len(self.yb[0])
        def after_train(self): self.s = time.perf_counter() - self.t
    probe, before = Probe(), peak_gb()
    set_seed(0)
    learn = dot_product_learner(dls, n_factors=50, cbs=probe)
    trims = learn.cbs.filter(lambda o: isinstance(o, TrimMemoryCallback))
    if args.no_trim: learn.remove_cbs(trims)
    for o in trims: o.every = args.every
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 0.05, wd=0.5)
    after_fit = peak_gb()
    res = evaluate(learn)
    return dict(trim=not args.no_trim, every=args.every, ratings_per_s=probe.n/probe.s, rmse=res['rmse'],
                peak_gb_before_training=before, peak_gb_after_epoch=after_fit, peak_gb_after_evaluate=peak_gb())

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--ratings', type=int, default=25_000_000)
    p.add_argument('--bs', type=int, default=32768)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--every', type=int, nargs='+', default=[50], help="TrimMemoryCallback's `every` (several: one run each)")
    p.add_argument('--no-trim', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker: args.every = args.every[0]
    if args.worker: print(json.dumps(worker(args))); return
    from bench import synthetic_file
    if not synthetic_file(args.ratings).exists():
        subprocess.run([sys.executable, str(Path(__file__).parent/'bench.py'), '--worker', 'synth-generate', '--synthetic-ratings', str(args.ratings)], check=True)
    base = [sys.executable, __file__, '--worker', '--ratings', str(args.ratings), '--bs', str(args.bs), '--threads', str(args.threads)]
    runs = [['--no-trim']] + [['--every', str(e)] for e in args.every]
    for extra in runs + runs[::-1]:  # twice, the second time in reverse order: the first run of a series tends to be faster
        out = subprocess.run(base + extra, capture_output=True, text=True)
        if out.returncode: sys.exit(f"worker failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{'with TrimMemoryCallback(every=%d)' % r['every'] if r['trim'] else 'without TrimMemoryCallback'}: {r['ratings_per_s']:,.0f} ratings/s, RMSE {r['rmse']:.4f}; peak RSS "
              f"{r['peak_gb_before_training']:.2f} GB before training, {r['peak_gb_after_epoch']:.2f} GB after the epoch, {r['peak_gb_after_evaluate']:.2f} GB after evaluate")

if __name__ == '__main__': main()
