"""Cold start on real data: whole users and items held out, onboarding simulated from their own ratings, new items
scored from metadata.

Usage: python -m bench.coldstart [--data ml-100k|book-crossing] [--recipe fastbook|fast|sparse|ranking|...] [--seed 42] [--json PATH]

MovieLens-100k: 20% of users, then 20% of the remaining items, are held out (`holdout`); the recipe trains on the
rest. Book-Crossing: users with at least 20 and books with at least 10 explicit ratings, the same holdouts, centred.
Then `evaluate_cold_start` (fold-in, metadata models, onboarding per question strategy, new items), with checkpoints
counting questions answered ("haven't seen it" included), then the same onboarding with checkpoints counting ratings.
Two references: a model trained on the same rows plus the held-out users' answer pools (the same users' test ratings,
had they not been new), and one trained on the rows plus only the ratings the questionnaire collected after 10 and 40
questions (does the fold-in waste any of that information?). With `--recipe ranking` the model trains on the same rows as
interactions and a newcomer's answers are the items they have: NDCG only (no RMSE, no new items, no retraining references).
Minutes on a laptop; `--recipe fast` is the quickest.
"""
import argparse, time
import numpy as np, pandas as pd
from bench.common import write_results, load, fit

def datasets(name:str, seed:int) -> tuple:
    "(training data, held-out users' ratings, held-out items' ratings, learner kwargs)"
    from collab_recs.splits import holdout
    ds, lkw = (load('ml-100k'), {}) if name == 'ml-100k' else (load('book-crossing', min_user_ratings=20, min_item_ratings=10), dict(centre=True))
    rest, new_users = holdout(ds, 'user', 0.2, seed=seed)
    train, new_items = holdout(rest, 'item', 0.2, seed=seed)
    return train, new_users, new_items, lkw

def training_rows(learn) -> pd.DataFrame:
    "The rows `learn` trained on, as `user`, `item`, `rating` in the data's own ids"
    from collab_recs.dataloaders import rating_codes, vocab_ids
    u, i, r = rating_codes(learn.dls.train)
    c = learn.dls.classes
    return pd.DataFrame({'user': vocab_ids(c['user'])[u - 1], 'item': vocab_ids(c['item'])[i - 1], 'rating': r})

def retrained_rmse(rows:pd.DataFrame, test:pd.DataFrame, recipe:str, lkw:dict, seed:int) -> float:
    "RMSE on `test` of `recipe` trained on `rows`"
    from collab_recs.evaluation import evaluate
    both = pd.concat([rows, test[['user', 'item', 'rating']]], ignore_index=True)
    n = len(rows)
    return evaluate(fit(both, recipe, (np.arange(n), np.arange(n, len(both))), seed, **lkw)[0])['rmse']

def warm_same_users(learn, train, new_users, recipe, lkw, seed) -> dict:
    "The fair warm reference: the held-out users' test ratings scored by a model that also trained on their answer pools"
    from collab_recs.splits import answer_split
    nu = new_users[new_users['item'].isin(set(train.ratings['item']))].reset_index(drop=True)
    ans, tst = answer_split(nu, 'user', 0.3, 0)
    rmse = retrained_rmse(pd.concat([training_rows(learn), nu.iloc[ans][['user', 'item', 'rating']]], ignore_index=True), nu.iloc[tst], recipe, lkw, seed)
    print(f"the same {nu.user.nunique()} held-out users' {len(tst):,} test ratings, scored by a model trained on their answer pools too: RMSE {rmse:.4f}")
    return dict(rmse=rmse, users=int(nu.user.nunique()), n_test=len(tst))

def retrained_on_answers(learn, train, new_users, recipe, lkw, seed, questions=(10, 40)) -> list:
    "Retrain on the training rows plus the ratings the adaptive questionnaire collected; score the same test ratings as the fold-in"
    from collab_recs.splits import answer_split
    from collab_recs.dataloaders import vocab_codes
    from collab_recs.onboarding import Onboarding
    m, out = learn.model, []
    nu = new_users[vocab_codes(m.item_vocab, new_users['item']) > 0].reset_index(drop=True)
    is_test = np.zeros(len(nu), bool); is_test[answer_split(nu, 'user', 0.3, 0)[1]] = True
    ob0, rows = Onboarding(m, train, strategy='adaptive', seed=0), training_rows(learn)
    for nq in questions:  # the questions of `simulate_onboarding`: rounds up to 5, 10, 20, 40 questions
        answers, pred, truth = [], [], []
        for user, g in nu.groupby('user', sort=True):
            t = is_test[g.index]
            pool = dict(zip(g.loc[~t, 'item'], g.loc[~t, 'rating']))
            ob = ob0.restart(seed=0)
            for c in (5, 10, 20, 40):
                if c > nq: break
                for q in ob.next_questions(c - len(ob.asked)): ob.answer(q, pool.get(q))
            if not ob.rated: continue  # a user with no rating is not in a retrained model's vocabulary: left out of both
            answers += [(user, it, rt) for it, rt in ob.rated.items()]
            pred.append(ob.predict(g.loc[t, 'item'].tolist())); truth.append(g[t])
        ans, test = pd.DataFrame(answers, columns=['user', 'item', 'rating']), pd.concat(truth, ignore_index=True)
        fold = float(np.sqrt(((np.concatenate(pred) - test['rating'].to_numpy())**2).mean()))
        re = retrained_rmse(pd.concat([rows, ans], ignore_index=True), test, recipe, lkw, seed)
        out.append(dict(questions=nq, users=int(ans.user.nunique()), ratings_each=len(ans)/ans.user.nunique(), n_test=len(test), fold_in=fold, retrained=re))
        print(f"after {nq} questions, {ans.user.nunique()} users with a rating ({len(ans)/ans.user.nunique():.2f} each; {len(test):,} test ratings): "
              f"fold-in RMSE {fold:.4f}, retrained {re:.4f}", flush=True)
    return out

def main():
    from collab_recs.evaluation import evaluate, holdout_truth, ranked_for_holdout, ranking_metrics
    from collab_recs.recipes import recipe_dataloaders
    from collab_recs.kinds import KINDS
    from collab_recs.splits import random_split
    from collab_recs.coldstart_evaluation import evaluate_cold_start, simulate_onboarding
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', choices=['ml-100k', 'book-crossing'], default='ml-100k')
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--recipe', default='fast', help='a name in collab_recs.recipes.RECIPES (default: %(default)s)')
    p.add_argument('--json', default=None, help='where to write the results (default: bench/results/coldstart-DATA-RECIPE.json)')
    a = p.parse_args()
    started = time.time()
    from collab_recs.recipes import recipe_options
    from collab_recs.data import as_interactions
    train, new_users, new_items, lkw = datasets(a.data, a.seed)
    ranking = not KINDS[recipe_options(a.recipe)['kind']].model_class().predicts_ratings  # it learns from the interactions
    if ranking:
        inter, split = as_interactions(train), random_split(train.ratings, 0.2, a.seed)
        learn, fit_s, _ = fit(inter, a.recipe, split, a.seed)
        model = getattr(learn, 'model', learn)  # an item-item model is no learner
        dls = recipe_dataloaders(inter, a.recipe, split=split)
        truth = holdout_truth(dls)
        warm = dict(ndcg_at_10=ranking_metrics(ranked_for_holdout(model, dls, 10, truth=truth), truth, 10)['ndcg@10'])
        print(f"{a.data}: trained on {len(train.ratings):,} interactions in {fit_s:.0f}s; warm-user valid NDCG@10 {warm['ndcg_at_10']:.4f}", flush=True)
    else:
        learn, fit_s, _ = fit(train, a.recipe, random_split(train.ratings, 0.2, a.seed), a.seed, **lkw)
        model, warm = learn.model, evaluate(learn)
        print(f"{a.data}: trained on {len(learn.dls.train.dataset):,} ratings in {fit_s:.0f}s; warm-user valid RMSE {warm['rmse']:.4f}", flush=True)
    res = evaluate_cold_start(model, train, new_users, new_items)
    print(res['users'].round(4).to_string(), res['baselines'], sep='\n\n', flush=True)
    same = None if ranking else warm_same_users(learn, train, new_users, a.recipe, lkw, a.seed)
    retrained = None if ranking else retrained_on_answers(learn, train, new_users, a.recipe, lkw, a.seed)
    by_ratings = pd.concat([simulate_onboarding(model, train, new_users, strategy=s, count='ratings', noise=res['noise'])
                            for s in ('adaptive', 'popular', 'random')], ignore_index=True)
    print('\nCheckpoints counting ratings given:', by_ratings.round(4).to_string(), sep='\n')
    write_results(f'coldstart-{a.data}-{a.recipe}', 'bench.coldstart',
                  dict(data=a.data, recipe=a.recipe, seed=a.seed, fit_s=fit_s, warm=warm, warm_same_users=same, retrained_on_answers=retrained,
                       baselines=res['baselines'], noise=res['noise'], users=res['users'].to_dict('records'),
                       users_by_ratings=by_ratings.to_dict('records'), items=None if res['items'] is None else res['items'].to_dict('records')), started, a.json)

if __name__ == '__main__': main()
