"""Run every notebook in nbs/ as a test, as nbdev_test does (cells flagged slow are skipped unless COLLAB_RECS_SLOW=1)."""
import os
from pathlib import Path
import pytest
from nbdev.test import test_nb as run_nb
from nbdev.config import get_config
from collab_recs.data import quiet_dependency_warnings

NBS = sorted(p for p in (Path(__file__).parent.parent/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
SLOW = os.environ.get('COLLAB_RECS_SLOW') == '1'

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb):
    quiet_dependency_warnings()  # as importing the package does in a user's session: pytest restores the warning filters after every test
    flags = get_config().tst_flags.split()
    ok, secs = run_nb(nb, skip_flags=[] if SLOW else flags, force_flags=flags if SLOW else [], basepath=nb.parent.parent)
    assert ok, f"{nb.name} failed (see the traceback above)"

def test_found_notebooks():
    assert len(NBS) >= 8, [p.name for p in NBS]
