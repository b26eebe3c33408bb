"""The standard recipe on MovieLens-100k: this package vs fastai's own `collab_learner`, on the same seeded splits.

Usage: python bench/seed_recipe.py [--seeds 42 7] [--json out.json]

Both sides use DotProductBias-style models with 50 factors, `fit_one_cycle(5, 5e-3, wd=0.1)`, bs=64,
y_range=(0, 5.5), on identical 80/20 random splits. fastai's side uses its default collab data path
(`TabWeightedDL`, which samples training rows with replacement); this package's side uses
`collab_dataloaders` (every training row once per epoch).
"""
import argparse, json, time, warnings
import numpy as np
from fastai.collab import collab_learner, TabularCollab
from fastai.tabular.core import Categorify
from fastai.data.block import TransformBlock
from fastai.torch_core import set_seed
from collab_recs.data import load_movielens_100k
from collab_recs.dataloaders import collab_dataloaders, random_split
from collab_recs.learner import dot_product_learner, evaluate

warnings.filterwarnings('ignore', message='The given NumPy array is not writable')

def fit(learn):
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(5, 5e-3, wd=0.1)
    return time.perf_counter() - t

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[42, 7])
    p.add_argument('--json', default=None)
    args = p.parse_args()
    ml = load_movielens_100k()
    r = ml.ratings[['user', 'item', 'rating']]
    rows = []
    for seed in args.seeds:
        splits = random_split(r, 0.2, seed)
        dls = collab_dataloaders(ml, split=splits, bs=64)
        set_seed(seed)
        learn = dot_product_learner(dls, n_factors=50)
        secs = fit(learn)
        rows.append(dict(seed=seed, model='collab_recs DotProductBias', **evaluate(learn), seconds=secs))
        to = TabularCollab(r.astype({'rating': 'float32'}), [Categorify], ['user', 'item'], y_names=['rating'],
                           y_block=TransformBlock(), splits=[list(map(int, s)) for s in splits])
        fdls = to.dataloaders(bs=64)  # fastai's defaults, as CollabDataLoaders.from_df builds them
        set_seed(seed)
        flearn = collab_learner(fdls, n_factors=50, y_range=(0, 5.5))
        secs = fit(flearn)
        rows.append(dict(seed=seed, model='fastai collab_learner', **evaluate(flearn), seconds=secs))
        for row in rows[-2:]: print(f"seed {row['seed']:>3}  {row['model']:<28} RMSE {row['rmse']:.4f}  MAE {row['mae']:.4f}  {row['seconds']:6.1f}s", flush=True)
    if args.json: open(args.json, 'w').write(json.dumps(rows, indent=2))

if __name__ == '__main__': main()
