"""Build the docs site offline: execute the notebooks, process them as nbdev does, render with mkdocs-material.

Quarto (what `nbdev_docs` uses) cannot be installed on every machine, so this builds the same site from the same
nbdev-processed notebooks with pure-pip tools and no network:

1. every `nbs/*.ipynb` (nbdev's `nbglob`: files starting with `_` or `.` are skipped) is executed top to bottom with
   execnb, as `nbdev_test` runs it, cells flagged `slow` included (pass `--no-slow` to skip them), so pages show real
   outputs and plots even though notebooks are committed without outputs; results are cached by content in `build/docs`;
2. nbdev's own processors (`nbdev.processors.FilterDefaults`, what `nbdev_proc_nbs` runs) turn them into `_proc/`:
   title and summary from the first cells, a `show_doc` cell (signature, docstring, docments table) after every
   exported function and class, export and hidden cells removed, backtick names linked with `NbdevLookup`;
3. the processed notebooks become pages named as nbdev names them (`00_data.ipynb` -> `data.html`), with nbdev's links
   to this package made relative, and mkdocs-material + mkdocs-jupyter render them into `_docs/`, with offline search.

`python tools/build_docs.py` builds; `--serve` then serves `_docs/` on http://127.0.0.1:8000.
"""
from __future__ import annotations
import argparse, hashlib, http.server, json, os, re, shutil, socketserver, subprocess, sys, time, functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS, PROC, SITE = ROOT/'nbs', ROOT/'_proc', ROOT/'_docs'
WORK = ROOT/'build'/'docs'          # executed notebooks (cache) and the mkdocs source tree
EXEC, SRC = WORK/'exec', WORK/'src'

TUTORIALS = ['tutorial_movies', 'tutorial_books']   # reading order; other tutorials follow alphabetically

class DocsBuildError(RuntimeError): "A notebook failed to execute or the site failed to render"

# ---------------------------------------------------------------- discovery and order
def notebooks(nbs:Path=NBS) -> list:
    "The notebooks that become pages: nbdev's `nbglob` of `nbs` (no `_`/`.` files), in navigation order"
    from nbdev.doclinks import nbglob
    files = [Path(f) for f in nbglob(nbs, file_glob='*.ipynb')]
    return sorted(files, key=page_order)

def page_order(p:Path) -> tuple:
    "Home page first, then tutorials, then chapters by number (`01_` before `01a_` before `02_`), then the rest"
    if p.stem == 'index': return (0, 0, '')
    if p.stem.startswith('tutorial'): return (1, TUTORIALS.index(p.stem) if p.stem in TUTORIALS else len(TUTORIALS), p.stem)
    if re.match(r'^\d', p.stem): return (2, 0, p.stem)
    return (3, 0, p.stem)

def page_name(p:Path) -> str:
    "The page's file name as nbdev/Quarto name it: `00_data.ipynb` -> `data.html`"
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(p.name)).name

# ---------------------------------------------------------------- 1. execute
def _code(nb) -> list: return [c['source'] if isinstance(c['source'], str) else ''.join(c['source'])
                                 for c in nb['cells'] if c['cell_type'] == 'code']

def _digest(nb:Path, slow:bool) -> str:
    "Cache key: the notebook's code (prose edits need no re-run), the package source, the benchmark results and the slow flag"
    h = hashlib.sha256(json.dumps(_code(json.loads(nb.read_text()))).encode())
    for f in sorted((ROOT/'collab_recs').glob('*.py')) + sorted((ROOT/'bench'/'results').glob('*.json')): h.update(f.read_bytes())
    h.update(b'slow' if slow else b'fast')
    return h.hexdigest()

def execute(nb:Path, dest:Path, slow:bool=True, threads:int=1) -> float:
    "Run `nb` as `nbdev_test` does (cwd `nbs/`, `eval: false` and unselected flags skipped), saving outputs to `dest`"
    from execnb.shell import CaptureShell
    from execnb.nbio import write_nb
    from nbdev.process import NBProcessor
    from nbdev.config import get_config
    from fastcore.xtras import working_directory
    key = dest.with_suffix('.key')
    digest = _digest(nb, slow)
    if dest.exists() and key.exists() and key.read_text() == digest: return 0.
    flags = set(get_config().tst_flags.split()) - ({'slow'} if slow else set())
    def _no_eval(cell):
        if cell.cell_type != 'code': return True
        d = getattr(cell, 'directives_', {}) or {}
        if d.get('eval:', [''])[0].lower() == 'false': return True
        return flags & d.keys()
    from execnb.nbio import read_nb
    proc = NBProcessor(nb, procs=[], process=True)   # parses directives (and strips them from the sources it runs)
    start = time.time()
    os.environ['IN_TEST'] = '1'
    os.environ.setdefault('OMP_NUM_THREADS', str(threads))   # for commands the notebook runs (e.g. `collab-recs train`)
    k = CaptureShell(nb)
    # One intra-op thread: the model's ops are tiny, and with more threads than free cores torch's workers spin-wait
    # (measured on the shared 2-core machine: 250 batches in 21 s with 1 thread, 145 s with 2)
    k.run_cell(f'import torch; torch.set_num_threads({threads})')
    try:
        with working_directory(nb.parent): k.run_all(proc.nb, exc_stop=True, preproc=_no_eval)
    except Exception as e:
        raise DocsBuildError(f"{nb.name} failed to execute:\n{k.prettytb(fname=nb)}") from e
    finally: os.environ.pop('IN_TEST', None)
    raw = read_nb(nb)   # the notebook as written, directives included, gets the outputs
    assert len(raw.cells) == len(proc.nb.cells)
    for c, run in zip(raw.cells, proc.nb.cells):
        if c.cell_type == 'code': c.outputs, c.execution_count = run.get('outputs', []), run.get('execution_count')
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_nb(raw, dest)
    key.write_text(digest)
    return time.time() - start

# ---------------------------------------------------------------- 2. nbdev processing
def _filter():
    """nbdev's `FilterDefaults`, except that `exec_show_docs` skips test cells that mix imports with other code.
    nbdev runs such cells (warning "Found cells containing imports and other code") in a fresh shell where the
    variables of earlier, unexecuted cells are missing, so they fail; `show_doc` needs only exports and imports."""
    import ast
    from nbdev.processors import FilterDefaults, exec_show_docs, _ast_contains, _show_docs
    class exec_show_docs_(exec_show_docs):
        def __call__(self, cell):
            if cell.cell_type == 'code' and not (cell.directives_.keys() & {'export','exports','exporti','exec_doc'}):
                trees = cell.parsed_()
                if trees and _ast_contains(trees, (ast.Import, ast.ImportFrom)) and _ast_contains(trees, (ast.Expr, ast.Assign)) \
                   and not _show_docs(trees): return
            return super().__call__(cell)
    class DocsFilter(FilterDefaults):
        def base_procs(self): return [exec_show_docs_ if p is exec_show_docs else p for p in super().base_procs()]
    return DocsFilter()

def nbdev_process(src:Path, dest:Path, orig:Path):
    "`_proc/` as `nbdev_proc_nbs` writes it, from notebook `orig` with the outputs of its executed copy `src`"
    from execnb.nbio import read_nb, write_nb
    nb, done = read_nb(orig), read_nb(src)
    assert _code(nb) == _code(done), f"{src} is not an execution of {orig}"
    for c, r in zip([c for c in nb.cells if c.cell_type == 'code'], [c for c in done.cells if c.cell_type == 'code']):
        c.outputs, c.execution_count = r.get('outputs', []), r.get('execution_count')
    nb.path_ = str(orig)   # FrontmatterProc names the page after the original notebook
    _filter()(nb)
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dest)

# ---------------------------------------------------------------- 3. pages for mkdocs
_re_dir = re.compile(r'^\s*#\|\s*([\w-]+):?\s*(.*?)\s*$')

def _directives(src:str) -> dict:
    return {m.group(1): m.group(2) for l in src.splitlines() if (m := _re_dir.match(l))}

def _fm(src:str) -> dict:
    "The YAML front matter of nbdev's raw cell"
    import yaml
    m = re.match(r'^---\n(.*?)\n---', src, re.S)
    return yaml.safe_load(m.group(1)) if m else {}

_re_qlink = re.compile(r'\[([^\]]+)\]\(([^)\s]+)\)\{([^}]*)\}')

def local_links(text:str, host:str) -> str:
    """nbdev's absolute links to this package's pages (`{host}data.html#x`) made relative (`data.html#x`), and
    Quarto's link attributes (`[source](url){target="_blank"}`, from `show_doc`) as HTML"""
    text = _re_qlink.sub(lambda m: f'<a href="{m.group(2)}" {m.group(3)}>{m.group(1)}</a>', text)
    return text.replace(host, '')

_re_md_link = re.compile(r'\[(`[^`\n]+`)\]\([^)\s]+\)')

def plain_headings(md:str) -> str:
    """Markdown headings without backtick code or links: mkdocs-jupyter's table of contents leaves code out of the
    text it slugifies, so a heading like "## `fast_dataloaders`" would get a TOC entry pointing to a missing anchor"""
    def _plain(l): return _re_md_link.sub(r'\1', l).replace('`', '') if l.lstrip().startswith('#') else l
    return '\n'.join(_plain(l) for l in md.split('\n'))

def terminal_text(text:str) -> str:
    "Stream output as a terminal shows it: each `\\r` rewinds the line (fastprogress bars collapse to their last state)"
    lines = []
    for line in text.split('\n'):
        parts = [p for p in line.split('\r') if p.strip()]
        last = parts[-1] if parts else ''
        if re.fullmatch(r'\s*█?\s*', last) and line: continue   # a finished bar's leftover
        if re.match(r'^Epoch \d+/\d+ : \|', last): continue         # a progress bar, not a result
        lines.append(last)
    return '\n'.join(lines)

def is_test_cell(code:str) -> bool:
    "Whether `code` checks something (an `assert`, or a fastcore `test_…` call, at its top level)"
    import ast
    try: tree = ast.parse(code)
    except SyntaxError: return False
    def _test(n):
        if isinstance(n, ast.Assert): return True
        f = n.value.func if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) else None
        return isinstance(f, ast.Name) and f.id.startswith('test_')
    return any(_test(n) for n in tree.body)

def page(proc_nb:Path, host:str) -> tuple:
    "(title, notebook dict) ready for mkdocs-jupyter: front matter as a heading, directives applied, links local"
    nb = json.loads(proc_nb.read_text())
    cells, title = [], proc_nb.stem
    for c in nb['cells']:
        src = ''.join(c.get('source') or '')
        if c['cell_type'] == 'raw':
            fm = _fm(src)
            if fm:
                title = fm.get('title', title)
                md = f"# {title}\n" + (f"\n> {fm['description']}\n" if fm.get('description') else '')
                cells.append(dict(cell_type='markdown', metadata={}, source=md))
            continue
        if not src.strip() and not c.get('outputs'): continue   # removed by nbdev (export, hide) or empty
        if c['cell_type'] == 'markdown':
            if 'WARNING: THIS FILE WAS AUTOGENERATED' in src: continue
            cells.append(dict(c, source=mathml(plain_headings(local_links(src, host)))))
            continue
        d = _directives(src)
        if d.get('output') == 'asis' or d.get('echo') == 'false' and all('text/markdown' in o.get('data', {}) for o in c.get('outputs', [])):
            # show_doc and other "asis" cells: their markdown output is the content, as Quarto shows it
            md = '\n'.join(''.join(o['data']['text/markdown']) for o in c.get('outputs', []) if 'text/markdown' in o.get('data', {}))
            if md.strip(): cells.append(dict(cell_type='markdown', metadata={'api': True}, source=local_links(md, host)))
            continue
        code = '\n'.join(l for l in src.splitlines() if not _re_dir.match(l)).strip('\n')
        outs = [] if d.get('output') == 'false' else c.get('outputs', [])
        if not outs and is_test_cell(code): continue  # a check that shows nothing: it belongs to the tests, not the page
        for o in outs:
            if o.get('output_type') == 'stream': o['text'] = terminal_text(''.join(o['text']))
            if 'text/markdown' in o.get('data', {}):
                o['data']['text/markdown'] = local_links(''.join(o['data']['text/markdown']), host)
        tags = ['remove_input'] if d.get('echo') == 'false' or not code else []
        if not code and not outs: continue
        cells.append(dict(c, source=code, outputs=outs, metadata=dict(c.get('metadata', {}), tags=tags)))
    nb['cells'] = cells
    # nbdev's exec_show_docs records every live ipywidget (of every notebook run in this process) in the metadata when
    # ipywidgets is installed; with that key the page template loads the widget renderer from a CDN. The site is
    # offline and shows no widget output, so the key goes.
    nb.get('metadata', {}).pop('widgets', None)
    return title, nb

_re_code = re.compile(r'(```.*?```|`[^`\n]*`)', re.S)
_re_math = re.compile(r'\$\$(.+?)\$\$|(?<![\\$\w])\$([^$\n]+?)\$(?![\w$])', re.S)

def mathml(md:str) -> str:
    """`$...$` and `$$...$$` in markdown as MathML, which browsers render natively: no MathJax from a CDN.
    Markdown-active characters are written as entities so the markdown renderer leaves the MathML alone."""
    from latex2mathml.converter import convert
    def _conv(m):
        tex, block = (m.group(1), True) if m.group(1) is not None else (m.group(2), False)
        tex = re.sub(r'\\text\{([^}]*)\}', lambda t: '\\text{' + t.group(1).replace('\\_', '_') + '}', tex.strip())
        html = convert(tex, display='block' if block else 'inline')
        return html.replace('_', '&#95;').replace('*', '&#42;').replace('\n', ' ')
    parts = _re_code.split(md)
    return ''.join(p if i % 2 else _re_math.sub(_conv, p) for i, p in enumerate(parts))

_re_img = re.compile(r'\]\(([^)\s]+\.(?:png|jpe?g|gif|svg|webp))\)', re.I)   # alt texts may hold nbdev's links

def copy_assets(nb:dict, dest:Path):
    "Copy local images that markdown cells refer to (looked up beside the notebooks, then at the repo root)"
    for c in nb['cells']:
        if c['cell_type'] != 'markdown': continue
        for ref in _re_img.findall(''.join(c['source'])):
            if re.match(r'^[a-z]+:', ref) or ref.startswith('/'): continue
            for base in (NBS, ROOT):
                if (base/ref).is_file():
                    (dest/ref).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(base/ref, dest/ref)
                    break

def mkdocs_config(nav:list, cfg) -> dict:
    return {
        # no repo_url: mkdocs-material would then query the GitHub API from every page
        'site_name': cfg.title, 'site_description': cfg.description,
        'docs_dir': str(SRC), 'site_dir': str(SITE), 'use_directory_urls': False, 'strict': False,
        'theme': {'name': 'material', 'font': False,   # no Google Fonts: the site must work offline
                  'features': ['navigation.sections', 'navigation.top', 'search.highlight', 'content.code.copy'],
                  'palette': {'primary': 'indigo'}},
        'plugins': [{'search': {}},
                    {'mkdocs-jupyter': {'execute': False, 'include_source': False, 'include_requirejs': False, 'no_prompt': True,
                                        'toc_depth': 3, 'cache_dir': str(WORK/'mkdocs-jupyter-cache'),
                                        'remove_tag_config': {'remove_input_tags': ['remove_input']}}}],
        'extra_css': ['styles.css'],
        'markdown_extensions': ['tables', 'admonition', 'toc'],
        'nav': nav,
    }

_re_ext_script = re.compile(r'<script[^>]+src="(?:https?://[^"]*)?"[^>]*>\s*</script>', re.S)
_re_heading = re.compile(r'(<h([1-6])[^>]*\bid="([^"]*)"[^>]*>)(.*?)</h\2>', re.S)
_re_comment_link = re.compile(r'\[`([^`<>\n]+)`\]\(([\w.-]*\.html#[^)\s"<>]+)\)')

def comment_links(html:str) -> str:
    "nbdev's backtick links inside `show_doc` signatures (in docments comments, so left as markdown) as real links"
    return _re_comment_link.sub(r'<a href="\2"><code>\1</code></a>', html)

def nbdev_anchor(text:str) -> str:
    "The anchor nbdev links to for a heading (`DotProductBias.from_dls` -> `dotproductbias.from_dls`), as Quarto makes it"
    return re.sub(r'\s+', '-', re.sub(r'<[^>]+>|¶', '', text).strip().lower())

_re_local_a = re.compile(r'<a href="([\w.-]+\.html)#([^"]+)"[^>]*>(.*?)</a>', re.S)

_re_topic = re.compile(r'(<div class="md-header__topic" data-md-component="header-topic">\s*<span class="md-ellipsis">)(.*?)(</span>)', re.S)

def header_topic(html:str) -> str:
    "The header's second topic (shown once the page scrolls) as the page's own title, not the site's name again"
    t = re.search(r'<title>(.*?)</title>', html, re.S)
    name = t.group(1).rsplit(' - ', 1)[0].strip() if t else ''
    return _re_topic.sub(lambda m: f'{m.group(1)}{name}{m.group(3)}', html, count=1) if name else html

_re_pkg_ref = re.compile(r'`(collab_recs(?:\.\w+)+)`')

def unresolved_references(nbs:list) -> list:
    "'notebook: name' for every backticked `collab_recs.…` name in the notebooks' prose that names no module or object"
    import importlib
    def _resolves(name):
        parts = name.split('.')
        for k in range(len(parts), 0, -1):
            try: obj = importlib.import_module('.'.join(parts[:k]))
            except ImportError: continue
            for a in parts[k:]:
                if not hasattr(obj, a): return False
                obj = getattr(obj, a)
            return True
        return False
    bad = []
    for nb in nbs:
        for c in json.loads(Path(nb).read_text())['cells']:
            if c['cell_type'] != 'markdown': continue
            bad += [f"{Path(nb).name}: {n}" for n in _re_pkg_ref.findall(''.join(c['source'])) if not _resolves(n)]
    return bad

def fix_html(site:Path) -> int:
    """Offline and nbdev-compatible HTML: drop scripts from CDNs (and nbconvert's empty require.js tag), give every
    heading nbdev's anchor too (mkdocs slugifies `DotProductBias.bias` to `dotproductbiasbias`), and unlink backtick
    names whose target has no section (private helpers have no `show_doc`). Returns how many links were unlinked."""
    def _anchor(m):
        a = nbdev_anchor(m.group(4))
        return m.group(0) if not a or a == m.group(3) else f'{m.group(1)}<span id="{a}"></span>{m.group(4)}</h{m.group(2)}>'
    def _dedupe(html):
        "nbconvert repeats ids (title `Recommend`, function `recommend`); mkdocs' TOC links the second as `recommend_1`"
        seen = {}
        def _one(m):
            hid = m.group(3); k = seen.get(hid, 0); seen[hid] = k + 1
            return m.group(0) if not k else f'{m.group(1)}<span id="{hid}_{k}"></span>{m.group(4)}</h{m.group(2)}>'
        html = _re_heading.sub(_one, html)
        for hid, n in seen.items():   # nbdev links `#recommend` to the function, not to the page title
            if n > 1: html = html.replace(f'<h1 id="{hid}">', f'<h1 id="{hid}-page">', 1)
        return html
    pages = {f.name: header_topic(_dedupe(_re_heading.sub(_anchor, comment_links(_re_ext_script.sub('', f.read_text())))))
             for f in site.glob('*.html')}
    ids = {n: set(re.findall(r'\bid="([^"]+)"', h)) for n, h in pages.items()}
    n_unlinked = 0
    def _unlink(m):
        nonlocal n_unlinked
        if m.group(1) in ids and m.group(2) in ids[m.group(1)]: return m.group(0)
        n_unlinked += 1
        return m.group(3)
    for n, h in pages.items(): (site/n).write_text(_re_local_a.sub(_unlink, h))
    return n_unlinked

# ---------------------------------------------------------------- driver
def build(slow:bool=True, quiet:bool=False) -> dict:
    "Build `_docs/`; returns timings and the page list"
    import yaml
    from nbdev.config import get_config
    cfg = get_config()
    host = f"{cfg.doc_host.rstrip('/')}{cfg.doc_baseurl.rstrip('/')}/"
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    t0 = time.time()
    nbs = notebooks()
    if bad := unresolved_references(nbs):  # a reference to nothing fails the build, never a silent plain word
        raise DocsBuildError("references to names that do not exist:\n" + '\n'.join(bad))
    stats = {'pages': [], 'exec_s': {}}
    for k, nb in enumerate(nbs, 1):
        say(f"[{k}/{len(nbs)}] executing {nb.name} ...")  # a notebook can take minutes: say which one runs
        secs = execute(nb, EXEC/nb.name, slow=slow)
        stats['exec_s'][nb.name] = round(secs, 1)
        say(f"executed {nb.name}: {secs:.1f}s" if secs else f"executed {nb.name}: cached")
    t1 = time.time()
    if PROC.exists(): shutil.rmtree(PROC)
    for nb in nbs: nbdev_process(EXEC/nb.name, PROC/nb.name, nb)
    t2 = time.time()
    if SRC.exists(): shutil.rmtree(SRC)
    SRC.mkdir(parents=True)
    home, tutorials, chapters, other = [], [], [], []
    for nb in nbs:
        title, pnb = page(PROC/nb.name, host)
        name = Path(page_name(nb)).with_suffix('.ipynb').name
        (SRC/name).write_text(json.dumps(pnb, indent=1))
        copy_assets(pnb, SRC)
        entry = {title: name}
        (home if nb.stem == 'index' else tutorials if nb.stem.startswith('tutorial') else chapters if re.match(r'^\d', nb.stem) else other).append(entry)
        stats['pages'].append({'notebook': nb.name, 'page': page_name(nb), 'title': title})
    if (NBS/'styles.css').exists(): shutil.copy2(NBS/'styles.css', SRC/'styles.css')
    else: (SRC/'styles.css').write_text('')
    nav = [{'Home': home[0][next(iter(home[0]))]}] if home else []
    if tutorials: nav.append({'Tutorials': tutorials})
    if chapters: nav.append({'Chapters': chapters})
    nav += other   # the Benchmarks page
    conf = WORK/'mkdocs.yml'
    conf.write_text(yaml.safe_dump(mkdocs_config(nav, cfg), sort_keys=False, allow_unicode=True))
    if SITE.exists(): shutil.rmtree(SITE)
    res = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '-q', '-f', str(conf)], cwd=WORK,
                         capture_output=True, text=True)
    if res.returncode: raise DocsBuildError(f"mkdocs build failed:\n{res.stdout}\n{res.stderr}")
    stats['unlinked'] = fix_html(SITE)
    (SITE/'pages.json').write_text(json.dumps(stats['pages'], indent=1))
    t3 = time.time()
    stats.update(execute_s=round(t1-t0, 1), process_s=round(t2-t1, 1), render_s=round(t3-t2, 1), total_s=round(t3-t0, 1))
    say(f"built {len(stats['pages'])} pages into {SITE} in {stats['total_s']}s "
        f"(execute {stats['execute_s']}s, nbdev processing {stats['process_s']}s, render {stats['render_s']}s)")
    return stats

def serve(port:int=8000, bind:str='127.0.0.1'):
    "Serve `_docs/` on localhost"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    with socketserver.ThreadingTCPServer((bind, port), handler) as httpd:
        print(f"serving {SITE.relative_to(ROOT)}/ on http://{bind}:{port}/ (Ctrl-C to stop)", flush=True)
        try: httpd.serve_forever()
        except KeyboardInterrupt: pass

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--no-slow', action='store_true', help="skip cells flagged slow (faster, but pages lose those outputs)")
    p.add_argument('--serve', action='store_true', help="serve _docs/ on localhost after building")
    p.add_argument('--serve-only', action='store_true', help="serve the existing _docs/ without building")
    p.add_argument('--port', type=int, default=8000)
    a = p.parse_args(argv)
    os.chdir(ROOT)
    if not a.serve_only:
        try: build(slow=not a.no_slow)
        except DocsBuildError as e: sys.exit(f"docs build failed: {e}")
    if a.serve or a.serve_only: serve(a.port)

if __name__ == '__main__': main()
