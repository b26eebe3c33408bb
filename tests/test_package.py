"""The package as a user gets it, by each of the README's install lines: `pip install .` from a clone into a fresh
virtualenv with its declared requirements (whatever fastai/fastcore versions pip picks today), then the wheel of
`make dist` and the repository URL over it. It imports without nbdev, and its `collab-recs` command trains and
fails cleanly."""
import glob, re, shutil, subprocess, sys, venv
from pathlib import Path
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent

def run(*cmd, **kw):
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    return res

@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('pkg')
    env = tmp/'venv'
    venv.EnvBuilder(with_pip=True).create(env)
    py = env/'bin'/'python'
    # torch from the pinned CPU build first, as the README advises for machines without a GPU (a plain `torch`
    # requirement would pull a multi-GB CUDA build here); everything else as the package's requirements resolve it.
    res = run(py, '-m', 'pip', 'install', '-q', 'torch==2.13.0')
    assert res.returncode == 0, res.stderr[-3000:]
    res = run(py, '-m', 'pip', 'install', '-q', '.', cwd=clone(tmp))  # the README's `pip install .`, in a clone
    assert res.returncode == 0, res.stderr[-3000:]
    return env

def clone(tmp:Path) -> Path:
    "A copy of the working tree as a clone has it (no virtualenvs, outputs or build leftovers)"
    dest = tmp/'clone'
    if not dest.exists():
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns('.venv*', 'out', '_docs', '_proc', 'build', 'dist', '*.egg-info', '__pycache__', '.git'))
    return dest

def readme_line(start:str) -> str:
    "The README's install line starting with `start`, its comment dropped"
    line = next(l for l in (ROOT/'README.md').read_text().splitlines() if l.startswith(start))
    return line.split('  #')[0].strip()

def test_wheel_installs_without_nbdev(installed):
    py = installed/'bin'/'python'
    res = run(py, '-c', 'import collab_recs, collab_recs.all, importlib.util as u; '
                        'print(collab_recs.__version__, u.find_spec("nbdev") is None)')
    assert res.returncode == 0, res.stderr
    version, no_nbdev = res.stdout.split()
    assert no_nbdev == 'True', "nbdev must not be needed (or installed) at run time"
    assert version == next(l.split('=')[1].strip() for l in (ROOT/'settings.ini').read_text().splitlines() if l.startswith('version'))

def test_console_script_trains_and_reports_errors(installed, tmp_path):
    exe = installed/'bin'/'collab-recs'
    code = ('from collab_recs.synthetic import synthetic_ratings; '
            f'synthetic_ratings(n_users=100, n_items=60, n_ratings=3000, seed=0).ratings.to_csv(r"{tmp_path/"r.csv"}", index=False)')
    assert run(installed/'bin'/'python', '-c', code).returncode == 0
    res = run(exe, 'train', '--data', tmp_path/'r.csv', '--epochs', 2, '--bs', 256, '--lr', 1e-2, '--out', tmp_path/'out', '--show-recs', 1)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'valid RMSE' in res.stdout.strip().splitlines()[-1]
    for f in ['metrics.json', 'model/model.json', 'factor_pca.png']: assert (tmp_path/'out'/f).exists(), f
    assert len(list((tmp_path/'out'/'model').glob('weights-*.safetensors'))) == 1
    pd.DataFrame({'user': [1, 2], 'item': [1, 2]}).to_csv(tmp_path/'bad.csv', index=False)
    res = run(exe, 'train', '--data', tmp_path/'bad.csv', '--out', tmp_path/'bad')
    assert res.returncode == 2
    assert res.stderr.strip() == (f"collab-recs: error: {tmp_path/'bad.csv'} has no rating column 'rating' (columns: ['user', 'item']): "
                                  "for an interaction log (who interacted with what), train a ranking recipe (--recipe ranking); "
                                  "for ratings, name the column (--rating-col)")

def test_parquet_and_version_from_a_fresh_install(installed, tmp_path):
    "Parquet in and out work from the package's own requirements (pyarrow among them), and --version names the version"
    exe, py = installed/'bin'/'collab-recs', installed/'bin'/'python'
    res = run(exe, '--version')
    assert res.returncode == 0 and res.stdout.strip() == f"collab-recs {installed_version(py)[0]}", res.stdout + res.stderr
    code = ('from collab_recs.synthetic import synthetic_ratings; '
            f'synthetic_ratings(n_users=100, n_items=60, n_ratings=3000, seed=0).ratings[["user", "item"]].to_parquet(r"{tmp_path/"log.parquet"}")')
    assert run(py, '-c', code).returncode == 0
    res = run(exe, 'train', '--data', tmp_path/'log.parquet', '--recipe', 'itemknn', '--out', tmp_path/'out', '--show-recs', 0)
    assert res.returncode == 0, res.stderr[-3000:]
    res = run(exe, 'recommend', '--model', tmp_path/'out'/'model', '--all', '-n', 5, '--out', tmp_path/'recs.parquet')
    assert res.returncode == 0, res.stderr[-3000:]
    recs = pd.read_parquet(tmp_path/'recs.parquet')
    assert list(recs.columns) == ['user', 'item', 'rank', 'score'] and recs.user.nunique() > 90  # a user who has it all gets none

def installed_version(py) -> str:
    res = run(py, '-c', 'import collab_recs, importlib.metadata as m; print(collab_recs.__version__, m.version("collab_recs"))')
    assert res.returncode == 0, res.stderr
    return res.stdout.split()

def test_make_dist_wheel_installs(installed, tmp_path):
    "`make dist && pip install dist/collab_recs-*.whl`, as the README shows it, with the fresh virtualenv's pip"
    line = readme_line('make dist')
    assert line == 'make dist && pip install dist/collab_recs-*.whl', line
    src = clone(tmp_path)
    res = run('make', '-s', 'dist', cwd=src)
    assert res.returncode == 0, res.stderr[-3000:]
    wheels = glob.glob(str(src/'dist'/'collab_recs-*.whl'))
    assert len(wheels) == 1, wheels
    res = run(installed/'bin'/'python', '-m', 'pip', 'install', '-q', '--force-reinstall', '--no-deps', wheels[0])
    assert res.returncode == 0, res.stderr[-3000:]
    version = re.search(r'collab_recs-([^-]+)-', Path(wheels[0]).name).group(1)
    assert installed_version(installed/'bin'/'python') == [version, version]

def test_repository_url_installs(installed, tmp_path):
    "`pip install git+URL`: the README's line names the project's repository; here the same install from this clone's git history"
    assert readme_line('pip install "git+https://github.com/') == 'pip install "git+https://github.com/collab-recs/collab_recs"'
    if not (ROOT/'.git').exists(): pytest.skip("not a git checkout")
    res = run(installed/'bin'/'python', '-m', 'pip', 'install', '-q', '--force-reinstall', '--no-deps', f'git+file://{ROOT}')
    assert res.returncode == 0, res.stderr[-3000:]
    assert installed_version(installed/'bin'/'python')[0] == installed_version(sys.executable)[0]
