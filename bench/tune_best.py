"""Inner-split evidence behind `BEST_RECIPE` (collab_recs.models): RMSE of candidate recipes on an inner validation split
carved from the training part of the seed-42 random 80/20 split of MovieLens-100k (`inner_split(train, 0.1, seed=0)`).
The test part of that split, and every split of bench/accuracy.py, is never read.

Usage: python bench/tune_best.py [--grid] [--json out/tune_best.json]
(single members against batch size, then seed ensembles; `--grid` adds the batch size x lr x wd grid of single members.)
Run with OMP_NUM_THREADS=1: small batches gain nothing from more threads.
"""
import argparse, json, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import pandas as pd
from collab_recs.data import load_movielens_100k
from collab_recs.dataloaders import random_split
from collab_recs.fast import fast_dataloaders
from collab_recs.learner import evaluate, FAST_RECIPE, STANDARD_RECIPE, SparseAdam
from collab_recs.models import fit_recipe, BEST_RECIPE
from collab_recs.tuning import inner_split

ROOT = Path(__file__).resolve().parent.parent
STD = dict(STANDARD_RECIPE)  # fastbook's: 50 factors, fit_one_cycle(5, 5e-3, wd=0.1)

SINGLE = [dict(STD, bs=bs) for bs in (64, 128, 256, 512, 1024)] + [dict(FAST_RECIPE)]
ENSEMBLES = [dict(FAST_RECIPE, members=5),  # the previous best recipe
             dict(STD, bs=256, members=5), dict(STD, bs=256, members=10),
             dict(STD, bs=256, wd=0.05, members=5), dict(STD, bs=256, wd=0.05, members=10), dict(STD, bs=256, wd=0.05, members=20),
             dict(STD, bs=64, members=5), dict(STD, bs=512, wd=0.05, members=5),
             dict(STD, bs=256, n_factors=100, wd=0.2, members=5),
             dict(STD, bs=256, wd=0.05, reg=0.02), dict(STD, bs=256, wd=0.05, reg=0.02, members=5),
             dict(STD, bs=256, lr=4e-3, wd=0.05, members=5), dict(STD, bs=256, lr=7e-3, wd=0.05, members=5),
             dict(STD, bs=256, model='svdpp'), dict(STD, bs=256, model='svdpp', members=5),
             dict(BEST_RECIPE, sparse=True)]  # sparse embedding gradients (SparseAdam), as bench/accuracy.py trains it on Book-Crossing
GRID = [dict(STD, bs=bs, lr=lr, wd=wd) for bs in (128, 256, 512, 1024) for lr in (3e-3, 5e-3, 1e-2, 2e-2) for wd in (0.05, 0.1, 0.2)]

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--grid', action='store_true', help='also the batch size x lr x wd grid of single members (48 fits)')
    p.add_argument('--json', default=str(ROOT/'out'/'tune_best.json'))
    a = p.parse_args()
    ml = load_movielens_100k()
    train, _ = random_split(ml.ratings, 0.2, 42)  # the test part is dropped here
    split, dls, rows = inner_split(train, 0.1, seed=0), {}, []
    for group, recipes in [('single', SINGLE), ('ensemble', ENSEMBLES)] + ([('grid', GRID)] if a.grid else []):
        for rec in recipes:
            rec = dict(rec); sparse = rec.pop('sparse', False)
            bs = rec['bs']
            if bs not in dls: dls[bs] = fast_dataloaders(ml, split=split, bs=bs)
            t = time.perf_counter(); learn = fit_recipe(dls[bs], rec, seed=0, sparse=sparse, **({'opt_func': SparseAdam} if sparse else {})); secs = time.perf_counter() - t
            r = evaluate(learn)
            row = dict(group=group, best=rec == BEST_RECIPE and not sparse, **{k: rec.get(k) for k in ('bs', 'lr', 'wd', 'n_factors', 'epochs')},
                       members=rec.get('members', 1), reg=rec.get('reg', 0), model=rec.get('model', 'dot'), sparse=sparse,
                       inner_rmse=round(r['rmse'], 4), fit_s=round(secs, 1))
            rows.append(row); print(json.dumps(row), flush=True)
    df = pd.DataFrame(rows)
    for g, part in df.groupby('group', sort=False): print(f"\n{g}\n" + part.drop(columns='group').to_string(index=False))
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(rows, indent=1))
    print(f"\nwrote {a.json}")

if __name__ == '__main__': main()
