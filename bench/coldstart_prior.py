"""Is the fold-in prior calibrated? Checked on a split of the *training* users, never on the evaluation users.

Usage: python bench/coldstart_prior.py [--data ml-100k|book-crossing] [--recipe fast|standard] [--seed 42] [--inner-seed 7]

The same holdouts as bench/coldstart.py, then 20% of the remaining (training) users are held out once more and a model
trains without them. Those inner users are folded in from k random ratings of their answer pool (k = 3, 10, all) with
the population prior's factor block scaled by `a`, its bias variance by `b`, and the noise by `c`, and scored on their
test ratings: an empirical-Bayes check, on users whose ratings the evaluation never sees, of whether the wd-shrunk
trained vectors give the right prior. It also prints the inner users' onboarding (10 questions) and their fair warm
reference, so the gap can be read against the information 10 questions give; how far predicted ratings should lean
towards the items' damped means while answers are few (`Onboarding`'s `lean`); and the leaky alternative (warm users folded
in from some of their own training ratings, scored on others the model trained on) for comparison. About a minute with --recipe fast.
"""
import argparse, warnings
import numpy as np, pandas as pd
from coldstart import fit, load, warm_same_users
from collab_recs.learner import evaluate
from collab_recs.coldstart import (_codes, _split_answers, holdout, population_prior, fold_in_noise, fold_in_user,
                                   score_folded, simulate_onboarding, Gaussian)

warnings.filterwarnings('ignore')

def scaled(prior:Gaussian, a:float, b:float) -> Gaussian:
    "`prior` with the factors' covariance scaled by `a` and the bias variance by `b` (cross terms by sqrt(ab))"
    d = np.full(len(prior.mean), np.sqrt(a)); d[-1] = np.sqrt(b)
    return Gaussian(prior.mean, prior.cov*np.outer(d, d), prior.source)

def fold_in_rmse(model, heldout:pd.DataFrame, prior:Gaussian, noise:float, k:int=None, seed:int=0) -> float:
    "RMSE on each user's test ratings after folding in `k` random ratings of their answer pool (all of it if `k` is None)"
    h = heldout[_codes(model.item_vocab, heldout['item']) > 0]
    is_test = _split_answers(h, 'user', 0.3, 0)
    rng, se, n = np.random.default_rng(seed), 0., 0
    for _, g in h.groupby('user'):
        pool, test = g[~is_test[g.index]], g[is_test[g.index]]
        if k is not None: pool = pool.sample(n=min(k, len(pool)), random_state=int(rng.integers(2**31)))
        s = score_folded(model, fold_in_user(model, pool[['item', 'rating']], prior, noise))[_codes(model.item_vocab, test['item'])]
        se += ((s - test['rating'].to_numpy())**2).sum(); n += len(test)
    return float(np.sqrt(se/n))

def warm_self_rmse(model, ratings:pd.DataFrame, prior:Gaussian, noise:float, k:int=10, n_users:int=300, seed:int=0) -> float:
    "The leaky alternative: fold warm users in from `k` of their own training ratings, score the rest with the same frozen model"
    rng = np.random.default_rng(seed)
    cnt = ratings['user'].value_counts()
    sub = ratings[ratings['user'].isin(rng.permutation(cnt[cnt >= 2*k].index.to_numpy())[:n_users])]
    return fold_in_rmse(model, sub, prior, noise, k, seed)

def inner_split(description:str) -> tuple:
    "Parse the shared options, hold out the outer users as bench/coldstart.py does, then 20% of the training users: (name, args, train, inner, learn, dkw, lkw)"
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--data', choices=['ml-100k', 'book-crossing'], default='ml-100k')
    p.add_argument('--recipe', choices=['standard', 'fast'], default='fast')
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--inner-seed', type=int, default=7)
    args = p.parse_args()
    name, train, _, _, dkw, lkw = load(args.data, args.seed)
    train, inner = holdout(train, 'user', 0.2, seed=args.inner_seed)
    return name, args, train, inner, fit(train, args.recipe, dkw, lkw, args.seed), dkw, lkw

def main():
    name, args, train, inner, learn, dkw, lkw = inner_split(__doc__.splitlines()[0])
    m = learn.model
    prior, noise = population_prior(m, 'user'), fold_in_noise(m, train.ratings)
    print(f"{name}, {args.recipe} recipe: {inner.user.nunique()} inner held-out training users; noise {noise:.3f}, "
          f"prior bias variance {prior.cov[-1, -1]:.4f}, mean factor variance {np.diag(prior.cov)[:-1].mean():.4f} (logit scale)")
    rows = []
    grid = [(a, b, 1.) for a in (0.3, 1., 3.) for b in (0.3, 1., 3., 10.)] + [(1., 1., 0.5), (1., 1., 2.)]
    for a, b, c in grid:
        rows.append(dict(factors_x=a, bias_x=b, noise_x=c, **{f'k={k or "all"}': fold_in_rmse(m, inner, scaled(prior, a, b), noise*c, k) for k in (3, 10, None)},
                         **{'warm self k=10': warm_self_rmse(m, train.ratings, scaled(prior, a, b), noise*c)}))
    print('\nFold-in from k random answer-pool ratings, RMSE on the inner users\' test ratings; last column: the leaky check on '
          '300 warm users folded in from 10 of their own training ratings, scored on others the model trained on:')
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    rows = []
    for lean, n in ((0., 5.), (0.3, 5.), (0.5, 5.), (0.7, 5.), (0.5, 20.)):
        r = simulate_onboarding(m, train, inner, strategy='adaptive', noise=noise, lean=lean, lean_ratings=n).set_index('checkpoint')
        rows.append(dict(lean=lean, lean_ratings=n, **{f'rmse@{c}': r.rmse[c] for c in r.index}, **{f'bias only@{c}': r.rmse_bias_only[c] for c in (10,)}))
    print("\nAdaptive questions, predicted ratings leaning towards the items' damped means (`Onboarding(lean=, lean_ratings=)`; "
          "rankings do not change):")
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    ws = warm_same_users(learn, train, inner, args.recipe, dkw, lkw, args.seed)['rmse']
    on = pd.concat([simulate_onboarding(m, train, inner, strategy=s, checkpoints=(0, 5, 10), noise=noise) for s in ('adaptive', 'random')])
    print(on[['strategy', 'checkpoint', 'answers', 'rmse', 'rmse_bias_only', 'ndcg@10']].round(4).to_string(index=False))
    a10 = on[(on.strategy == 'adaptive') & (on.checkpoint == 10)].iloc[0]
    print(f"inner users: 10 questions {a10.rmse:.4f}, bias only {a10.rmse_bias_only:.4f}, warm (same users) {ws:.4f}, "
          f"midpoint {(ws + a10.rmse_bias_only)/2:.4f}; warm users' valid split {evaluate(learn)['rmse']:.4f}")

if __name__ == '__main__': main()
