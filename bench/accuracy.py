"""Accuracy table: RMSE / MAE / fit seconds of the default and best recipes against Surprise's SVD and SVD++ on seeded
random 80/20 splits of MovieLens-100k (mean ± standard deviation over seeds, and every split), on the canonical
`u1.base`/`u1.test` split where the official `ml-100k` folder is available, and on Book-Crossing's explicit ratings
against the global-mean and bias-only baselines (models centred on the mean training rating there, as for `--centre`).

Usage: python bench/accuracy.py [--seeds 0 1 2] [--book-seeds 0 1 2] [--ml100k-dir PATH] [--skip-books | --skip-ml] [--json out/accuracy.json]
(`make bench-accuracy` installs scikit-surprise into the dev venv first; it is never a package requirement.
Without it, the Surprise rows are reported as skipped.) No choice here looks at a test part: the recipes were fixed
beforehand on inner splits of training data (`collab_recs.tuning`).
"""
import argparse, json, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
warnings.filterwarnings('ignore')
from fastai.torch_core import set_seed
from collab_recs.data import load_movielens_100k, load_book_crossing, cache_dir
from collab_recs.dataloaders import random_split
from collab_recs.fast import fast_dataloaders
from collab_recs.learner import dot_product_learner, evaluate, FAST_RECIPE, SparseAdam
from collab_recs.models import fit_recipe, RECIPES
from collab_recs.tuning import movielens_fold

ROOT = Path(__file__).resolve().parent.parent
# Book-Crossing's tables are ~100x MovieLens': the best recipe's ~70,000 small-batch steps with dense Adam over them would take
# hours here (0.11 s a step), so it trains with sparse gradients (`SparseAdam`: only the rows a batch touches), about 2 ms a step.
BOOK_METHODS = ['global mean', 'bias only', 'default', 'best sparse']

def errors(pred, y) -> dict:
    e = np.asarray(pred, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return dict(rmse=float(np.sqrt((e**2).mean())), mae=float(np.abs(e).mean()))

def recipe_row(ds, split, name, centre=False, sparse=False) -> dict:
    "A recipe of `RECIPES`; `sparse` trains it with sparse embedding gradients (`SparseAdam`)"
    dls = fast_dataloaders(ds, split=split, bs=RECIPES[name].get('bs', 8192))
    t = time.perf_counter(); learn = fit_recipe(dls, name, seed=0, centre=centre, sparse=sparse, **({'opt_func': SparseAdam} if sparse else {})); secs = time.perf_counter() - t
    r = evaluate(learn)
    return dict(rmse=r['rmse'], mae=r['mae'], fit_s=secs)

def bias_only_row(ds, split, centre=False) -> dict:
    "`DotProductBias` with its factors frozen at zero: user and item biases only"
    dls = fast_dataloaders(ds, split=split, bs=FAST_RECIPE['bs'])
    set_seed(0)
    learn = dot_product_learner(dls, n_factors=1, centre=centre)
    for e in (learn.model.user_factors, learn.model.item_factors): e.weight.data.zero_(); e.weight.requires_grad_(False)
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(FAST_RECIPE['epochs'], FAST_RECIPE['lr'], wd=FAST_RECIPE['wd'])
    secs = time.perf_counter() - t
    r = evaluate(learn)
    return dict(rmse=r['rmse'], mae=r['mae'], fit_s=secs)

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
    t = time.perf_counter(); algo.fit(trainset); secs = time.perf_counter() - t
    v = r.iloc[split[1]]
    return dict(**errors([algo.predict(u, i).est for u, i in zip(v.user, v.item)], v.rating), fit_s=secs)

def rows_for(ds, split, methods, seed, centre=False) -> list:
    "One row per method ('NAME sparse': recipe NAME with sparse gradients); `centre` starts the models at the mean training rating (as sparse data like Book-Crossing needs)"
    out = []
    for m in methods:
        if m.split()[0] in RECIPES: res = recipe_row(ds, split, m.split()[0], centre, sparse=m.endswith(' sparse'))
        elif m == 'global mean': res = global_mean_row(ds, split)
        elif m == 'bias only': res = bias_only_row(ds, split, centre)
        elif m.startswith('surprise '): res = surprise_row(ds, split, m.split()[1].replace('++', 'pp'), seed)
        else: raise ValueError(m)
        out.append(dict(method=m, **res)); print(f"  {m:<14} " + ('  '.join(f'{k} {v:.4f}' for k, v in res.items() if k != 'skipped') or res['skipped']), flush=True)
    return out

def summary(rows) -> pd.DataFrame:
    df = pd.DataFrame([r for r in rows if 'rmse' in r])
    g = df.groupby(['data', 'split', 'method'], sort=False)
    fmt = lambda s: f"{s.mean():.4f} ± {s.std(ddof=0):.4f}" if len(s) > 1 else f"{s.mean():.4f}"
    return g.agg(n=('rmse', 'size'), rmse=('rmse', fmt), mae=('mae', fmt), fit_s=('fit_s', lambda s: f"{s.mean():.1f}"))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='*', default=[0, 1, 2], help='seeds of the random 80/20 splits (none: only u1, if found)')
    p.add_argument('--ml100k-dir', help="official ml-100k folder (with u1.base/u1.test); default: the cache's or fastai's, if present")
    p.add_argument('--book-seeds', type=int, nargs='+', default=[0, 1, 2], help='seeds of the Book-Crossing 80/20 splits')
    p.add_argument('--skip-books', action='store_true')
    p.add_argument('--skip-ml', action='store_true', help='skip MovieLens-100k (e.g. to rerun Book-Crossing only)')
    p.add_argument('--json', default=str(ROOT/'out'/'accuracy.json'))
    a = p.parse_args()
    ml_methods = ['default', 'best', 'surprise SVD', 'surprise SVD++']
    rows = []
    ml = load_movielens_100k()
    for s in ([] if a.skip_ml else a.seeds):
        print(f"MovieLens-100k, random 80/20 split, seed {s}", flush=True)
        rows += [dict(data='ml-100k', split='random 80/20', seed=s, **r) for r in rows_for(ml, random_split(ml.ratings, 0.2, s), ml_methods, s)]
    official = Path(a.ml100k_dir) if a.ml100k_dir else next((d for d in [cache_dir()/'ml-100k', Path.home()/'.fastai'/'data'/'ml-100k']
                                                             if (d/'u1.base').exists()), None)
    if official is not None and not a.skip_ml:
        print(f"MovieLens-100k, canonical u1.base/u1.test from {official}", flush=True)
        ml_off = load_movielens_100k(path=official)
        rows += [dict(data='ml-100k', split='u1', seed=0, **r) for r in rows_for(ml_off, movielens_fold(ml_off.ratings, official, 1), ml_methods, 0)]
    else: print("MovieLens-100k canonical u1 split: skipped (no official ml-100k folder; pass --ml100k-dir)", flush=True)
    if not a.skip_books:
        bx = load_book_crossing()
        for s in a.book_seeds:
            print(f"Book-Crossing explicit ratings, random 80/20 split, seed {s}", flush=True)
            rows += [dict(data='book-crossing', split='random 80/20', seed=s, **r)
                     for r in rows_for(bx, random_split(bx.ratings, 0.2, s), BOOK_METHODS, s, centre=True)]
    t = summary(rows)
    print('\n' + t.to_string())
    per_split = pd.DataFrame([r for r in rows if 'rmse' in r]).pivot_table(index=['data', 'split', 'seed'], columns='method', values='rmse', sort=False)
    print('\nRMSE per split\n' + per_split.round(4).to_string())
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(dict(rows=rows, torch_threads=torch.get_num_threads()), indent=1))
    print(f"\nwrote {a.json}")

if __name__ == '__main__': main()
