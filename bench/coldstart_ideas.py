"""Ideas for a better onboarding that were tried and not adopted, measured on a split of the *training* users.

Usage: python bench/coldstart_ideas.py [--data ml-100k|book-crossing] [--recipe fast|standard] [--seed 42] [--inner-seed 7]

Same inner split as bench/coldstart_prior.py (the evaluation users are never touched). Each idea is patched into
`collab_recs.coldstart` for one run of `simulate_onboarding` with adaptive questions; the table gives RMSE and NDCG@10
at 0/5/10/20/40 questions answered and the ratings collected at 10. Predicted ratings are the fold-in's alone (`lean=0`,
see `Onboarding.predict`), so each idea is compared with the bare fold-in. These are experiments, not package code.
"""
import warnings, time
from contextlib import contextmanager
import numpy as np, pandas as pd
from coldstart_prior import inner_split
import collab_recs.coldstart as cs

warnings.filterwarnings('ignore')

@contextmanager
def patched(obj, name, value):
    old = getattr(obj, name); setattr(obj, name, value)
    try: yield
    finally: setattr(obj, name, old)

def question_rule(gamma=1., vopt=False):
    "Adaptive questions scored by P(seen)^gamma x information (D-optimal), or by expected variance reduction on likely-rated items (`vopt`)"
    def next_questions(self, n=20):
        asked = set(self.asked) | set(self.answers)
        free = np.array([i for i in self.candidates if i not in asked], dtype=np.int64)
        ps = self.p_seen()
        p, X, S, picks = ps[free], self.X[free], self.user.cov.copy(), []
        for _ in range(min(n, len(free))):
            v = ((X @ S)*X).sum(1)
            gain = p*((X @ S @ self.X.T)**2 @ np.r_[0, ps[1:]])/(self.noise + v) if vopt else p**gamma*np.log1p(v/self.noise)
            if picks: gain[picks] = -np.inf
            j = int(np.argmax(gain)); picks.append(j)
            Sx = S @ X[j]; S -= (p[j]/self.noise)*np.outer(Sx, Sx)/(1 + p[j]/self.noise*X[j] @ Sx)
        picks = free[picks]
        self.asked += [int(i) for i in picks]
        return [self.model.item_vocab[i] for i in picks]
    return next_questions

def rating_scale_fold_in(iters=5, noise_r=0.55):
    "MAP fold-in on the rating scale (Gauss-Newton from the logit-scale solution), Laplace covariance"
    orig = cs._fold_in
    def _fold_in(model, ratings, kind, prior, noise, rating_range):
        other = 'item' if kind == 'user' else 'user'
        ids, rs = cs._as_pairs(ratings, other)
        prior = prior if prior is not None else cs.population_prior(model, kind)
        if not ids: return orig(model, ratings, kind, prior, noise, rating_range)
        idx, r = cs._check_ratings(model, ids, rs, other, rating_range)
        E = cs.embeddings(model, other)[idx]
        X = np.concatenate([E[:, :-1], np.ones((len(idx), 1))], 1)
        th = cs.posterior(X, cs.rating_logits(model, r) - E[:, -1], prior, noise).mean.copy()
        (lo, hi), P0 = model.y_range, np.linalg.inv(prior.cov)
        for _ in range(iters + 1):
            s = 1/(1 + np.exp(-(X @ th + E[:, -1] + model.offset)))
            J = ((hi - lo)*s*(1 - s))[:, None]*X
            A = P0 + J.T @ J/noise_r
            th = th + np.linalg.solve(A, J.T @ (r - lo - (hi - lo)*s)/noise_r - P0 @ (th - prior.mean))
        cov = np.linalg.inv(A)
        return cs.FoldedIn(kind, th[:-1], float(th[-1]), (cov + cov.T)/2, list(ids), 'rating-scale fold-in')
    return _fold_in

def expected_rating_score(model, folded):
    "Predicted rating averaged over the posterior (probit approximation) instead of at the posterior mean"
    E = cs.embeddings(model, 'item' if folded.kind == 'user' else 'user')
    X = np.concatenate([E[:, :-1], np.ones((len(E), 1))], 1)
    mu, v = X @ np.r_[folded.factors, folded.bias] + E[:, -1], ((X @ folded.cov)*X).sum(1)
    s = cs._squash(model, (mu + model.offset)/np.sqrt(1 + np.pi*v/8) - model.offset); s[0] = -np.inf
    return s

def seen_conditioned_user(K=300, shrink=0.2):
    "Onboarding.user with the prior first conditioned on the seen/unseen answers (joint Gaussian of warm users' vectors and seen indicators)"
    def user(self):
        if getattr(self, '_user', None) is None:
            if not hasattr(self, '_joint'):
                top = np.argsort(-self.counts, kind='stable')[:K]; top = top[self.counts[top] > 0]
                codes = cs._codes(self.model.user_vocab, self._users)
                S = self.seen_by[np.flatnonzero(codes > 0)][:, top].toarray()
                Z = np.concatenate([cs.embeddings(self.model, 'user')[codes[codes > 0]], S], 1)
                C, d = np.cov(Z, rowvar=False), len(self.prior.mean)
                C[d:, d:] = (1 - shrink)*C[d:, d:] + shrink*np.diag(np.diag(C[d:, d:]))
                self._joint = (d, Z.mean(0), C, {int(i): j for j, i in enumerate(top)})
            d, mu, C, pos = self._joint
            A = [(d + pos[i], float(r is not None)) for i, r in self.answers.items() if i in pos]
            p = self.prior
            if A:
                a, s = np.array([o for o, _ in A]), np.array([o for _, o in A])
                K_ = np.linalg.solve(C[np.ix_(a, a)] + 1e-6*np.eye(len(a)), C[:d, a].T).T
                cov = p.cov - K_ @ C[:d, a].T; w, V = np.linalg.eigh((cov + cov.T)/2)
                p = cs.Gaussian(p.mean + K_ @ (s - mu[a]), (V*np.clip(w, 1e-6, None)) @ V.T, p.source)
            self._user = cs.fold_in_user(self.model, self.rated, p, self.noise, self.rating_range)
        return self._user
    return property(user)

def main():
    name, args, train, inner, learn, _, _ = inner_split(__doc__.splitlines()[0])
    m = learn.model
    noise = cs.fold_in_noise(m, train.ratings)
    users = pd.factorize(train.ratings['user'])[1]
    ideas = {
        'shipped question rule (D-optimal x P(seen), 10 per round)': [],
        'one question per round': 'per_round',
        'P(seen)^2 x information': [(cs.Onboarding, 'next_questions', question_rule(gamma=2.))],
        'P(seen)^0.5 x information': [(cs.Onboarding, 'next_questions', question_rule(gamma=.5))],
        'expected variance reduction on likely-rated items': [(cs.Onboarding, 'next_questions', question_rule(vopt=True))],
        'rating-scale fold-in (Gauss-Newton)': [(cs, '_fold_in', rating_scale_fold_in())],
        'posterior-expected rating': [(cs, 'score_folded', expected_rating_score)],
        'prior conditioned on seen/unseen answers': [(cs.Onboarding, 'user', seen_conditioned_user()), (cs.Onboarding, '_users', users)],
    }
    rows = []
    for label, patches in ideas.items():
        t = time.perf_counter()
        kw = dict(per_round=1) if patches == 'per_round' else {}
        with _all(patches if patches != 'per_round' else []):
            r = cs.simulate_onboarding(m, train, inner, strategy='adaptive', noise=noise, lean=0., **kw).set_index('checkpoint')
        rows.append(dict(idea=label, **{f'rmse@{c}': r.rmse[c] for c in r.index}, **{f'ndcg@10@{c}': r['ndcg@10'][c] for c in (10, 40)},
                         ratings_at_10=r.answers[10], seconds=time.perf_counter() - t))
        print(f"{label}: {rows[-1]['seconds']:.0f}s", flush=True)
    print(f"\n{name}, {args.recipe} recipe, {inner.user.nunique()} inner held-out training users, adaptive questions:")
    print(pd.DataFrame(rows).drop(columns='seconds').round(4).to_string(index=False))

@contextmanager
def _all(patches):
    if not patches: yield; return
    (obj, name, value), rest = patches[0], patches[1:]
    if not hasattr(obj, name): setattr(obj, name, None)
    with patched(obj, name, value), _all(rest): yield

if __name__ == '__main__': main()
