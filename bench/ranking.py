"""Top-N quality on MovieLens-100k in Microsoft Recommenders' protocol: a per-user 75/25 split, every held-out rating
relevant, the user's training items excluded, k=10. The recipes next to the baselines of `evaluation_report`, with
Microsoft Recommenders' published fastai figures (RMSE 0.943, NDCG@10 0.148, precision@10 0.130) for reference.

Usage: python -m bench.ranking [--seed 42] [--split user|user_time] [--recipes fastbook fast sparse] [--json PATH]
"""
import argparse, time
import numpy as np, pandas as pd
from bench.common import write_results, load, fit

REFERENCE = {'rmse': 0.943, 'ndcg@10': 0.148, 'precision@10': 0.130}

def main():
    from collab_recs.splits import SPLITS
    from collab_recs.evaluation import evaluation_report
    from collab_recs.baselines import popularity_blend
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seed', type=int, default=42, help='seed of the split and of the training')
    p.add_argument('--split', default='user', choices=['user', 'user_time'])
    p.add_argument('--recipes', nargs='+', default=['fastbook', 'fast', 'sparse'])
    p.add_argument('--json', default=None, help='where to write the results (default: bench/results/ranking.json)')
    a = p.parse_args()
    started, ml, rows = time.time(), load('ml-100k'), []
    split = SPLITS[a.split](ml.ratings, 0.25) if a.split == 'user_time' else SPLITS[a.split](ml.ratings, 0.25, a.seed)
    for i, name in enumerate(a.recipes):
        learn, fit_s, _ = fit(ml, name, split, seed=a.seed)
        rep = evaluation_report(learn, k=10, name=f'{name} recipe', extra={f'{name} recipe + popularity': popularity_blend(learn.dls)})
        if i: rep = rep.iloc[3:]  # the baselines once
        rep['fit_s'] = np.nan; rep.loc[f'{name} recipe', 'fit_s'] = fit_s
        rows.append(rep)
    table = pd.concat(rows)
    pd.set_option('display.width', 200)
    print(f"MovieLens-100k, split {a.split!r} 75/25, seed {a.seed}\n")
    print(pd.concat([table, pd.DataFrame([REFERENCE], index=['MS Recommenders fastai (reference)'])]).round(4).to_string())
    write_results(f'ranking' if a.split == 'user' else f'ranking-{a.split}', 'bench.ranking',
                  dict(data='ml-100k', split=a.split, seed=a.seed, k=10, rows=table.reset_index().to_dict('records'), reference=REFERENCE), started, a.json)

if __name__ == '__main__': main()
