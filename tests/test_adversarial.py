"""The adversarial matrix of bench/adversarial.py as tests.

Every case of its `--quick` sample (a fixed, seeded draw of a few cases of every category, plus the pinned ones) is one test,
named category/case, run and judged by the very functions the script uses (`prepare`, then `run_case`: a forked child with a
timeout, then `judge`): the outcome is the expected one, no input or foreign file changes, no payload runs. The good models
are trained once, by a module-scoped fixture. The whole matrix runs as one more test, only with COLLAB_RECS_SLOW=1.

Cases that meet a known package defect are marked xfail(strict=True) with the defect's one-line reproduction: when the
package is fixed they pass, the strict mark turns that into a failure, and the entry in KNOWN_DEFECTS is to be removed.
"""
import json, os, re, subprocess, sys
from pathlib import Path
os.environ.setdefault('OMP_NUM_THREADS', '1')  # before torch is imported: the cases run in forked children of this process
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
import bench.adversarial as A
from collab_recs.data import quiet_dependency_warnings

@pytest.fixture(autouse=True)
def _quiet():
    quiet_dependency_warnings()  # as importing the package does in a user's session: pytest restores the filters for every test

TIMEOUT = 60  # seconds a case may take before it counts as a hang (the script's default)

# regex on 'category/case' -> the package defect such cases meet, with a one-line reproduction
KNOWN_DEFECTS = {}  # none at present; an entry is 'category/case' regex -> the defect, with a one-line reproduction

def known_defect(case_id:str) -> str|None:
    return next((why for pat, why in KNOWN_DEFECTS.items() if re.search(pat, case_id)), None)

A.define_cases()
QUICK = A.select(quick=True)
INDEX = {c.id: k for k, c in enumerate(A.CASES)}  # each case's own folder under the work folder

def _param(case):
    why = known_defect(case.id)
    return pytest.param(case, id=case.id, marks=[pytest.mark.xfail(strict=True, reason=f"package defect: {why}")] if why else [])

@pytest.fixture(scope='module')
def work(tmp_path_factory):
    "The work folder with the inputs and the good models (trained once by the CLI), and the payload self-test's result"
    t = tmp_path_factory.mktemp('adversarial')
    quiet_dependency_warnings()  # the fixture imports fastai, before any test's own filters
    return t, A.prepare(t, TIMEOUT)

def test_quick_sample_touches_every_category():
    assert {c.cat for c in QUICK} == set(A.CATEGORIES)
    assert all(sum(c.cat == cat for c in QUICK) >= min(A.QUICK_PER_CATEGORY, sum(c.cat == cat for c in A.CASES)) for cat in A.CATEGORIES)
    assert len({c.id for c in A.CASES}) == len(A.CASES), "two cases share a name"
    assert A.select(quick=True) == QUICK, "the quick sample is not a fixed draw"

def test_payloads_run_when_unpickled_unsafely(work):
    "The probe of code execution works: unpickled unsafely, a payload does create its marker (so its absence in the cases means something)"
    assert work[1] == {'payloads_run_when_unpickled_unsafely': True}

@pytest.mark.parametrize('case', [_param(c) for c in QUICK])
def test_quick_case(work, case):
    t, _ = work
    res = A.run_case(case, INDEX[case.id], t, TIMEOUT)
    detail = f"\n  run: {res['run']}\n  stderr: {A.tail(res['stderr'], 600)}"
    assert not res['marker'], f"CODE EXECUTED: the payload's marker appeared{detail}"
    assert not res['lost'], f"files lost or changed: {res['problems']}{detail}"
    assert not res['problems'], f"{'; '.join(res['problems'])}{detail}"
    assert res['outcome'] == case.expect or (case.expect == 'either' and res['outcome'] in ('ok', 'refused')), res['outcome']

@pytest.mark.skipif(os.environ.get('COLLAB_RECS_SLOW') != '1', reason='the whole adversarial matrix takes minutes: set COLLAB_RECS_SLOW=1 (make test-slow)')
def test_full_matrix(tmp_path):
    "Every case of the matrix, as `python -m bench.adversarial` runs them: no code executed, nothing lost, no defect but the known ones"
    out = tmp_path/'adversarial.json'
    res = subprocess.run([sys.executable, '-m', 'bench.adversarial', '--json_path', str(out)], cwd=ROOT, capture_output=True, text=True,
                         timeout=3600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc['totals']['tried'] == len(A.CASES) and set(doc['counts']) == set(A.CATEGORIES)
    assert doc['self_test'] == {'payloads_run_when_unpickled_unsafely': True}
    assert doc['code_execution'] == 0 and doc['data_loss'] == 0, [d for d in doc['defects'] if any('CODE' in p or 'deleted' in p or 'changed' in p for p in d['problems'])][:5]
    new = [f"[{d['category']}] {d['case']}: {'; '.join(d['problems'])}\n    run: {d['run']}" for d in doc['defects'] if not known_defect(f"{d['category']}/{d['case']}")]
    assert not new, "defects beyond the known ones:\n" + '\n'.join(new[:20])
    seen = {pat for pat in KNOWN_DEFECTS for d in doc['defects'] if re.search(pat, f"{d['category']}/{d['case']}")}
    assert seen == set(KNOWN_DEFECTS), f"known defects no longer met (fixed? remove them from KNOWN_DEFECTS): {sorted(set(KNOWN_DEFECTS) - seen)}"
