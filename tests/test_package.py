"""The package as a user gets it: a wheel builds, installs into a fresh virtualenv with its declared
requirements (whatever fastai/fastcore versions pip picks today), imports without nbdev, and its
`collab-recs` command trains and fails cleanly."""
import subprocess, sys, venv
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
    res = run(sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q', '-w', tmp/'dist', ROOT)
    assert res.returncode == 0, res.stderr
    wheels = list((tmp/'dist').glob('collab_recs-*.whl'))
    assert len(wheels) == 1, wheels
    env = tmp/'venv'
    venv.EnvBuilder(with_pip=True).create(env)
    py = env/'bin'/'python'
    # torch from the pinned CPU build (a plain `torch` requirement would pull a multi-GB CUDA build here);
    # everything else as the wheel's requirements resolve it.
    res = run(py, '-m', 'pip', 'install', '-q', 'torch==2.13.0', wheels[0])
    assert res.returncode == 0, res.stderr[-3000:]
    return env

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
    assert res.stderr.strip() == ("collab-recs: error: missing column(s) ['rating']; the data has columns ['user', 'item']. "
                                  "Name the user, item and rating columns explicitly if they are called something else.")
