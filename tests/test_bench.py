"""The benchmark scripts that cannot run here in full still run: `bench.gpu`'s self-check goes through every step on the
CPU with tiny sizes, so that the short device time of a GPU machine is never lost to a typo."""
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def test_gpu_script_checks_itself_on_cpu(tmp_path):
    out = tmp_path/'gpu.json'
    res = subprocess.run([sys.executable, '-m', 'bench.gpu', '--device', 'cpu', '--tiny', '--json', str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc['tiny'] and doc['device'] == 'cpu'
    assert [r['recipe'] for r in doc['ml100k']['rows']] == ['fastbook', 'sparse', 'ranking']
    assert all(r['fit_s'] > 0 for r in doc['ml100k']['rows'])
    assert [r['optimiser'] for r in doc['scale']['rows']] == ['rowwise', 'adam', 'dense', 'ranking']
    assert all(r['per_s'] > 0 for r in doc['scale']['rows'])
    assert doc['scale']['recommend_all']['users'] > 0
    runs = doc['torchrun']
    assert len(runs) == 4 and all(r['exit'] == 0 and r['model'].startswith('loaded') for r in runs), runs
    assert {r['world_size'] for r in runs} == {1, 2}
    assert all(r['ok'] and r['expected'] == 'trains and saves' for r in runs), runs  # on the CPU every run trains
