"""Top-N quality on MovieLens-100k in Microsoft Recommenders' protocol: a per-user 75/25 split, every held-out rating
relevant, each user's training items excluded, k=10. The ranking recipe (three training seeds) next to the strongest
baselines and peers, measured in one run: EASE, ItemKNN, most popular, implicit's ALS and LightFM's WARP when installed
(`make bench-ranking` installs them; they are never package requirements), and the rating recipes for contrast, with
Microsoft Recommenders' published fastai figures for reference. `--joint` also trains one model on rating MSE plus the
ranking softmax at several weights: can one model do both?

Usage: python -m bench.ranking [--data ml-100k|book-crossing] [--split-seed 42] [--seeds 0 1 2] [--split user|user_time] [--joint W ...] [--bivae] [--json PATH]
       python -m bench.ranking --tune 16   # how the ranking recipe's options were chosen: on inner splits of the training part only

`--tune N`: `collab_recs.recipes.random_search` over the ranking recipe's learning rate, weight decay and size, N trials,
each scored by NDCG@10 on 10% of each user's training interactions (the test part is never read); writes ranking-tuning.json.

`--data book-crossing`: every Book-Crossing row (explicit score or implicit 0) as an interaction, users and books with at
least 5 interactions, the same per-user split; EASE refuses a catalogue this large, and says how much memory it would need.
"""
import argparse, time
import numpy as np, pandas as pd, torch
from bench.common import write_results, load, fit, timed

REFERENCE = {'rmse': 0.943, 'ndcg@10': 0.148, 'precision@10': 0.130}
COLS = ['rmse', 'ndcg@10', 'precision@10', 'recall@10', 'map@10', 'coverage', 'fit_s']

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

def cornac_bivae(X, seed:int):
    "cornac's BiVAE (its defaults but 50 latent dimensions and 500 epochs), on the binary training matrix"
    import cornac
    from cornac.data import Dataset
    u, i = X.nonzero()
    ds = Dataset.from_uir(list(zip(map(str, u), map(str, i), np.ones(len(u)))), seed=seed)
    m = cornac.models.BiVAECF(k=50, encoder_structure=[100], n_epochs=500, batch_size=128, seed=seed, verbose=False).fit(ds)
    uidx, iidx = ds.uid_map, ds.iid_map
    U, V = np.zeros((X.shape[0], 50), np.float32), np.zeros((X.shape[1], 50), np.float32)
    theta, beta = m.bivae.mu_theta.detach().cpu().numpy(), m.bivae.mu_beta.detach().cpu().numpy()
    for k, r in uidx.items(): U[int(k)] = theta[r]
    for k, r in iidx.items(): V[int(k)] = beta[r]
    return factor_scorer(U, V)

def joint_model(dls, w:float, seed:int):
    "One DotProductBias trained on rating MSE plus `w` × the ranking softmax (`multinomial_loss`), batched by users, with the ranking recipe's options"
    from fastai.layers import sigmoid_range
    from fastai.torch_core import set_seed
    from collab_recs.model import DotProductBias
    from collab_recs.ranking import multinomial_loss
    from collab_recs.dataloaders import rating_codes
    from collab_recs.recipes import RECIPES
    o = RECIPES['ranking']; k, epochs, lr, wd, bs = o['n_factors'], o['epochs'], o['lr'], o['wd'], o['bs']
    set_seed(seed)
    u, i, r = rating_codes(dls.train)
    nu, ni = len(dls.classes['user']), len(dls.classes['item'])
    X = torch.zeros(nu, ni); X[u, i] = 1.
    R = torch.zeros(nu, ni); R[u, i] = torch.from_numpy(np.asarray(r, np.float32))
    m = DotProductBias.from_dls(dls, n_factors=k)
    opt = torch.optim.AdamW(m.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=wd)
    steps = epochs * -(-nu // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.25, div_factor=25., final_div_factor=1e5)
    for _ in range(epochs):
        for idx in torch.randperm(nu).split(bs):
            x = X[idx]; n = x.sum().clamp_min(1)
            dot = m.user_factors.weight[idx] @ m.item_factors.weight.T
            pred = sigmoid_range(dot + m.user_bias.weight[idx] + m.item_bias.weight[:, 0] + m.offset, *m.y_range)
            loss = ((pred - R[idx]).pow(2) * x).sum() / n + w * multinomial_loss(dot + m.item_bias.weight[:, 0], x)
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    return m

TUNE_SPACE = dict(lr=(0.01, 0.2), wd=(0.5, 4.0), n_factors=[64, 128])

def tune(ml, train, a, started):
    "A seeded random search for the ranking recipe's options, scored on inner splits of the training positions `train` only"
    from collab_recs.tuning import random_search
    from collab_recs.recipes import RECIPES
    res = random_search(ml, train, TUNE_SPACE, n_trials=a.tune, base='ranking', seed=0, valid_pct=0.1)
    print(res[['n_factors', 'lr', 'wd', 'ndcg@10']].to_string(float_format=lambda v: f'{v:.4f}'))
    best = res.iloc[0]
    print(f"\nbest on the inner split: n_factors {best.n_factors}, lr {best.lr:.4f}, wd {best.wd:.3f} (inner NDCG@10 {best['ndcg@10']:.4f}); "
          f"the ranking recipe: {RECIPES['ranking']}")
    write_results('ranking-tuning', 'bench.ranking', dict(data=a.data, split=a.split, split_seed=a.split_seed, inner_valid_pct=0.1,
                  space={k: list(v) for k, v in TUNE_SPACE.items()}, recipe=dict(RECIPES['ranking']), trials=res.to_dict('records')), started, a.json)

def main():
    from collab_recs.splits import SPLITS
    from collab_recs.dataloaders import tensor_dataloaders
    from collab_recs.baselines import interaction_matrix, ease_scores, item_knn_scores, popularity_blend
    from collab_recs.evaluation import evaluation_report, ranking_metrics, holdout_truth, ranked_for_holdout, model_rmse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default='ml-100k', choices=['ml-100k', 'book-crossing'])
    p.add_argument('--split-seed', type=int, default=42, help='seed of the per-user split')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2], help='training seeds of the ranking recipe')
    p.add_argument('--split', default='user', choices=['user', 'user_time'])
    p.add_argument('--recipes', nargs='*', default=['fastbook', 'fast', 'sparse'], help='rating recipes to show for contrast')
    p.add_argument('--ease-lam', type=float, default=500., help="EASE's L2 penalty")
    p.add_argument('--joint', type=float, nargs='*', default=None, help='weights of the softmax in a joint rating + ranking model (e.g. 0.1 1 10)')
    p.add_argument('--bivae', action='store_true', help="also train cornac's BiVAE (minutes)")
    p.add_argument('--tune', type=int, default=0, metavar='N', help="instead: N trials of a seeded search for the ranking recipe's options on inner splits of the training part")
    p.add_argument('--json', default=None, help='where to write the results (default: bench/results/ranking[-SPLIT][-seed N].json)')
    a = p.parse_args()
    started = time.time()
    ml = load('ml-100k') if a.data == 'ml-100k' else load('book-crossing', min_user_ratings=5, min_item_ratings=5, interactions=True)
    if a.data != 'ml-100k': a.recipes, a.joint = [], None  # interactions: no rating recipes
    split = SPLITS[a.split](ml.ratings, 0.25) if a.split == 'user_time' else SPLITS[a.split](ml.ratings, 0.25, a.split_seed)
    if a.tune: return tune(ml, split[0], a, started)
    dls = tensor_dataloaders(ml, split=split)
    truth, n_items = holdout_truth(dls), len(dls.classes['item']) - 1
    rows, model0 = [], None
    def add(name, scorer=None, model=None, fit_s=None, seed=None, rmse=None):
        recs = ranked_for_holdout(model if model is not None else model0, dls, 10, scorer, truth)
        m = ranking_metrics(recs, truth, 10, n_items)
        rows.append(dict(method=name, seed=seed, rmse=rmse, fit_s=fit_s, **{c: m[c] for c in COLS if c in m}))
        r = rows[-1]
        print(f"{name:<32} {'' if seed is None else seed!s:>4}  NDCG@10 {r['ndcg@10']:.4f}  P@10 {r['precision@10']:.4f}  "
              + (f"RMSE {rmse:.4f}  " if rmse is not None else '') + (f"fit {fit_s:.2f}s" if fit_s is not None else ''), flush=True)
    for s in a.seeds:
        learn, fit_s, _ = fit(ml, 'ranking', split, seed=s)
        model0 = model0 or learn.model
        add('ranking recipe', model=learn.model, fit_s=fit_s, seed=s)
    from collab_recs.baselines import CatalogueTooLargeError
    try: scorer, secs = timed(ease_scores, dls, a.ease_lam); add(f'EASE (lambda={a.ease_lam:g})', scorer, fit_s=secs)
    except CatalogueTooLargeError as e: print(f"EASE: {e}"); rows.append(dict(method=f'EASE (lambda={a.ease_lam:g})', skipped=str(e)))
    scorer, secs = timed(item_knn_scores, dls, 100); add('ItemKNN (cosine, k=100)', scorer, fit_s=secs)
    from collab_recs.baselines import popularity_scores
    add('most popular', popularity_scores(dls), fit_s=0.)
    X = interaction_matrix(dls)
    for name, f in (('implicit ALS', implicit_als), ('LightFM WARP', lightfm_warp)) + ((('cornac BiVAE', cornac_bivae),) if a.bivae else ()):
        try: scorer, secs = timed(f, X, a.seeds[0])
        except ImportError as e: print(f"{name}: skipped ({e})"); rows.append(dict(method=name, skipped=str(e))); continue
        add(name, scorer, fit_s=secs, seed=a.seeds[0])
    for name in a.recipes:
        learn, fit_s, _ = fit(ml, name, split, seed=a.seeds[0])
        add(f'{name} recipe (ratings)', model=learn.model, fit_s=fit_s, seed=a.seeds[0], rmse=model_rmse(learn.model, dls))
        add(f'{name} recipe + popularity', popularity_blend(dls), model=learn.model, seed=a.seeds[0])
    for w in (a.joint or []):
        m, secs = timed(joint_model, dls, w, a.seeds[0])
        add(f'joint, softmax weight {w:g}', model=m, fit_s=secs, seed=a.seeds[0], rmse=model_rmse(m, dls))
    df = pd.DataFrame(rows)
    summary = df[df.method == 'ranking recipe'][['ndcg@10', 'precision@10', 'fit_s']].agg(['mean', 'std'])
    print(f"\nranking recipe over seeds {a.seeds}: NDCG@10 {summary.loc['mean', 'ndcg@10']:.4f} ± {summary.loc['std', 'ndcg@10']:.4f}, "
          f"P@10 {summary.loc['mean', 'precision@10']:.4f} ± {summary.loc['std', 'precision@10']:.4f}, fit {summary.loc['mean', 'fit_s']:.2f}s")
    name = 'ranking' + ('' if a.data == 'ml-100k' else f'-{a.data}') + ('' if a.split == 'user' else f'-{a.split}') + ('' if a.split_seed == 42 else f'-seed{a.split_seed}')
    write_results(name, 'bench.ranking', dict(data=a.data, split=a.split, split_seed=a.split_seed, seeds=a.seeds, k=10, rows=rows,
                                              ranking_recipe=summary.to_dict(), reference=REFERENCE), started, a.json)

if __name__ == '__main__': main()
