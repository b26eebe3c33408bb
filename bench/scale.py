"""Ranking at scale: 25M synthetic interactions (MovieLens-25M-sized: 162,000 users, 59,000 items, long-tailed, users
picking what matches a planted taste), split per user 90/10. The `ranking-sampled` recipe: interactions per second of each
training epoch and the peak memory of the whole process (data, split, loaders, model: each method runs in a process of
its own), and NDCG@10 on the held-out items, next to implicit's ALS on the same split (when installed; never a package
requirement). Then the item-item recipes at that size: fit seconds and peak memory, or their one-line refusal, within a
time limit each.

Usage: python -m bench.scale [--interactions 25000000] [--epochs 4] [--set bs=1024 n_factors=64] [--item-item-limit 900] [--json PATH]
"""
import argparse, json, subprocess, sys, time
from pathlib import Path
from bench.common import ROOT, peak_rss_gb, write_results, timed

SYNTH = dict(n_users=162_000, n_items=59_000, seed=0, selection=6.)

def data_file(n:int) -> Path: return ROOT/'out'/'bench'/f'interactions-{n}.parquet'

def generate(n:int) -> dict:
    "Write the synthetic interactions once (user, item), and how long the generator took"
    from collab_recs.synthetic import synthetic_ratings
    ds, secs = timed(synthetic_ratings, n_ratings=n, **SYNTH)
    f = data_file(n); f.parent.mkdir(parents=True, exist_ok=True)
    ds.ratings[['user', 'item']].to_parquet(f)
    return dict(step='generate', seconds=secs, peak_rss_gb=peak_rss_gb())

def dataloaders(n:int):
    "The same per-user 90/10 split in every worker: (`DataLoaders` of the pairs, seconds to read, seconds to split and index)"
    import pandas as pd
    from collab_recs.data import load_interactions
    from collab_recs.dataloaders import tensor_dataloaders
    df, read_s = timed(pd.read_parquet, data_file(n))
    ds = load_interactions(df, duplicates='first', name='synthetic')
    del df
    dls, index_s = timed(tensor_dataloaders, ds, split='user', valid_pct=0.1, seed=0)
    return dls, read_s, index_s

def ranking(n:int, epochs:int, overrides:dict) -> dict:
    "Train the ranking-sampled recipe (with `overrides`): interactions/s of each epoch's training phase, held-out NDCG@10, peak RSS"
    from fastai.callback.core import Callback
    from collab_recs.recipes import recipe_options, fit_recipe
    from collab_recs.tuning import holdout_ndcg
    dls, read_s, index_s = dataloaders(n)
    class EpochTimer(Callback):
        def before_fit(self): self.epochs = []
        def before_train(self): self.t, self.n = time.perf_counter(), 0
        def after_batch(self):
            if self.training: self.n += len(self.yb[0])  # the batch's users' interactions
        def after_train(self): self.epochs.append((time.perf_counter() - self.t, self.n))
    timer = EpochTimer()
    opts = recipe_options('ranking-sampled', **{'epochs': epochs, **overrides})
    learn, fit_s = timed(fit_recipe, dls, opts, seed=0, cbs=[timer], validate='last')
    ndcg, eval_s = timed(holdout_ndcg, learn.model, dls)
    return dict(step='ranking-sampled recipe', options=opts, read_s=read_s, index_s=index_s, fit_s=fit_s, eval_s=eval_s,
                n_train=len(dls.train.dataset), epoch_s=[s for s, k in timer.epochs],
                interactions_per_s=[k / s for s, k in timer.epochs], ndcg_at_10=ndcg, peak_rss_gb=peak_rss_gb())

def als(n:int) -> dict:
    "implicit's ALS (its defaults: 64 factors, 15 iterations; both cores) on the same split, judged the same way"
    import numpy as np, torch, threadpoolctl
    import implicit
    from collab_recs.itemitem import interaction_matrix
    from collab_recs.tuning import holdout_ndcg
    dls, read_s, index_s = dataloaders(n)
    X = interaction_matrix(dls)
    def go():
        with threadpoolctl.threadpool_limits(1, 'blas'):
            m = implicit.als.AlternatingLeastSquares(factors=64, random_state=0)
            m.fit(X, show_progress=False)
        return m
    m, fit_s = timed(go)
    class Factors:  # the scoring side of the package's model protocol, enough for `holdout_ndcg`
        n_users, n_items = X.shape
        U, V = torch.from_numpy(np.asarray(m.user_factors)), torch.from_numpy(np.asarray(m.item_factors))
        def score(self, users, items=None): return self.U[users] @ self.V.T
    ndcg, eval_s = timed(holdout_ndcg, Factors(), dls)
    return dict(step='implicit ALS', read_s=read_s, index_s=index_s, fit_s=fit_s, eval_s=eval_s, ndcg_at_10=ndcg, peak_rss_gb=peak_rss_gb())

def item_item(n:int, recipe:str) -> dict:
    "Fit an item-item recipe at this size: seconds and peak memory, and NDCG@10 if it finishes"
    from collab_recs.recipes import fit_recipe, recipe_options
    from collab_recs.tuning import holdout_ndcg
    dls, read_s, index_s = dataloaders(n)
    model, fit_s = timed(fit_recipe, dls, recipe_options(recipe))
    ndcg, eval_s = timed(holdout_ndcg, model, dls)
    return dict(step=f'{recipe} recipe', options=recipe_options(recipe), read_s=read_s, index_s=index_s, fit_s=fit_s, eval_s=eval_s,
                weights=int(model.weights.nnz), ndcg_at_10=ndcg, peak_rss_gb=peak_rss_gb())

def run(argv:list, limit:float) -> dict:
    "`python -m bench.scale --worker ...` in a fresh process (its own peak memory), stopped after `limit` seconds"
    t = time.perf_counter()
    try: res = subprocess.run([sys.executable, '-m', 'bench.scale', '--worker', *map(str, argv)], capture_output=True, text=True,
                              cwd=ROOT, timeout=limit)
    except subprocess.TimeoutExpired: return dict(step=argv[0], error=f"stopped after {limit:g}s (the time limit) before it finished")
    if res.returncode != 0: return dict(step=argv[0], error=(res.stderr.strip().splitlines() or [f'exit {res.returncode}'])[-1],
                                        seconds=time.perf_counter() - t)
    return json.loads(res.stdout.strip().splitlines()[-1])

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--interactions', type=int, default=25_000_000)
    p.add_argument('--epochs', type=int, default=4, help='epochs of the ranking-sampled recipe')
    p.add_argument('--set', nargs='*', default=['bs=1024', 'n_factors=64'], metavar='KEY=VALUE',
                   help="options of the ranking-sampled recipe to change at this scale (default: bs=1024 n_factors=64: a quarter "
                        "of the optimiser steps, half the factors)")
    p.add_argument('--item-item-limit', type=float, default=900., help="seconds each item-item recipe may take")
    p.add_argument('--skip-item-item', action='store_true')
    p.add_argument('--worker', nargs='+', default=None, help=argparse.SUPPRESS)
    p.add_argument('--json', default=None)
    a = p.parse_args()
    if a.worker:
        step, *rest = a.worker
        sets = dict((k, json.loads(v)) for k, v in (o.split('=', 1) for o in a.set))
        out = {'generate': lambda: generate(a.interactions), 'ranking': lambda: ranking(a.interactions, int(rest[0]), sets),
               'als': lambda: als(a.interactions), 'item-item': lambda: item_item(a.interactions, rest[0])}[step]()
        print(json.dumps(out, default=float)); return
    started, rows = time.time(), []
    if not data_file(a.interactions).exists(): rows.append(run(['generate', '--interactions', a.interactions], 3600))
    steps = [['ranking', a.epochs], ['als']] + ([] if a.skip_item_item else [['item-item', 'itemknn'], ['item-item', 'ease']])
    for s in steps:
        limit = a.item_item_limit if s[0] == 'item-item' else 3600
        rows.append(run([*s, '--interactions', a.interactions, '--set', *a.set], limit))
        print(json.dumps(rows[-1], default=float), flush=True)
    write_results('scale', 'bench.scale', dict(interactions=a.interactions, synthetic=SYNTH, split='per user, 10% held out, seed 0',
                                               rows=rows), started, a.json)

if __name__ == '__main__': main()
