"""Run the notebooks' tests without nbdev: every code cell `nbdev_test` would run (not those flagged `slow` or
`eval: false`), in order, as plain Python, one fresh process per notebook.

`make test-newest` uses it to test the package against the newest fastai and fastcore. nbdev cannot come along
there: the dev set's nbdev 2 does not import with fastcore 2, and nbdev 3 refuses a classic `settings.ini` project.
So `nbdev.showdoc.show_doc`, which only renders documentation, is a stub that does nothing; everything else the
cells import is the real thing.

    python tools/run_notebooks.py [NOTEBOOK ...]    # default: every notebook in nbs/
"""
import __future__, json, os, re, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = re.compile(r'^#\|\s*(slow|eval:\s*false)\b', re.M)

PRELUDE = '''import linecache, sys, types, matplotlib
matplotlib.use('Agg')
sys.path.insert(0, {root!r})
try: from nbdev.showdoc import show_doc; show_doc(len)
except Exception:  # no nbdev, or one that cannot read this project: documentation rendering is not under test here
    showdoc = types.ModuleType('nbdev.showdoc'); showdoc.show_doc = lambda *a, **k: None
    sys.modules.setdefault('nbdev', types.ModuleType('nbdev')); sys.modules['nbdev.showdoc'] = showdoc
import os; os.environ['IN_TEST'] = '1'
_ns = {{'__name__': '__main__'}}
'''

def script(nb:Path) -> str:
    "A Python script running `nb`'s testable cells, each compiled under the name `notebook:cell N` for tracebacks"
    cells = [c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
    srcs = [''.join(c['source']) for c in cells]
    # a cell's `from __future__ import annotations` holds for the whole notebook in a kernel; here each cell is compiled alone
    flags = __future__.annotations.compiler_flag if any('from __future__ import annotations' in s for s in srcs) else 0
    parts = [PRELUDE.format(root=str(ROOT))]
    for i, src in enumerate(srcs):
        if SKIP.search(src) or 'nbdev_export(' in src: continue
        name = f'{nb.name}:code cell {i}'  # its lines go in linecache, so that `inspect.getsource` (show_doc) finds them
        parts.append(f"linecache.cache[{name!r}] = ({len(src)}, None, {src.splitlines(True)!r}, {name!r})")
        parts.append(f"exec(compile({src!r}, {name!r}, 'exec', {flags}), _ns)")
    return '\n'.join(parts) + '\n'

def run(nb:Path) -> bool:
    with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f: f.write(script(nb))
    start = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    res = subprocess.run([sys.executable, f.name], cwd=nb.parent, env=env, capture_output=True, text=True)  # scripts the cells start find the package too
    Path(f.name).unlink()
    ok = res.returncode == 0
    print(f"{'ok  ' if ok else 'FAIL'} {nb.name} ({time.perf_counter() - start:.0f}s)", flush=True)
    if not ok: print(res.stderr[-6000:], file=sys.stderr)
    return ok

def main(argv:list) -> int:
    nbs = [Path(a).resolve() for a in argv] or sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    failed = [nb.name for nb in nbs if not run(nb)]
    print(f"{len(nbs) - len(failed)} of {len(nbs)} notebooks passed" + (f"; failed: {', '.join(failed)}" if failed else ''))
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
