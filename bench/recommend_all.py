"""Top-10 unseen items for every MovieLens-100k user at once: `recommend_all` vs a loop of single-user `recommend` calls.

Usage: python bench/recommend_all.py [--repeats 5] [--epochs 1] [--json out.json]

Trains a quick DotProductBias (50 factors, `fit_one_cycle(--epochs, 5e-3, wd=0.1)`, bs=256) on a per-user 75/25 split,
then times `learn.recommend_all(n=10)` (best of --repeats, excluding each user's training items) and, for the ratio,
the same lists computed one user at a time with `learn.recommend`. The quality of the model does not matter here.
Timings on a shared machine are noisy: compare the two figures of one run.
"""
import argparse, json, time, warnings
import numpy as np
from fastai.torch_core import set_seed
from collab_recs.data import load_movielens_100k
from collab_recs.dataloaders import collab_dataloaders
from collab_recs.learner import dot_product_learner
from collab_recs.recommend import recommend, RatedPairs, recommend_all

warnings.filterwarnings('ignore', message='The given NumPy array is not writable')

def best_of(f, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); res = f(); times.append(time.perf_counter() - t)
    return min(times), res

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--epochs', type=int, default=1)
    p.add_argument('--json', default=None)
    a = p.parse_args()
    ml = load_movielens_100k()
    dls = collab_dataloaders(ml, split='user', valid_pct=0.25, bs=256)
    set_seed(42)
    learn = dot_product_learner(dls)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, 5e-3, wd=0.1)
    titles = ml.titles()
    rated = RatedPairs.from_dls(dls)
    t_all, recs = best_of(lambda: recommend_all(learn.model, n=10, rated=rated, titles=titles), a.repeats)
    users = list(dls.classes['user'][1:])
    t_loop, loop = best_of(lambda: [recommend(learn.model, u, 10, rated=rated, titles=titles) for u in users], 1)
    assert recs.user.nunique() == len(users) == 943 and len(recs) == 9430
    assert all(recs[recs.user == u].item.tolist() == l.item.tolist() for u, l in zip(users[:50], loop[:50]))
    res = dict(users=len(users), items=len(dls.classes['item']) - 1, recommend_all_s=round(t_all, 4),
               per_user_loop_s=round(t_loop, 4), speedup=round(t_loop / t_all, 1))
    print(f"top-10 for all {res['users']} users over {res['items']} items: recommend_all {t_all*1000:.1f} ms "
          f"(best of {a.repeats}); one user at a time {t_loop*1000:.0f} ms; {res['speedup']}x")
    if a.json: open(a.json, 'w').write(json.dumps(res, indent=2))

if __name__ == '__main__': main()
