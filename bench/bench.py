"""Speed and accuracy, side by side in one run: this package's fast path, its CollabDataLoaders path, fastai's own
`collab_learner` (bs=64) and Surprise's SVD on the same seeded MovieLens-100k split; then training on 25M synthetic
ratings (MovieLens-25M-sized) with ingest and indexing timed separately.

Usage: python bench/bench.py [--seeds 42] [--skip-synthetic] [--threads N] [--json out/bench.json]
(`make bench` installs scikit-surprise into the dev venv first; it is never a package requirement.)

The 25M run's defaults are the recommended recipe there: sparse gradients with `RowWiseAdagrad` (what
`dot_product_learner(dls, sparse=True)` uses), bs=32768, `fit_one_cycle(2, 0.1, wd=0.05)`; the same run then times
`SparseAdam` and dense `Adam` over one epoch each (or their first `--compare-batches` batches) (see nbs/01a_fast.ipynb for the
figures). On a machine shared with other jobs pass `--threads 1`: two threads there were 4-13x slower.
`bench/sparse_step.py` and `bench/sparse_learner_ab.py` time optimiser steps and the Learner side by side;
`bench/profile_step.py` profiles a step.

Every measurement runs in its own subprocess, so each peak RSS is that method's own (it includes Python, torch and
fastai, about 0.4 GB). Times on a shared machine drift: compare the ratios within one run.
"""
import argparse, json, os, resource, subprocess, sys, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

ROOT = Path(__file__).resolve().parent.parent
METHODS = ['fast', 'fast-sparse', 'collab_dataloaders', 'fastai collab_learner', 'surprise SVD']
SYNTH_OPTS = {'rowwise': 'fast-sparse (RowWiseAdagrad)', 'adam': 'fast-sparse (SparseAdam)', 'dense': 'fast (dense Adam)'}

def peak_rss_gb() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/2**20  # ru_maxrss is KiB on Linux

def _fit(learn, epochs, lr, wd):
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr, wd=wd)
    return time.perf_counter() - t

def ml100k(method:str, seed:int) -> dict:
    "Train `method` on the seeded 80/20 split of MovieLens-100k; time the fit (and data preparation separately)"
    import numpy as np
    from fastai.torch_core import set_seed
    from collab_recs.data import load_movielens_100k
    from collab_recs.dataloaders import collab_dataloaders, random_split
    from collab_recs.fast import fast_dataloaders
    from collab_recs.learner import dot_product_learner, evaluate, STANDARD_RECIPE, FAST_RECIPE, SPARSE_RECIPE
    ml = load_movielens_100k()
    r = ml.ratings[['user', 'item', 'rating']]
    tr, va = random_split(r, 0.2, seed)
    t0 = time.perf_counter()
    if method in ('fast', 'fast-sparse'):
        R = SPARSE_RECIPE if method == 'fast-sparse' else FAST_RECIPE
        dls = fast_dataloaders(ml, split=(tr, va), bs=R['bs'])
        prep = time.perf_counter() - t0
        set_seed(seed)
        learn = dot_product_learner(dls, n_factors=R['n_factors'], sparse=R.get('sparse', False))
        secs, res, bs = _fit(learn, R['epochs'], R['lr'], R['wd']), evaluate(learn), R['bs']
    elif method == 'collab_dataloaders':
        R = STANDARD_RECIPE
        dls = collab_dataloaders(ml, split=(tr, va), bs=64)
        prep = time.perf_counter() - t0
        set_seed(seed)
        learn = dot_product_learner(dls, n_factors=R['n_factors'])
        secs, res, bs = _fit(learn, R['epochs'], R['lr'], R['wd']), evaluate(learn), 64
    elif method == 'fastai collab_learner':
        from fastai.collab import collab_learner, TabularCollab
        from fastai.tabular.core import Categorify
        from fastai.data.block import TransformBlock
        R = STANDARD_RECIPE
        to = TabularCollab(r.astype({'rating': 'float32'}), [Categorify], ['user', 'item'], y_names=['rating'],
                           y_block=TransformBlock(), splits=[list(map(int, tr)), list(map(int, va))])
        fdls = to.dataloaders(bs=64)  # fastai's defaults, as CollabDataLoaders.from_df builds them
        prep = time.perf_counter() - t0
        set_seed(seed)
        learn = collab_learner(fdls, n_factors=R['n_factors'], y_range=(0, 5.5))
        secs, res, bs = _fit(learn, R['epochs'], R['lr'], R['wd']), evaluate(learn), 64
    elif method == 'surprise SVD':
        from surprise import SVD, Dataset, Reader
        data = Dataset.load_from_df(r.iloc[tr], Reader(rating_scale=(1, 5)))
        trainset = data.build_full_trainset()
        prep = time.perf_counter() - t0
        algo = SVD(random_state=seed)  # Surprise's defaults: 100 factors, 20 epochs, lr 0.005, reg 0.02
        t = time.perf_counter(); algo.fit(trainset); secs = time.perf_counter() - t
        v = r.iloc[va]
        pred = np.array([algo.predict(u, i).est for u, i in zip(v.user, v.item)])
        err = pred - v.rating.to_numpy()
        res, R, bs = dict(rmse=float(np.sqrt((err**2).mean())), mae=float(np.abs(err).mean()), n=len(err)), dict(epochs=20), 1
    else: raise ValueError(method)
    return dict(data='ml-100k', method=method, seed=seed, bs=bs, epochs=R['epochs'], prep_s=prep, fit_s=secs,
                rmse=res['rmse'], mae=res['mae'], ratings_per_s=len(tr)*R['epochs']/secs, peak_rss_gb=peak_rss_gb())

SYNTH = dict(n_users=162_000, n_items=59_000, n_ratings=25_000_000, seed=0)

def synthetic_file(n_ratings:int) -> Path:
    "Parquet file of the synthetic ratings (written once by a subprocess, then reused)"
    return ROOT/'out'/'bench'/f'synthetic-{n_ratings}.parquet'

def synth_generate(n_ratings:int) -> dict:
    from collab_recs.data import synthetic_ratings
    t = time.perf_counter()
    ds = synthetic_ratings(**{**SYNTH, 'n_ratings': n_ratings})
    f = synthetic_file(n_ratings); f.parent.mkdir(parents=True, exist_ok=True)
    ds.ratings[['user', 'item', 'rating']].to_parquet(f)
    return dict(data=f'synthetic {n_ratings:,}', method='generate', seconds=time.perf_counter()-t, peak_rss_gb=peak_rss_gb())

def synth_train(n_ratings:int, opt:str, epochs:int, bs:int, lr:float, wd:float, max_batches:int=None) -> dict:
    "Ingest (read the file), index (`fast_dataloaders`) and train; per-epoch training throughput"
    import pandas as pd
    from fastai.torch_core import set_seed
    from fastai.callback.core import Callback, CancelFitException
    from collab_recs.fast import fast_dataloaders
    from collab_recs.learner import dot_product_learner, evaluate, SparseAdam
    t = time.perf_counter(); df = pd.read_parquet(synthetic_file(n_ratings)); ingest = time.perf_counter() - t
    t = time.perf_counter(); dls = fast_dataloaders(df, bs=bs, rating_range=(1, 5)); index = time.perf_counter() - t
    del df
    class EpochTimer(Callback):
        "Training-phase seconds and ratings of each epoch (or of the first `max_batches` batches after 2 of warm-up)"
        def before_fit(self): self.epochs = []
        def before_train(self): self.t, self.n = time.perf_counter(), 0
        def after_batch(self):
            if not self.training: return
            if max_batches and self.iter == 1: self.t, self.n = time.perf_counter(), 0; return
            self.n += len(self.yb[0])
            if max_batches and self.iter == max_batches + 1: self.after_train(); raise CancelFitException
        def after_train(self): self.epochs.append((time.perf_counter() - self.t, self.n))
    timer = EpochTimer()
    set_seed(0)
    learn = dot_product_learner(dls, n_factors=50, sparse=opt != 'dense', cbs=timer, **({'opt_func': SparseAdam} if opt == 'adam' else {}))
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr, wd=wd)
    res = evaluate(learn) if not max_batches else {}
    return dict(data=f'synthetic {n_ratings:,}', method=SYNTH_OPTS[opt], bs=bs, lr=lr, wd=wd, epochs=epochs,
                n_train=len(dls.train.dataset), n_users=len(dls.classes['user'])-1, n_items=len(dls.classes['item'])-1,
                ingest_s=ingest, index_s=index, epoch_s=[s for s, n in timer.epochs],
                ratings_per_s=[n/s for s, n in timer.epochs], partial_epoch=bool(max_batches),
                rmse=res.get('rmse'), peak_rss_gb=peak_rss_gb())

def worker(args) -> dict:
    import torch
    if args.threads: torch.set_num_threads(args.threads)
    if args.worker == 'ml100k': return ml100k(args.method, args.seed)
    if args.worker == 'synth-generate': return synth_generate(args.synthetic_ratings)
    if args.worker == 'synth-train': return synth_train(args.synthetic_ratings, args.method, args.epochs, args.bs, args.lr, args.wd, args.max_batches)
    raise ValueError(args.worker)

def run(*argv) -> dict:
    "Run a worker in a fresh process; its last stdout line is its JSON result"
    res = subprocess.run([sys.executable, __file__, *map(str, argv)], capture_output=True, text=True)
    if res.returncode != 0: return dict(error=res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f'exit {res.returncode}', argv=argv)
    return json.loads(res.stdout.strip().splitlines()[-1])

def _fmt(x, f): return '' if x is None else (f.format(x) if not isinstance(x, list) else ', '.join(f.format(o) for o in x))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[42])
    p.add_argument('--methods', nargs='+', default=METHODS, choices=METHODS)
    p.add_argument('--skip-synthetic', action='store_true', help='skip the 25M-rating run')
    p.add_argument('--synthetic-ratings', type=int, default=SYNTH['n_ratings'])
    p.add_argument('--epochs', type=int, default=2, help='epochs of the synthetic run')
    p.add_argument('--bs', type=int, default=32768, help='batch size of the synthetic run')
    p.add_argument('--lr', type=float, default=0.1, help='peak learning rate of the synthetic run (fit_one_cycle)')
    p.add_argument('--wd', type=float, default=0.05, help='L2 per rating of the synthetic run (RowWiseAdagrad)')
    p.add_argument('--adam-lr', type=float, default=5e-2, help='peak learning rate of the SparseAdam and dense Adam comparisons')
    p.add_argument('--adam-wd', type=float, default=0.5, help='decoupled weight decay of the SparseAdam and dense Adam comparisons')
    p.add_argument('--compare-batches', type=int, default=0, help='time the SparseAdam and dense-Adam comparisons at scale over this many batches (0: one whole epoch)')
    p.add_argument('--skip-compare', action='store_true', help='skip the SparseAdam and dense-Adam comparisons at scale')
    p.add_argument('--threads', type=int, default=0, help='torch threads in each worker (0: torch default)')
    p.add_argument('--json', default=str(ROOT/'out'/'bench.json'))
    p.add_argument('--worker', help=argparse.SUPPRESS)
    p.add_argument('--method', help=argparse.SUPPRESS)
    p.add_argument('--seed', type=int, default=42, help=argparse.SUPPRESS)
    p.add_argument('--max-batches', type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker: print(json.dumps(worker(args))); return
    common = ['--threads', args.threads]
    rows = []
    print(f"{'data':<22} {'method':<22} {'seed':>4} {'bs':>6} {'prep s':>7} {'fit s':>7} {'RMSE':>7} {'ratings/s':>11} {'peak RSS GB':>11}")
    for seed in args.seeds:
        for m in args.methods:
            row = run('--worker', 'ml100k', '--method', m, '--seed', seed, *common); rows.append(row)
            if 'error' in row: print(f"{'ml-100k':<22} {m:<22} {seed:>4}  failed: {row['error']}", flush=True); continue
            print(f"{row['data']:<22} {m:<22} {seed:>4} {row['bs']:>6} {row['prep_s']:>7.2f} {row['fit_s']:>7.2f} {row['rmse']:>7.4f} "
                  f"{row['ratings_per_s']:>11,.0f} {row['peak_rss_gb']:>11.2f}", flush=True)
    if not args.skip_synthetic:
        n = args.synthetic_ratings
        if not synthetic_file(n).exists():
            row = run('--worker', 'synth-generate', '--synthetic-ratings', n, *common); rows.append(row)
            print(f"generated synthetic ratings: {row}", flush=True)
        todo = [('rowwise', args.epochs, 0, args.lr, args.wd)]
        if not args.skip_compare:  # the other optimisers, one epoch each (or their first --compare-batches batches)
            todo += [(o, 1, args.compare_batches, args.adam_lr, args.adam_wd) for o in ('adam', 'dense')]
        for m, epochs, mb, lr, wd in todo:
            row = run('--worker', 'synth-train', '--method', m, '--synthetic-ratings', n, '--epochs', epochs, '--bs', args.bs,
                      '--lr', lr, '--wd', wd, '--max-batches', mb, *common); rows.append(row)
            if 'error' in row: print(f"synthetic {m} failed: {row['error']}", flush=True); continue
            print(f"{row['data']:<22} {row['method']:<22} ingest {row['ingest_s']:.1f}s, index {row['index_s']:.1f}s, "
                  f"{row['n_train']:,} training ratings ({row['n_users']:,} users, {row['n_items']:,} items), bs {row['bs']}: "
                  f"ratings/s per epoch{' (first %d batches)' % mb if mb else ''} {_fmt(row['ratings_per_s'], '{:,.0f}')}, "
                  f"epoch s {_fmt(row['epoch_s'], '{:.1f}')}, RMSE {_fmt(row['rmse'], '{:.4f}')}, peak RSS {row['peak_rss_gb']:.2f} GB", flush=True)
    out = Path(args.json); out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(machine=dict(cpus=os.cpu_count(), load_avg=os.getloadavg(), threads=args.threads or 'torch default'), rows=rows), indent=2))
    print(f"wrote {out}")

if __name__ == '__main__': main()
