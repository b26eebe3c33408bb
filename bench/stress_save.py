"""Random kills of `collab-recs train --out` onto a folder holding a good model: after every kill the model must load (the old
one or the new one), and the next complete run must leave no leftovers. Most kills are timed from the moment a save is seen
to begin, at a random delay within a window that adapts so that about half of them land before the save ends (the window
shrinks after a kill that came too late, grows after one that came in time); the others land anywhere in the run.

Usage: python -m bench.stress_save [--kills 50] [--ratings 200000] [--in-save 0.8] [--seed 0] [--json PATH]
"""
import argparse, collections, json, os, random, re, signal, subprocess, sys, tempfile, time
from pathlib import Path
from bench.common import write_results

SAVE_TEMP = re.compile(r'\.(model\.json|weights\.safetensors|rated\.safetensors)\.tmp-[0-9]+')  # what a running save writes first

def collab_recs() -> list:
    "The `collab-recs` command of this Python environment"
    exe = Path(sys.executable).with_name('collab-recs')
    return [str(exe)] if exe.exists() else [sys.executable, '-m', 'collab_recs.cli']

def train(data:Path, out:Path, seed:int) -> subprocess.Popen:
    "Start `collab-recs train` on `data` into `out` (a new seed each run, so that each run's model differs); its stderr goes to `out/../stderr.txt`"
    cmd = collab_recs() + ['train', '--data', str(data), '--recipe', 'fast', '--no-plots', '--show-recs', '0', '--out', str(out), '--seed', str(seed)]
    with open(out.parent/'stderr.txt', 'wb') as err:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, 'OMP_NUM_THREADS': '1'})

def saving(folder:Path) -> bool:
    "A save is writing into `folder`: one of its temporary files is there"
    try: return any(SAVE_TEMP.fullmatch(n) for n in os.listdir(folder))
    except FileNotFoundError: return False

def used_files(folder:Path) -> set:
    "model.json and the tensor files it names"
    cfg = json.loads((folder/'model.json').read_text())
    return {'model.json', *(f['name'] for f in cfg['files'].values())}

def stage(folder:Path, before:set) -> str:
    "Where a killed save stopped, from what it left in `folder` (`before`: the files the old model used)"
    from collab_recs.save import LOCK
    names = set(os.listdir(folder)) - {LOCK}
    used = used_files(folder)
    extra = names - used
    if used != before: return 'after model.json was replaced, old files left' if extra else 'after the save (model complete)'
    if not extra: return 'before the save'
    if any(n.startswith('.model.json.tmp-') for n in extra): return 'new model.json written, not yet in place'
    if any(n.startswith('.rated.') for n in extra): return 'writing the training pairs'
    if any(n.startswith('rated-') for n in extra): return 'tensor files in place, model.json not yet written'
    if any(n.startswith('.weights.') for n in extra): return 'writing the weights'
    return 'weights in place, pairs not yet written'

def finished(folder:Path) -> bool:
    "The folder holds a complete model and nothing else of a save"
    from collab_recs.save import LOCK
    try: return set(os.listdir(folder)) - {LOCK} == used_files(folder)
    except (OSError, ValueError, KeyError): return False

def timeline(data:Path, out:Path, seed:int) -> dict:
    "Seconds from the start of a complete run to the first sight of its save, to the end of the save, and to the end of the run"
    t0, p, seen, done = time.perf_counter(), train(data, out, seed), None, None
    while p.poll() is None:
        if seen is None and saving(out/'model'): seen = time.perf_counter() - t0
        if seen is not None and done is None and finished(out/'model'): done = time.perf_counter() - t0
        time.sleep(0.0002)
    if p.returncode != 0 or seen is None: sys.exit(f"the complete run failed: {(out.parent/'stderr.txt').read_text()[-2000:]}")
    return dict(save_seen_s=seen, save_done_s=done or time.perf_counter() - t0, run_s=time.perf_counter() - t0)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--kills', type=int, default=50, help='kills of runs that were still going')
    p.add_argument('--ratings', type=int, default=200_000, help='synthetic ratings to train on (more: bigger files, longer saves)')
    p.add_argument('--in-save', type=float, default=0.8, help='share of kills timed from the start of a save (the rest: anywhere in the run)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--json', default=None, help='where to write the results (default: bench/results/stress-save.json)')
    a = p.parse_args()
    from collab_recs.save import load_model, LOCK
    from collab_recs.synthetic import synthetic_ratings
    import torch
    started, rng = time.time(), random.Random(a.seed)
    weights = lambda m: torch.cat([t.detach().flatten() for t in m.parameters()])
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp)/'ratings.csv', Path(tmp)/'out'
        n = a.ratings
        synthetic_ratings(n_users=n // 50, n_items=n // 100, n_ratings=n, seed=0).ratings[['user', 'item', 'rating']].to_csv(data, index=False)
        first = timeline(data, out, 0)
        second = timeline(data, out, 1)  # a save over an existing model, as every run below does
        save_s = max(0.002, second['save_done_s'] - second['save_seen_s'])
        print(f"a complete run: {second['run_s']:.1f} s; its save seen after {second['save_seen_s']:.2f} s, done {1000*save_s:.0f} ms later")
        ref, before = weights(load_model(out/'model')), used_files(out/'model')
        window = save_s
        counts, stages, failures, tries = collections.Counter(), collections.Counter(), [], 0
        while counts['killed'] < a.kills and tries < 3 * a.kills:
            tries += 1
            t0, proc = time.perf_counter(), train(data, out, 100 + tries)
            if rng.random() < a.in_save:
                mode = 'in save'
                while proc.poll() is None and not saving(out/'model'): time.sleep(0.0002)
                delay = rng.uniform(0, window)
            else: mode, delay = 'anywhere', rng.uniform(0, second['run_s'])
            end = time.perf_counter() + delay
            while proc.poll() is None and time.perf_counter() < end: time.sleep(0.0002)
            if proc.poll() is not None: counts['finished before the kill'] += 1
            else:
                proc.send_signal(signal.SIGKILL); counts['killed'] += 1; counts[f'killed, timed {mode}'] += 1
            proc.wait()
            if proc.returncode not in (0, -signal.SIGKILL):
                failures.append(f"run failed: {(Path(tmp)/'stderr.txt').read_text()[-300:]}"); counts['run failed'] += 1
            where = stage(out/'model', before) if (out/'model'/'model.json').exists() else 'no model.json'
            if proc.returncode == -signal.SIGKILL: stages[where] += 1
            if mode == 'in save': window *= 0.8 if where.startswith('after the save') else 1.25
            try: w = weights(load_model(out/'model'))
            except Exception as e: failures.append(f"{type(e).__name__}: {e}"); counts['load failed'] += 1; continue
            state = 'old' if torch.equal(w, ref) else 'new'
            counts[f'loaded the {state} model'] += 1
            ref, before = w, used_files(out/'model')
            print(f"{tries:3d}: {mode:8s} {'killed' if proc.returncode == -signal.SIGKILL else 'ended '} ({where}); loads the {state} model", flush=True)
        final = train(data, out, 10_000); final.wait()
        left = sorted(set(os.listdir(out/'model')) - used_files(out/'model') - {LOCK}) + sorted(
            f for f in os.listdir(out) if f.startswith('.model.'))
        load_model(out/'model')
    during = sum(v for k, v in stages.items() if k not in ('before the save', 'after the save (model complete)'))
    figures = dict(kills=counts['killed'], runs=tries, kills_timed_in_save=counts['killed, timed in save'],
                   kills_timed_anywhere=counts['killed, timed anywhere'], finished_before_kill=counts['finished before the kill'],
                   kills_during_save=during, kills_by_stage=dict(stages.most_common()),
                   loaded_old=counts['loaded the old model'], loaded_new=counts['loaded the new model'], load_failures=len(failures),
                   failure_messages=failures[:10], final_run_exit=final.returncode, leftovers_after_final_run=left,
                   ratings=a.ratings, run_s=round(second['run_s'], 2), save_seen_after_s=round(second['save_seen_s'], 2), save_ms=round(1000*save_s, 1), final_window_ms=round(1000*window, 1),
                   first_run_s=round(first['run_s'], 2))
    print(json.dumps(figures, indent=1))
    write_results('stress-save', 'bench.stress_save', figures, started, a.json)
    if failures or left or final.returncode != 0: sys.exit(1)

if __name__ == '__main__': main()
