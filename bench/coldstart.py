"""Cold start on real data: whole users and items held out, onboarding simulated from their own ratings, new items scored from metadata.

Usage: python bench/coldstart.py [--data ml-100k|book-crossing] [--recipe standard|fast] [--out out/coldstart] [--seed 42]

MovieLens-100k: 20% of users, then 20% of the remaining items, are held out (`holdout`); the standard recipe
(50 factors, `fit_one_cycle(5, 5e-3, wd=0.1)`, bs=64) trains on the rest. Book-Crossing: users with at least 20
and books with at least 10 explicit ratings, the same holdouts, centred, bs=1024. Then `evaluate_cold_start`
(fold-in, metadata models, onboarding per question strategy, new items), with checkpoints counting questions answered
("haven't seen it" included), then the same onboarding with checkpoints counting ratings given. `--recipe fast`
trains with `fast_dataloaders` and `FAST_RECIPE` instead (seconds instead of many minutes). Writes `<data>.json` (all tables) and
`<data>_onboarding.png` (the curve) to --out. Slow: minutes on a laptop.
"""
import argparse, json, time, warnings
import pandas as pd
from pathlib import Path
from fastai.torch_core import set_seed
from collab_recs.data import load_movielens_100k, load_book_crossing
from collab_recs.dataloaders import collab_dataloaders
from collab_recs.fast import fast_dataloaders
from collab_recs.learner import dot_product_learner, evaluate, FAST_RECIPE
from collab_recs.dataloaders import rating_codes
from collab_recs.coldstart import _split_answers, holdout, evaluate_cold_start, plot_onboarding, simulate_onboarding

warnings.filterwarnings('ignore', message='The given NumPy array is not writable')

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', choices=['ml-100k', 'book-crossing'], default='ml-100k')
    p.add_argument('--out', default='out/coldstart')
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--recipe', choices=['standard', 'fast'], default='standard')
    args = p.parse_args()
    if args.data == 'ml-100k': ds, dkw, lkw = load_movielens_100k(), dict(bs=64), {}
    else: ds, dkw, lkw = load_book_crossing(min_user_ratings=20, min_item_ratings=10), dict(bs=1024), dict(centre=True)
    rest, new_users = holdout(ds, 'user', 0.2, seed=args.seed)
    train, new_items = holdout(rest, 'item', 0.2, seed=args.seed)
    fast = args.recipe == 'fast'
    dls = fast_dataloaders(train, bs=FAST_RECIPE['bs']) if fast else collab_dataloaders(train, **dkw)
    set_seed(args.seed)
    learn = dot_product_learner(dls, n_factors=50, **lkw)
    t = time.perf_counter()
    lr, wd = (FAST_RECIPE['lr'], FAST_RECIPE['wd']) if fast else (5e-3, 0.1)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(5, lr, wd=wd)
    warm = evaluate(learn)
    print(f"{ds.name}: trained on {len(dls.train_ds):,} ratings in {time.perf_counter()-t:.0f}s; warm-user valid RMSE {warm['rmse']:.4f}")
    res = evaluate_cold_start(learn.model, train, new_users, new_items)
    # The fair warm reference: the same held-out users' test ratings, scored by a model that trained on their answer pools
    # (same recipe, same training rows otherwise), i.e. what these users would get if they were not new at all
    nu = new_users[new_users['item'].isin(set(train.ratings['item']))].reset_index(drop=True)
    is_test = _split_answers(nu, 'user', 0.3, 0).to_numpy()
    cols = ['user', 'item', 'rating']
    u, i, r = rating_codes(learn.dls.train)
    tr = pd.DataFrame({'user': [learn.dls.classes['user'][int(o)] for o in u], 'item': [learn.dls.classes['item'][int(o)] for o in i], 'rating': r})
    both = pd.concat([tr, nu[cols][~is_test], nu[cols][is_test]], ignore_index=True)
    n = len(both) - is_test.sum()
    dls2 = fast_dataloaders(both, split=(list(range(n)), list(range(n, len(both)))), bs=FAST_RECIPE['bs']) if fast else \
           collab_dataloaders(both, split=(list(range(n)), list(range(n, len(both)))), **dkw)
    set_seed(args.seed)
    learn2 = dot_product_learner(dls2, n_factors=50, **lkw)
    with learn2.no_bar(), learn2.no_logging(): learn2.fit_one_cycle(5, lr, wd=wd)
    warm_same = evaluate(learn2)
    print(f"the same {nu.user.nunique()} held-out users' test ratings ({is_test.sum():,}), scored by a model trained on their answer pools too: RMSE {warm_same['rmse']:.4f}")
    print(res['item_meta'], res['user_meta'], res['baselines'], sep='\n')
    print(res['users'].round(4).to_string(), res['items'].round(4).to_string(), sep='\n\n')
    by_ratings = pd.concat([simulate_onboarding(learn.model, train, new_users, strategy=s, count='ratings', noise=res['noise'])
                            for s in ('adaptive', 'popular', 'random')], ignore_index=True)
    print('\nCheckpoints counting ratings given:', by_ratings.round(4).to_string(), sep='\n')
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    b = res['baselines']
    plot_onboarding(res['users'], {'warm users': ('rmse', warm['rmse']), 'item mean': ('rmse', b['rmse_item_mean']),
                                   'popularity': ('ndcg@10', b['ndcg@10 popularity'])}, title=ds.name, fname=out/f'{ds.name}_onboarding.png')
    (out/f'{ds.name}.json').write_text(json.dumps(dict(warm=warm, warm_same_users=warm_same, baselines=b, noise=res['noise'], users=res['users'].to_dict('records'), users_by_ratings=by_ratings.to_dict('records'),
                                                       items=res['items'].to_dict('records')), indent=1, default=float))

if __name__ == '__main__': main()
