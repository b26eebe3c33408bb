"""Top-N quality in Microsoft Recommenders' protocol: a per-user 75/25 split, every held-out interaction relevant, each
user's training items excluded, k=10. Every model kind of the package (the ranking DotProductBias and the item-item
models), each with options chosen on inner splits of the training part only (`--tuned`: a seeded search of `--trials`
trials; the test part is never read while choosing), next to the baselines and peers in one run: most popular, ItemKNN
(cosine, k=100), EASE (dense, where the catalogue fits), implicit's ALS and LightFM's WARP when installed (`make
bench-ranking` installs them; never package requirements), and on MovieLens-100k the rating recipes for contrast, with
Microsoft Recommenders' published fastai figures for reference. Fit seconds are those of the chosen options on the whole
training part. Random trainings run once per seed in `--seeds`; the item-item models are not random.

Usage: python -m bench.ranking [--data ml-100k|book-crossing] [--split-seed 42] [--seeds 0 1 2] [--recipes ...]
                               [--tuned ...] [--trials 12] [--json PATH]

`--data book-crossing`: every Book-Crossing row (explicit score or implicit 0) as an interaction, users and books with at
least 5 interactions, the same per-user split; dense EASE refuses a catalogue this large, and says how much memory it
would need.
"""
import argparse, time
import numpy as np, pandas as pd, torch
from bench.common import write_results, load, fit, timed

REFERENCE = {'rmse': 0.943, 'ndcg@10': 0.148, 'precision@10': 0.130}
COLS = ['rmse', 'ndcg@10', 'precision@10', 'recall@10', 'map@10', 'coverage', 'fit_s']
DEFAULTS = {'ml-100k': dict(recipes=['ranking', 'itemknn', 'ease'], tuned=['itemknn', 'ease']),
            'book-crossing': dict(recipes=['ranking-sampled', 'itemknn', 'ease'], tuned=['ranking-sampled', 'itemknn', 'ease'])}

def factor_scorer(U:np.ndarray, V:np.ndarray, item_bias:np.ndarray=None):
    "A scorer for `top_n` from a peer's user and item factors, indexed by the package's embedding rows"
    U, V = torch.from_numpy(np.asarray(U, np.float32)), torch.from_numpy(np.asarray(V, np.float32))
    b = None if item_bias is None else torch.from_numpy(np.asarray(item_bias, np.float32))
    def score(model, users, items):
        s = U[users.cpu()] @ V[items.cpu()].T
        return s if b is None else s + b[items.cpu()]
    return score

def implicit_als(X, seed:int):
    "implicit's AlternatingLeastSquares (its defaults, 64 factors: the best of 64, 100, 128 on this split), on the binary training matrix"
    import implicit, threadpoolctl
    with threadpoolctl.threadpool_limits(1, 'blas'):
        m = implicit.als.AlternatingLeastSquares(factors=64, random_state=seed)
        m.fit(X, show_progress=False)
    return factor_scorer(m.user_factors, m.item_factors)

def lightfm_warp(X, seed:int):
    "LightFM with the WARP loss (its defaults, 10 components: better here than 32 or 64; 30 epochs), on the binary training matrix"
    from lightfm import LightFM
    m = LightFM(loss='warp', random_state=seed)
    m.fit(X.tocoo(), epochs=30, num_threads=2)
    ub, U = m.get_user_representations(); ib, V = m.get_item_representations()
    return factor_scorer(U, V, ib)

def chosen_options(data, train, name:str, tune:bool, trials:int) -> tuple:
    "(options, table of trials or None): `name`'s options searched on inner splits of `train`, or the recipe's own"
    from collab_recs.recipes import recipe_options
    from collab_recs.tuning import tune_recipe, random_search
    if not tune:  # its own options, scored on the same inner split as the tuned ones (what `--recipe auto` compares)
        return recipe_options(name), random_search(data, train, {}, n_trials=1, base=name, seed=0)
    print(f"tuning {name!r} on inner splits of the training part ({trials} trials)", flush=True)
    opts, res = tune_recipe(data, train, name, n_trials=trials, seed=0, show=lambda line: print('  ' + line, flush=True))
    return opts, res

def main():
    from collab_recs.splits import SPLITS
    from collab_recs.dataloaders import tensor_dataloaders
    from collab_recs.recipes import fit_recipe
    from collab_recs.baselines import interaction_matrix, ease_scores, item_knn_scores, popularity_blend, popularity_scores
    from collab_recs.baselines import CatalogueTooLargeError
    from collab_recs.evaluation import ranking_metrics, holdout_truth, ranked_for_holdout, model_rmse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default='ml-100k', choices=list(DEFAULTS))
    p.add_argument('--split-seed', type=int, default=42, help='seed of the per-user split')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2], help='training seeds of the random recipes')
    p.add_argument('--split', default='user', choices=['user', 'user_time'])
    p.add_argument('--recipes', nargs='+', default=None, help="the package's recipes to report (default: per dataset)")
    p.add_argument('--tuned', nargs='*', default=None, help='of those, the ones whose options are searched on inner splits first')
    p.add_argument('--trials', type=int, default=12, help='trials of each search')
    p.add_argument('--rating-recipes', nargs='*', default=['fastbook', 'fast', 'sparse'], help='rating recipes to show for contrast (ml-100k)')
    p.add_argument('--ease-lam', type=float, default=500., help="dense EASE's L2 penalty")
    p.add_argument('--json', default=None, help='where to write the results (default: bench/results/ranking[-DATA][-SPLIT][-seedN].json)')
    a = p.parse_args()
    recipes = a.recipes or DEFAULTS[a.data]['recipes']
    tuned = DEFAULTS[a.data]['tuned'] if a.tuned is None else a.tuned
    started = time.time()
    data = load('ml-100k') if a.data == 'ml-100k' else load('book-crossing', min_user_ratings=5, min_item_ratings=5, interactions=True)
    if a.data != 'ml-100k': a.rating_recipes = []  # interactions: no rating recipes
    split = SPLITS[a.split](data.ratings, 0.25) if a.split == 'user_time' else SPLITS[a.split](data.ratings, 0.25, a.split_seed)
    dls = tensor_dataloaders(data, split=split)
    truth, n_items = holdout_truth(dls), len(dls.classes['item']) - 1
    rows, chosen, model0 = [], {}, None
    def add(name, scorer=None, model=None, fit_s=None, seed=None, rmse=None, **extra):
        recs = ranked_for_holdout(model if model is not None else model0, dls, 10, scorer, truth)
        m = ranking_metrics(recs, truth, 10, n_items)
        rows.append(dict(method=name, seed=seed, rmse=rmse, fit_s=fit_s, **{c: m[c] for c in COLS if c in m}, **extra))
        r = rows[-1]
        print(f"{name:<34} {'' if seed is None else seed!s:>4}  NDCG@10 {r['ndcg@10']:.4f}  P@10 {r['precision@10']:.4f}  "
              + (f"RMSE {rmse:.4f}  " if rmse is not None else '') + (f"fit {fit_s:.2f}s" if fit_s is not None else ''), flush=True)
    for name in recipes:
        opts, trials = chosen_options(data, split[0], name, name in tuned, a.trials)
        chosen[name] = dict(options=opts, tuned=name in tuned, inner_ndcg_at_10=float(trials['ndcg@10'].iloc[0]), trials=trials.to_dict('records'))
        for s in (a.seeds if opts['kind'] in ('rating', 'ranking') else a.seeds[:1]):
            res, fit_s = timed(fit_recipe, dls, opts, seed=s)
            model = getattr(res, 'model', res)
            model0 = model0 or model
            add(f'{name} recipe', model=model, fit_s=fit_s, seed=s, kind=opts['kind'], tuned=name in tuned)
    try: scorer, secs = timed(ease_scores, dls, a.ease_lam); add(f'EASE (dense, lambda={a.ease_lam:g})', scorer, fit_s=secs)
    except CatalogueTooLargeError as e: print(f"EASE (dense): {e}"); rows.append(dict(method=f'EASE (dense, lambda={a.ease_lam:g})', skipped=str(e)))
    scorer, secs = timed(item_knn_scores, dls, 100); add('ItemKNN (cosine, k=100)', scorer, fit_s=secs)
    add('most popular', popularity_scores(dls), fit_s=0.)
    X = interaction_matrix(dls)
    for name, f in (('implicit ALS', implicit_als), ('LightFM WARP', lightfm_warp)):
        try: scorer, secs = timed(f, X, a.seeds[0])
        except ImportError as e: print(f"{name}: skipped ({e})"); rows.append(dict(method=name, skipped=str(e))); continue
        add(name, scorer, fit_s=secs, seed=a.seeds[0])
    for name in a.rating_recipes:
        learn, fit_s, _ = fit(data, name, split, seed=a.seeds[0])
        add(f'{name} recipe (ratings)', model=learn.model, fit_s=fit_s, seed=a.seeds[0], rmse=model_rmse(learn.model, dls))
        add(f'{name} recipe + popularity', popularity_blend(dls), model=learn.model, seed=a.seeds[0])
    df = pd.DataFrame(rows)
    summary = {}
    for name in recipes:
        g = df[df.method == f'{name} recipe']
        summary[name] = {c: dict(mean=float(g[c].mean()), std=float(g[c].std()) if len(g) > 1 else None) for c in ('ndcg@10', 'precision@10', 'fit_s')}
        print(f"\n{name} recipe over seeds {g.seed.tolist()}: NDCG@10 {g['ndcg@10'].mean():.4f}"
              + (f" ± {g['ndcg@10'].std():.4f}" if len(g) > 1 else '') + f", P@10 {g['precision@10'].mean():.4f}, fit {g['fit_s'].mean():.1f}s"
              + f"; inner NDCG@10 {chosen[name]['inner_ndcg_at_10']:.4f}" + (f", options chosen there: {chosen[name]['options']}" if chosen[name]['tuned'] else ''))
    inner = {n: c['inner_ndcg_at_10'] for n, c in chosen.items()}
    print(f"\nOn the inner split, the best recipe is {max(inner, key=inner.get)!r} (NDCG@10 {max(inner.values()):.4f}; all: "
          + ', '.join(f"{n} {v:.4f}" for n, v in inner.items()) + "): what --recipe auto would choose among these")
    name = 'ranking' + ('' if a.data == 'ml-100k' else f'-{a.data}') + ('' if a.split == 'user' else f'-{a.split}') + ('' if a.split_seed == 42 else f'-seed{a.split_seed}')
    write_results(name, 'bench.ranking', dict(data=a.data, split=a.split, split_seed=a.split_seed, seeds=a.seeds, k=10, rows=rows,
                                              recipes=summary, chosen=chosen, reference=REFERENCE), started, a.json)

if __name__ == '__main__': main()
