"""Accuracy table: RMSE / MAE / fit seconds of the recipes against Surprise's SVD and SVD++ on seeded random 80/20 splits
of MovieLens-100k (mean ± standard deviation over seeds, and every split), on the canonical `u1.base`/`u1.test` split
where the official `ml-100k` folder is available, and on Book-Crossing's explicit ratings against the global-mean and
bias-only baselines (models centred on the mean training rating there, as `--centre` does).

Usage: python -m bench.accuracy [--seeds 0 1 2] [--book-seeds 0 1 2] [--ml100k-dir PATH] [--skip-books | --skip-ml] [--json PATH]
(`make bench-accuracy` installs scikit-surprise into the dev venv first; it is never a package requirement. Without it,
the Surprise rows are reported as skipped.) No choice here looks at a test part: the recipes were fixed beforehand on
inner splits of training data (`collab_recs.recipes.random_search`, `collab_recs.splits.inner_split`).
"""
import argparse, time
from pathlib import Path
import numpy as np, pandas as pd
from bench.common import write_results, load, fit, timed

ML_METHODS = ['fastbook', 'fast', 'sparse', 'best', 'surprise SVD', 'surprise SVD++']
# Book-Crossing's tables are ~100x MovieLens': the best recipe's ~70,000 small-batch steps with dense Adam over them would
# take hours here, so it trains with sparse gradients (`SparseAdam`: only the rows a batch touches)
BOOK_METHODS = ['global mean', 'bias only', 'fast', 'sparse', 'best sparse']

def errors(pred, y) -> dict:
    e = np.asarray(pred, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return dict(rmse=float(np.sqrt((e**2).mean())), mae=float(np.abs(e).mean()))

def recipe_row(ds, split, name:str, centre=False) -> dict:
    "Recipe `name` of `RECIPES`; 'NAME sparse' trains it with sparse gradients and `SparseAdam`"
    from collab_recs.optimisers import SparseAdam
    from collab_recs.evaluation import evaluate
    name, sparse = name.split()[0], name.endswith(' sparse')
    learn, fit_s, _ = fit(ds, name, split, seed=0, centre=centre, **(dict(sparse=True, opt_func=SparseAdam) if sparse else {}))
    r = evaluate(learn)
    return dict(rmse=r['rmse'], mae=r['mae'], fit_s=fit_s)

def bias_only_row(ds, split, centre=False) -> dict:
    "User and item biases only, fitted by regularised alternating least squares (`fit_biases`)"
    from collab_recs.dataloaders import tensor_dataloaders, rating_codes
    from collab_recs.baselines import fit_biases
    dls = tensor_dataloaders(ds, split=split)
    (mu, bu, bi), secs = timed(fit_biases, dls)
    u, i, y = rating_codes(dls.valid)
    lo, hi = dls.rating_range
    return dict(**errors(np.clip(mu + bu[u] + bi[i], lo, hi), y), fit_s=secs)

def global_mean_row(ds, split) -> dict:
    y = ds.ratings.rating.to_numpy()
    return dict(**errors(np.full(len(split[1]), y[split[0]].mean()), y[split[1]]), fit_s=0.)

def surprise_row(ds, split, algo_name, seed) -> dict:
    try: import surprise
    except ImportError: return dict(skipped='scikit-surprise is not installed (make bench-accuracy installs it)')
    r = ds.ratings[['user', 'item', 'rating']]
    lo, hi = ds.rating_range
    trainset = surprise.Dataset.load_from_df(r.iloc[split[0]], surprise.Reader(rating_scale=(lo, hi))).build_full_trainset()
    algo = getattr(surprise, algo_name)(random_state=seed)  # Surprise's defaults
    _, secs = timed(algo.fit, trainset)
    v = r.iloc[split[1]]
    return dict(**errors([algo.predict(u, i).est for u, i in zip(v.user, v.item)], v.rating), fit_s=secs)

def rows_for(ds, split, methods, seed, centre=False) -> list:
    "One row per method; `centre` starts the models at the mean training rating (as sparse data like Book-Crossing needs)"
    from collab_recs.recipes import RECIPES
    out = []
    for m in methods:
        if m.split()[0] in RECIPES: res = recipe_row(ds, split, m, centre)
        elif m == 'global mean': res = global_mean_row(ds, split)
        elif m == 'bias only': res = bias_only_row(ds, split, centre)
        elif m.startswith('surprise '): res = surprise_row(ds, split, m.split()[1].replace('++', 'pp'), seed)
        else: raise ValueError(m)
        out.append(dict(method=m, **res)); print(f"  {m:<14} " + ('  '.join(f'{k} {v:.4f}' for k, v in res.items() if k != 'skipped') or res['skipped']), flush=True)
    return out

def summary(rows) -> pd.DataFrame:
    df = pd.DataFrame([r for r in rows if 'rmse' in r])
    g = df.groupby(['data', 'split', 'method'], sort=False)
    return g.agg(n=('rmse', 'size'), rmse=('rmse', 'mean'), rmse_sd=('rmse', lambda s: s.std(ddof=0)), mae=('mae', 'mean'),
                 mae_sd=('mae', lambda s: s.std(ddof=0)), fit_s=('fit_s', 'mean')).reset_index()

def main():
    from collab_recs.datasets import cache_dir, load_movielens_100k
    from collab_recs.splits import random_split, movielens_fold
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='*', default=[0, 1, 2], help='seeds of the random 80/20 splits (none: only u1, if found)')
    p.add_argument('--ml100k-dir', help="official ml-100k folder (with u1.base/u1.test); default: the cache's or fastai's, if present")
    p.add_argument('--book-seeds', type=int, nargs='+', default=[0, 1, 2], help='seeds of the Book-Crossing 80/20 splits')
    p.add_argument('--skip-books', action='store_true')
    p.add_argument('--skip-ml', action='store_true', help='skip MovieLens-100k (e.g. to rerun Book-Crossing only)')
    p.add_argument('--methods', nargs='+', default=None, help='MovieLens methods (default: all)')
    p.add_argument('--json', default=None, help='where to write the results (default: bench/results/accuracy.json)')
    a = p.parse_args()
    started, rows = time.time(), []
    ml = load('ml-100k')
    for s in ([] if a.skip_ml else a.seeds):
        print(f"MovieLens-100k, random 80/20 split, seed {s}", flush=True)
        rows += [dict(data='ml-100k', split='random 80/20', seed=s, **r) for r in rows_for(ml, random_split(ml.ratings, 0.2, s), a.methods or ML_METHODS, s)]
    official = Path(a.ml100k_dir) if a.ml100k_dir else next((d for d in [cache_dir()/'ml-100k', Path.home()/'.fastai'/'data'/'ml-100k']
                                                             if (d/'u1.base').exists()), None)
    if official is not None and not a.skip_ml:
        print(f"MovieLens-100k, canonical u1.base/u1.test from {official}", flush=True)
        ml_off = load_movielens_100k(path=official)
        rows += [dict(data='ml-100k', split='u1', seed=0, **r) for r in rows_for(ml_off, movielens_fold(ml_off.ratings, official, 1), a.methods or ML_METHODS, 0)]
    elif not a.skip_ml: print("MovieLens-100k canonical u1 split: skipped (no official ml-100k folder; pass --ml100k-dir)", flush=True)
    if not a.skip_books:
        bx = load('book-crossing')
        for s in a.book_seeds:
            print(f"Book-Crossing explicit ratings, random 80/20 split, seed {s}", flush=True)
            rows += [dict(data='book-crossing', split='random 80/20', seed=s, **r)
                     for r in rows_for(bx, random_split(bx.ratings, 0.2, s), BOOK_METHODS, s, centre=True)]
    t = summary(rows)
    print('\n' + t.round(4).to_string(index=False))
    write_results('accuracy', 'bench.accuracy', dict(rows=rows, summary=t.to_dict('records')), started, a.json)

if __name__ == '__main__': main()
