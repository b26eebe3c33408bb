"""What every benchmark shares: where results go, what is recorded with them, and measuring helpers."""
import datetime, json, os, platform, resource, shlex, subprocess, sys, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT/'bench'/'results'
warnings.filterwarnings('ignore', message='The given NumPy array is not writable')

def peak_rss_gb() -> float:
    "Peak resident memory of this process so far, in GB (Linux reports KiB)"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/2**20

def machine() -> dict:
    "The machine a result was measured on"
    import torch
    return dict(platform=platform.platform(), python=platform.python_version(), cpus=os.cpu_count(),
                load_avg_1m=round(os.getloadavg()[0], 2), torch=torch.__version__, torch_threads=torch.get_num_threads(),
                device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')

def command(module:str) -> str:
    "The command line that ran this benchmark, as a user would type it"
    return f'python -m {module}' + ''.join(' ' + shlex.quote(a) for a in sys.argv[1:])

def write_results(name:str, module:str, figures:dict, started:float, path:str=None) -> Path:
    "Write `figures` with the command, date and machine to `bench/results/{name}.json` (or `path`)"
    path = Path(path) if path else RESULTS/f'{name}.json'
    doc = dict(name=name, command=command(module), date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
               wall_s=round(time.time() - started, 1), machine=machine(), **figures)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, default=float) + '\n')
    print(f"wrote {path}")
    return path

def set_threads(n:int):
    "Use `n` torch threads (0: torch's default)"
    import torch
    if n: torch.set_num_threads(n)

def timed(f, *args, **kwargs) -> tuple:
    "(result of `f(*args, **kwargs)`, seconds it took)"
    t = time.perf_counter(); res = f(*args, **kwargs)
    return res, time.perf_counter() - t

def in_subprocess(module:str, *argv) -> dict:
    "Run `python -m module *argv` in a fresh process (its own peak memory); its last stdout line is a JSON result"
    res = subprocess.run([sys.executable, '-m', module, *map(str, argv)], capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0: return dict(error=(res.stderr.strip().splitlines() or [f'exit {res.returncode}'])[-1], argv=list(map(str, argv)))
    return json.loads(res.stdout.strip().splitlines()[-1])

def load(name:str, **kwargs):
    "A dataset by name: 'ml-100k', 'book-crossing', or 'synthetic' (kwargs go to the loader)"
    from collab_recs.datasets import load_movielens_100k, load_book_crossing
    from collab_recs.synthetic import synthetic_ratings
    return {'ml-100k': load_movielens_100k, 'book-crossing': load_book_crossing, 'synthetic': synthetic_ratings}[name](**kwargs)

def fit(data, recipe, split, seed:int=42, **kwargs) -> tuple:
    "(learner, fit seconds, data seconds) of `recipe` (a name or options) trained on `data` with `split` positions"
    from collab_recs.recipes import recipe_dataloaders, fit_recipe
    from fastai.torch_core import set_seed
    set_seed(seed)
    dls, data_s = timed(recipe_dataloaders, data, recipe, split=split)
    learn, fit_s = timed(fit_recipe, dls, recipe, seed=seed, **kwargs)
    return learn, fit_s, data_s
