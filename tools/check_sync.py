"""Fail if the notebooks and the package (or README) are out of step.

Runs nbdev_export and nbdev_clean and reports any file they change; checks README.md
against nbs/index.ipynb. Leaves the regenerated files in place so they can be committed.
"""
import hashlib, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

def snapshot():
    files = list((ROOT/'collab_recs').rglob('*.py')) + list((ROOT/'nbs').glob('*.ipynb'))
    return {str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if '__pycache__' not in f.parts}

def main():
    before = snapshot()
    for cmd in ('nbdev_export', 'nbdev_clean'):
        subprocess.run([str(BIN/cmd)], cwd=ROOT, check=True)
    after = snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    ok = True
    if changed:
        print("nbdev_export/nbdev_clean changed these files: the package or notebooks were out of step (now regenerated; commit them):", file=sys.stderr)
        for c in changed: print(f"  {c}", file=sys.stderr)
        ok = False
    if subprocess.run([sys.executable, str(ROOT/'tools'/'make_readme.py'), '--check'], cwd=ROOT).returncode: ok = False
    if not ok: sys.exit(1)
    print(f"notebooks, package and README are in step ({len(after)} files checked)")

if __name__ == '__main__': main()
