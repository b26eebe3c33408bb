"""Cold start on real data: whole users and items held out, onboarding simulated from their own ratings, new items scored from metadata.

Usage: python bench/coldstart.py [--data ml-100k|book-crossing] [--recipe standard|fast|sparse] [--out out/coldstart] [--seed 42]

MovieLens-100k: 20% of users, then 20% of the remaining items, are held out (`holdout`); the standard recipe
(50 factors, `fit_one_cycle(5, 5e-3, wd=0.1)`, bs=64) trains on the rest. Book-Crossing: users with at least 20
and books with at least 10 explicit ratings, the same holdouts, centred, bs=1024. Then `evaluate_cold_start`
(fold-in, metadata models, onboarding per question strategy, new items), with checkpoints counting questions answered
("haven't seen it" included), then the same onboarding with checkpoints counting ratings given. `--recipe fast`
trains with `fast_dataloaders` and `FAST_RECIPE` instead (seconds instead of many minutes), `--recipe sparse` with
`SPARSE_RECIPE` (sparse gradients, `RowWiseAdagrad`). A second model, trained on the same
rows plus the held-out users' answer pools, gives the fair warm reference (the same users' test ratings had they not been new);
a third, trained on the rows plus only the ratings the questionnaire collected after 10 (and 40) questions, checks whether the
fold-in wastes any of that information (retraining is what a fold-in tries to avoid);
the issue's targets are printed at the end against it and against the warm users' validation RMSE. Writes `<data>.json` (all tables) and
`<data>_onboarding.png` (the curve) to --out. Slow: minutes on a laptop.
"""
import argparse, json, time, warnings
import numpy as np, pandas as pd
from pathlib import Path
from fastai.torch_core import set_seed
from collab_recs.data import load_movielens_100k, load_book_crossing
from collab_recs.dataloaders import collab_dataloaders
from collab_recs.fast import fast_dataloaders
from collab_recs.learner import dot_product_learner, evaluate, FAST_RECIPE, SPARSE_RECIPE
from collab_recs.dataloaders import rating_codes
from collab_recs.coldstart import _codes, _copy_onboarding, _split_answers, holdout, evaluate_cold_start, plot_onboarding, simulate_onboarding, Onboarding

warnings.filterwarnings('ignore', message='The given NumPy array is not writable')

def fit(data, recipe:str, dkw:dict, lkw:dict, seed:int, split='random'):
    "Train the 50-factor dot-product model on `data` with the standard (fastbook), fast or sparse recipe"
    R = {'fast': FAST_RECIPE, 'sparse': SPARSE_RECIPE}.get(recipe)
    if R is None: set_seed(seed)  # fastai's loaders draw their shuffling seed when created (fast_dataloaders shuffle later, after the set_seed below)
    dls = fast_dataloaders(data, split=split, bs=R['bs']) if R else collab_dataloaders(data, split=split, **dkw)
    set_seed(seed)
    learn = dot_product_learner(dls, n_factors=50, sparse=bool(R and R.get('sparse')), **lkw)
    epochs, lr, wd = (R['epochs'], R['lr'], R['wd']) if R else (5, 5e-3, 0.1)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr, wd=wd)
    return learn

def load(name:str, seed:int) -> tuple:
    "(dataset name, training data, held-out users' ratings, held-out items' ratings, dataloader kwargs, learner kwargs)"
    if name == 'ml-100k': ds, dkw, lkw = load_movielens_100k(), dict(bs=64), {}
    else: ds, dkw, lkw = load_book_crossing(min_user_ratings=20, min_item_ratings=10), dict(bs=1024), dict(centre=True)
    rest, new_users = holdout(ds, 'user', 0.2, seed=seed)
    train, new_items = holdout(rest, 'item', 0.2, seed=seed)
    return name, train, new_users, new_items, dkw, lkw

def training_rows(learn) -> pd.DataFrame:
    "The rows `learn` trained on, as `user`, `item`, `rating` in the data's own ids"
    u, i, r = rating_codes(learn.dls.train)
    return pd.DataFrame({'user': [learn.dls.classes['user'][int(o)] for o in u], 'item': [learn.dls.classes['item'][int(o)] for o in i], 'rating': r})

def warm_same_users(learn, train, new_users:pd.DataFrame, recipe:str, dkw:dict, lkw:dict, seed:int) -> dict:
    "The fair warm reference: the held-out users' test ratings scored by a model that also trained on their answer pools"
    # same recipe and training rows otherwise: what these very users would get if they were not new at all
    nu = new_users[new_users['item'].isin(set(train.ratings['item']))].reset_index(drop=True)
    is_test = _split_answers(nu, 'user', 0.3, 0).to_numpy()
    cols = ['user', 'item', 'rating']
    tr = training_rows(learn)
    both = pd.concat([tr, nu[cols][~is_test], nu[cols][is_test]], ignore_index=True)
    n = len(both) - is_test.sum()
    res = evaluate(fit(both, recipe, dkw, lkw, seed, split=(list(range(n)), list(range(n, len(both))))))
    print(f"the same {nu.user.nunique()} held-out users' test ratings ({is_test.sum():,}), scored by a model trained on their answer pools too: RMSE {res['rmse']:.4f}")
    return res

def retrained_on_answers(learn, train, new_users:pd.DataFrame, recipe:str, dkw:dict, lkw:dict, seed:int, questions=(10, 40)) -> dict:
    "Is the fold-in the bottleneck? Retrain on the training rows plus the ratings the adaptive questionnaire collected, score the same test ratings"
    # The questions and answers are those of `simulate_onboarding` (same seed, same rounds: 5 then 5, then 10 per round).
    m, out = learn.model, {}
    nu = new_users[_codes(m.item_vocab, new_users['item']) > 0].reset_index(drop=True)
    is_test = _split_answers(nu, 'user', 0.3, 0)
    ob0 = Onboarding(m, train, strategy='adaptive', seed=0)
    tr = training_rows(learn)
    for nq in questions:
        answers, pred, truth = [], [], []
        for user, g in nu.groupby('user', sort=True):
            pool = dict(zip(g.loc[~is_test[g.index], 'item'], g.loc[~is_test[g.index], 'rating']))
            ob = _copy_onboarding(ob0, None, 0)
            for c in (5, 10, 20, 40):
                if c > nq: break
                for q in ob.next_questions(c - len(ob.asked)): ob.answer(q, pool.get(q))
            if not ob.rated: continue  # a user with no rating is not in a retrained model's vocabulary: left out of both
            answers += [(user, it, rt) for it, rt in ob.rated.items()]
            test = g[is_test[g.index]]
            pred.append(ob.predict(test['item'].tolist())); truth.append(test[['user', 'item', 'rating']])
        ans, test = pd.DataFrame(answers, columns=['user', 'item', 'rating']), pd.concat(truth, ignore_index=True)
        both = pd.concat([tr, ans, test], ignore_index=True)
        n = len(both) - len(test)
        res = evaluate(fit(both, recipe, dkw, lkw, seed, split=(list(range(n)), list(range(n, len(both))))))
        fold = float(np.sqrt(((np.concatenate(pred) - test['rating'].to_numpy())**2).mean()))
        out[nq] = dict(users=ans.user.nunique(), ratings=len(ans)/ans.user.nunique(), n_test=len(test), fold_in=fold, retrained=res['rmse'])
        print(f"after {nq} questions, the {ans.user.nunique()} users with a rating ({len(ans)/ans.user.nunique():.2f} each; {len(test):,} test ratings): "
              f"fold-in RMSE {fold:.4f}, retrained on the training rows plus these answers {res['rmse']:.4f}")
    return out

def targets(res:dict, warm:float, warm_same:float, strategy='adaptive') -> str:
    "The issue's targets, checked on the tables of `evaluate_cold_start`, against both warm references"
    u = res['users']
    q, r = (u[u.strategy == s].set_index('checkpoint') for s in (strategy, 'random'))
    lines = [f"\nTargets ({strategy} questionnaire, checkpoints count questions answered):"]
    for c in (5, 10):
        lines.append(f"  {c:2d} questions: RMSE {q.rmse[c]:.4f} vs random {r.rmse[c]:.4f}, NDCG@10 {q['ndcg@10'][c]:.4f} vs {r['ndcg@10'][c]:.4f}"
                     f" -> beats random: {q.rmse[c] < r.rmse[c]}")
    bo = q.rmse_bias_only[10]
    for label, w in (('warm users, valid split', warm), ('warm, the same users (trained on their answer pools)', warm_same)):
        mid = (w + bo)/2
        lines.append(f"  10 questions: RMSE {q.rmse[10]:.4f}; bias only {bo:.4f}; {label} {w:.4f}; midpoint {mid:.4f}"
                     f" -> closer to warm: {q.rmse[10] < mid}")
    p = res['baselines']['ndcg@10 popularity']
    lines.append(f"  10 questions: NDCG@10 {q['ndcg@10'][10]:.4f} (predicted rating + log P(seen)), {q['ndcg@10 rating only'][10]:.4f} (predicted rating alone); "
                 f"popularity {p:.4f} -> beats popularity: {q['ndcg@10'][10] > p}")
    it = res['items'].set_index('checkpoint').loc[0]
    lines.append(f"  new items from metadata alone: RMSE {it.rmse:.4f} vs global mean {it.rmse_global_mean:.4f}, item mean {it.rmse_item_mean:.4f}")
    return '\n'.join(lines)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', choices=['ml-100k', 'book-crossing'], default='ml-100k')
    p.add_argument('--out', default='out/coldstart')
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--recipe', choices=['standard', 'fast', 'sparse'], default='standard')
    args = p.parse_args()
    name, train, new_users, new_items, dkw, lkw = load(args.data, args.seed)
    t = time.perf_counter()
    learn = fit(train, args.recipe, dkw, lkw, args.seed)
    warm = evaluate(learn)
    print(f"{name}: trained on {len(learn.dls.train_ds):,} ratings in {time.perf_counter()-t:.0f}s; warm-user valid RMSE {warm['rmse']:.4f}")
    res = evaluate_cold_start(learn.model, train, new_users, new_items)
    warm_same = warm_same_users(learn, train, new_users, args.recipe, dkw, lkw, args.seed)
    retrained = retrained_on_answers(learn, train, new_users, args.recipe, dkw, lkw, args.seed)
    print(res['item_meta'], res['user_meta'], res['baselines'], sep='\n')
    print(res['users'].round(4).to_string(), res['items'].round(4).to_string(), sep='\n\n')
    by_ratings = pd.concat([simulate_onboarding(learn.model, train, new_users, strategy=s, count='ratings', noise=res['noise'])
                            for s in ('adaptive', 'popular', 'random')], ignore_index=True)
    print('\nCheckpoints counting ratings given:', by_ratings.round(4).to_string(), sep='\n')
    print(targets(res, warm['rmse'], warm_same['rmse']))
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    b = res['baselines']
    plot_onboarding(res['users'], {'warm users (valid split)': ('rmse', warm['rmse']), 'warm, same users': ('rmse', warm_same['rmse']), 'item mean': ('rmse', b['rmse_item_mean']),
                                   'popularity': ('ndcg@10', b['ndcg@10 popularity'])}, title=name, fname=out/f'{name}_onboarding.png')
    (out/f'{name}.json').write_text(json.dumps(dict(warm=warm, warm_same_users=warm_same, retrained_on_answers=retrained, baselines=b, noise=res['noise'], users=res['users'].to_dict('records'), users_by_ratings=by_ratings.to_dict('records'),
                                                       items=res['items'].to_dict('records')), indent=1, default=float))

if __name__ == '__main__': main()
