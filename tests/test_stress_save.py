"""The kill loop as a test: runs of `collab-recs train` killed with SIGKILL at random instants, most of them while the
model is being saved (`bench/stress_save.py`). After every kill the model folder loads, as the old model or the new
one; a last run ends cleanly and leaves nothing over. A few kills in `make test`, sixty under `make test-slow`."""
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def test_killed_runs_never_lose_the_model(tmp_path):
    slow = os.environ.get('COLLAB_RECS_SLOW') == '1'
    kills, ratings = (60, 200_000) if slow else (6, 50_000)
    res = subprocess.run([sys.executable, '-m', 'bench.stress_save', '--kills', str(kills), '--ratings', str(ratings),
                          '--json', str(tmp_path/'stress.json')], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    d = json.loads((tmp_path/'stress.json').read_text())
    assert d['kills'] >= kills // 2, d  # most runs were still going when the kill came
    assert d['load_failures'] == 0 and d['failure_messages'] == [], d['failure_messages']
    assert d['final_run_exit'] == 0 and d['leftovers_after_final_run'] == [], d
    assert d['loaded_old'] + d['loaded_new'] == d['runs'], d  # every folder loaded, after every run
