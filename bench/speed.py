"""Speed, memory and accuracy side by side in one run: the recipes (fastbook's on fastai's loaders, and the tensor-loader
recipes), fastai's own `collab_learner` (bs=64) and Surprise's SVD on the same seeded 80/20 split of MovieLens-100k;
top-10 recommendations for every user; `collab-recs --help` and `make demo`'s training command; then training on 25M synthetic ratings (MovieLens-25M-sized) with ingest and
indexing timed separately, for row-wise Adagrad, SparseAdam and dense Adam (with and without `TrimMemoryCallback`).

Usage: python -m bench.speed [--seeds 42] [--skip-synthetic] [--threads N] [--json PATH]
(`make bench` installs scikit-surprise into the dev venv first; it is never a package requirement; without it the
Surprise row is reported as skipped.) Every measurement runs in its own process, so each peak memory is that method's
own (it includes Python, torch and fastai, about 0.4 GB). On a machine shared with other jobs pass `--threads 1`.
"""
import argparse, time
from pathlib import Path
from bench.common import ROOT, peak_rss_gb, set_threads, timed, in_subprocess, write_results, load, fit

METHODS = ['fastbook', 'fast', 'sparse', 'best', 'fastai collab_learner', 'surprise SVD']
SYNTH = dict(n_users=162_000, n_items=59_000, n_ratings=25_000_000, seed=0)
OPTIMISERS = {'rowwise': 'RowWiseAdagrad (sparse)', 'adam': 'SparseAdam (sparse)', 'dense': 'Adam (dense)', 'dense-notrim': 'Adam (dense), no TrimMemoryCallback'}
# The ranking path at this scale, on interactions, is measured by `python -m bench.scale`

def ml100k(method:str, seed:int) -> dict:
    "Train `method` on the seeded 80/20 split of MovieLens-100k; time the fit (and the data preparation separately)"
    import numpy as np
    from collab_recs.splits import random_split
    from collab_recs.recipes import RECIPES
    from collab_recs.evaluation import evaluate
    ml = load('ml-100k')
    r = ml.ratings[['user', 'item', 'rating']]
    tr, va = random_split(r, 0.2, seed)
    if method in RECIPES:
        learn, fit_s, prep_s = fit(ml, method, (tr, va), seed)
        res, epochs, bs = evaluate(learn), RECIPES[method]['epochs'], RECIPES[method]['bs']
    elif method == 'fastai collab_learner':
        from fastai.collab import collab_learner, TabularCollab
        from fastai.tabular.core import Categorify
        from fastai.data.block import TransformBlock
        from fastai.torch_core import set_seed
        set_seed(seed)
        to = TabularCollab(r.astype({'rating': 'float32'}), [Categorify], ['user', 'item'], y_names=['rating'],
                           y_block=TransformBlock(), splits=[list(map(int, tr)), list(map(int, va))])
        fdls, prep_s = timed(to.dataloaders, bs=64)  # fastai's defaults, as CollabDataLoaders.from_df builds them
        learn = collab_learner(fdls, n_factors=50, y_range=(0, 5.5))
        def go():
            with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(5, 5e-3, wd=0.1)
        _, fit_s = timed(go)
        res, epochs, bs = evaluate(learn), 5, 64
    elif method == 'surprise SVD':
        try: from surprise import SVD, Dataset, Reader
        except ImportError: return dict(data='ml-100k', method=method, seed=seed, skipped='scikit-surprise is not installed (make bench installs it)')
        trainset, prep_s = timed(lambda: Dataset.load_from_df(r.iloc[tr], Reader(rating_scale=(1, 5))).build_full_trainset())
        algo = SVD(random_state=seed)  # Surprise's defaults: 100 factors, 20 epochs, lr 0.005, reg 0.02
        _, fit_s = timed(algo.fit, trainset)
        v = r.iloc[va]
        err = np.array([algo.predict(u, i).est for u, i in zip(v.user, v.item)]) - v.rating.to_numpy()
        res, epochs, bs = dict(rmse=float(np.sqrt((err**2).mean())), mae=float(np.abs(err).mean())), 20, 1
    else: raise ValueError(method)
    return dict(data='ml-100k', method=method, seed=seed, bs=bs, epochs=epochs, prep_s=prep_s, fit_s=fit_s, rmse=res['rmse'], mae=res['mae'],
                ratings_per_s=len(tr)*epochs/fit_s, peak_rss_gb=peak_rss_gb())

def recommend_all_timing(repeats:int=5) -> dict:
    "Top-10 unseen items for all 943 MovieLens-100k users with `recommend_all`, against one `recommend` call per user"
    from collab_recs.recommend import recommend, recommend_all, RatedPairs
    from collab_recs.splits import per_user_split
    ml = load('ml-100k')
    learn, _, _ = fit(ml, dict(loader='tensor', bs=256, epochs=1, lr=5e-3, wd=0.1), per_user_split(ml.ratings, 0.25, 42))
    titles, rated = ml.titles(), RatedPairs.from_dls(learn.dls)
    t_all = min(timed(recommend_all, learn.model, n=10, rated=rated, titles=titles)[1] for _ in range(repeats))
    users = list(learn.dls.classes['user'][1:])
    _, t_loop = timed(lambda: [recommend(learn.model, u, 10, rated=rated, titles=titles) for u in users])
    return dict(users=len(users), items=len(learn.dls.classes['item']) - 1, recommend_all_s=t_all, per_user_loop_s=t_loop, speedup=t_loop/t_all)

def synthetic_file(n_ratings:int) -> Path:
    "Parquet file of the synthetic ratings (written once by a subprocess, then reused)"
    return ROOT/'out'/'bench'/f'synthetic-{n_ratings}.parquet'

def synth_generate(n_ratings:int) -> dict:
    from collab_recs.synthetic import synthetic_ratings
    ds, secs = timed(synthetic_ratings, **{**SYNTH, 'n_ratings': n_ratings})
    f = synthetic_file(n_ratings); f.parent.mkdir(parents=True, exist_ok=True)
    ds.ratings[['user', 'item', 'rating']].to_parquet(f)
    return dict(data=f'synthetic {n_ratings:,}', method='generate', seconds=secs, peak_rss_gb=peak_rss_gb())

def synth_train(n_ratings:int, opt:str, epochs:int, bs:int, lr:float, wd:float, max_batches:int=0) -> dict:
    "Ingest (read the file), index (`tensor_dataloaders`) and train; training throughput of each epoch"
    import pandas as pd
    from fastai.torch_core import set_seed
    from fastai.callback.core import Callback, CancelFitException
    from collab_recs.dataloaders import tensor_dataloaders
    from collab_recs.optimisers import SparseAdam, TrimMemoryCallback
    from collab_recs.learner import dot_product_learner
    from collab_recs.evaluation import evaluate
    df, ingest = timed(pd.read_parquet, synthetic_file(n_ratings))
    dls, index = timed(tensor_dataloaders, df, bs=bs, rating_range=(1, 5))
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
    class NoTrim(TrimMemoryCallback):
        "Counts as the learner's trim callback, trims nothing: the run without it"
        def __init__(self): super().__init__(); self.trim = None
    timer = EpochTimer()
    set_seed(0)
    kw = {'opt_func': SparseAdam} if opt == 'adam' else {}
    learn = dot_product_learner(dls, n_factors=50, sparse=opt in ('rowwise', 'adam'), cbs=[timer] + ([NoTrim()] if opt == 'dense-notrim' else []), **kw)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr, wd=wd)
    res = evaluate(learn) if not max_batches else {}
    return dict(data=f'synthetic {n_ratings:,}', method=OPTIMISERS[opt], optimiser=opt, bs=bs, lr=lr, wd=wd, epochs=epochs,
                n_train=len(dls.train.dataset), n_users=len(dls.classes['user'])-1, n_items=len(dls.classes['item'])-1,
                ingest_s=ingest, index_s=index, epoch_s=[s for s, n in timer.epochs], ratings_per_s=[n/s for s, n in timer.epochs],
                partial_epoch=bool(max_batches), rmse=res.get('rmse'), peak_rss_gb=peak_rss_gb())

def cli_timing(repeats:int=5) -> dict:
    """Wall seconds of `collab-recs --help` and each command's `--help` (the best and the median of `repeats`), and of `make demo`'s
    training command with the default recipe, next to its own training time and RMSE (from the metrics.json it writes)"""
    import json, statistics, subprocess, sys, tempfile
    exe = str(Path(sys.executable).with_name('collab-recs'))
    helps = {}
    for cmd in ([], ['train'], ['recommend'], ['similar'], ['evaluate'], ['onboard']):
        times = []
        for _ in range(repeats):
            t = time.perf_counter(); res = subprocess.run([exe, *cmd, '--help'], capture_output=True, text=True); times.append(time.perf_counter() - t)
            if res.returncode: return dict(error=res.stderr[-500:])
        helps[' '.join(['collab-recs', *cmd, '--help'])] = dict(best_s=min(times), median_s=statistics.median(times))
    make = (ROOT/'Makefile').read_text()
    demo = next(l.strip() for l in make.split('demo: data', 1)[1].splitlines() if l.strip()).replace('$(BIN)/', '').split()
    with tempfile.TemporaryDirectory() as d:
        argv = [exe if w == 'collab-recs' else w for w in demo[:-1]] + [str(Path(d)/'out')]  # the demo's command, writing to a scratch folder
        t = time.perf_counter(); res = subprocess.run(argv, capture_output=True, text=True); wall = time.perf_counter() - t
        if res.returncode: return dict(error=res.stderr[-500:], help=helps)
        m = json.loads((Path(d)/'out'/'metrics.json').read_text())
    return dict(help=helps, demo=dict(command=' '.join(demo), recipe=m['options']['recipe'], wall_s=wall, train_s=m['seconds'], rmse=m['rmse'],
                                      n_train=m['n_train'], n_valid=m['n_valid']))

def worker(a) -> dict:
    set_threads(a.threads)
    if a.worker == 'ml100k': return ml100k(a.method, a.seed)
    if a.worker == 'recommend-all': return recommend_all_timing()
    if a.worker == 'cli': return cli_timing()
    if a.worker == 'synth-generate': return synth_generate(a.synthetic_ratings)
    if a.worker == 'synth-train': return synth_train(a.synthetic_ratings, a.method, a.epochs, a.bs, a.lr, a.wd, a.max_batches)
    raise ValueError(a.worker)

def main():
    import json
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[42])
    p.add_argument('--methods', nargs='+', default=METHODS, choices=METHODS)
    p.add_argument('--skip-synthetic', action='store_true', help='skip the 25M-rating runs')
    p.add_argument('--synthetic-ratings', type=int, default=SYNTH['n_ratings'])
    p.add_argument('--epochs', type=int, default=2, help='epochs of the row-wise Adagrad run at scale')
    p.add_argument('--bs', type=int, default=32768, help='batch size at scale')
    p.add_argument('--lr', type=float, default=0.1, help='peak learning rate of the row-wise Adagrad run')
    p.add_argument('--wd', type=float, default=0.05, help='L2 per rating of the row-wise Adagrad run')
    p.add_argument('--adam-lr', type=float, default=5e-2, help='peak learning rate of the SparseAdam and dense Adam runs')
    p.add_argument('--adam-wd', type=float, default=0.5, help='weight decay of the SparseAdam and dense Adam runs')
    p.add_argument('--compare-batches', type=int, default=0, help='time the other optimisers at scale over this many batches (0: one whole epoch)')
    p.add_argument('--threads', type=int, default=0, help='torch threads in each worker (0: torch default)')
    p.add_argument('--json', default=None, help='where to write the results (default: bench/results/speed.json)')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    p.add_argument('--method', help=argparse.SUPPRESS)
    p.add_argument('--seed', type=int, default=42, help=argparse.SUPPRESS)
    p.add_argument('--max-batches', type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker: print(json.dumps(worker(a), default=float)); return
    started, common = time.time(), ['--threads', a.threads]
    ml_rows, synth_rows = [], []
    print(f"{'method':<24} {'seed':>4} {'bs':>6} {'prep s':>7} {'fit s':>7} {'RMSE':>7} {'ratings/s':>11} {'peak RSS GB':>11}")
    for seed in a.seeds:
        for m in a.methods:
            row = in_subprocess('bench.speed', '--worker', 'ml100k', '--method', m, '--seed', seed, *common); ml_rows.append(row)
            if 'error' in row or 'skipped' in row: print(f"{m:<24} {seed:>4}  {row.get('error') or row['skipped']}", flush=True); continue
            print(f"{m:<24} {seed:>4} {row['bs']:>6} {row['prep_s']:>7.2f} {row['fit_s']:>7.2f} {row['rmse']:>7.4f} "
                  f"{row['ratings_per_s']:>11,.0f} {row['peak_rss_gb']:>11.2f}", flush=True)
    rec = in_subprocess('bench.speed', '--worker', 'recommend-all', *common)
    if 'error' not in rec:
        print(f"top-10 for all {rec['users']} users over {rec['items']} items: recommend_all {rec['recommend_all_s']*1000:.1f} ms, "
              f"one user at a time {rec['per_user_loop_s']*1000:.0f} ms ({rec['speedup']:.0f}x)", flush=True)
    cli = in_subprocess('bench.speed', '--worker', 'cli', *common)
    if 'error' not in cli:
        for c, h in cli['help'].items(): print(f"{c:<40} {h['best_s']:.2f} s best, {h['median_s']:.2f} s median of 5", flush=True)
        d = cli['demo']
        print(f"make demo ({d['command']}, recipe {d['recipe']!r}): training {d['train_s']:.2f} s, the whole command {d['wall_s']:.1f} s, "
              f"RMSE {d['rmse']:.4f} on {d['n_valid']:,} ratings", flush=True)
    else: print(f"CLI timing failed: {cli['error']}", flush=True)
    if not a.skip_synthetic:
        n = a.synthetic_ratings
        if not synthetic_file(n).exists():
            row = in_subprocess('bench.speed', '--worker', 'synth-generate', '--synthetic-ratings', n, *common); synth_rows.append(row)
            print(f"generated synthetic ratings: {row}", flush=True)
        todo = [('rowwise', a.epochs, 0, a.lr, a.wd, a.bs)] + [(o, 1, a.compare_batches, a.adam_lr, a.adam_wd, a.bs) for o in ('adam', 'dense', 'dense-notrim')]
        for m, epochs, mb, lr, wd, bs in todo:
            row = in_subprocess('bench.speed', '--worker', 'synth-train', '--method', m, '--synthetic-ratings', n, '--epochs', epochs,
                                '--bs', bs, '--lr', lr, '--wd', wd, '--max-batches', mb, *common); synth_rows.append(row)
            if 'error' in row: print(f"synthetic {m} failed: {row['error']}", flush=True); continue
            rate = ', '.join(f'{o:,.0f}' for o in row['ratings_per_s'])
            print(f"{row['method']:<40} ingest {row['ingest_s']:.1f}s, index {row['index_s']:.1f}s, {row['n_train']:,} training ratings "
                  f"({row['n_users']:,} users, {row['n_items']:,} items), bs {row['bs']}: ratings/s per epoch {rate}, "
                  f"RMSE {row['rmse'] if row['rmse'] is None else round(row['rmse'], 4)}, peak RSS {row['peak_rss_gb']:.2f} GB", flush=True)
    write_results('speed', 'bench.speed', dict(threads=a.threads or 'torch default', ml100k=ml_rows, recommend_all=rec, cli=cli, synthetic=synth_rows),
                  started, a.json)

if __name__ == '__main__': main()
