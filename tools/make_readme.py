"""Generate README.md from nbs/index.ipynb (offline: no Quarto needed).

Markdown cells are copied as they are, code cells become fenced Python (directive lines
such as `#| eval: false` dropped, `#| hide` cells skipped), and text outputs become fenced
blocks. `--check` exits 1 if README.md is not what would be generated.
"""
import json, sys, re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def render(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    parts = []
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown':
            parts.append(src.strip())
            continue
        if cell['cell_type'] != 'code': continue
        lines = src.splitlines()
        directives = [l for l in lines if l.startswith('#|')]
        if any(re.match(r'#\|\s*(hide|export|exporti|default_exp)\b', d) for d in directives): continue
        code = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
        if code: parts.append(f"```python\n{code}\n```")
        for out in cell.get('outputs', []):
            text = out.get('text') or out.get('data', {}).get('text/plain')
            if text: parts.append("```\n" + ''.join(text).rstrip() + "\n```")
    text = '\n\n'.join(p for p in parts if p) + '\n'
    return "<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n" + text

def main():
    out = render(ROOT/'nbs'/'index.ipynb')
    readme = ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != out:
            print("README.md is out of step with nbs/index.ipynb: run `make readme` and commit it.", file=sys.stderr)
            sys.exit(1)
        print("README.md is in step with nbs/index.ipynb")
        return
    readme.write_text(out)
    print(f"wrote {readme}")

if __name__ == '__main__': main()
