"""The docs site as a reader gets it: built offline by tools/build_docs.py, served on localhost, opened in headless
Debian Chromium (driven by playwright, never a browser that a tool downloads).

Run with `make test-docs`. `COLLAB_RECS_DOCS_PREBUILT=1` tests the `_docs/` already built instead of rebuilding.
Screenshots of the home page and of the PCA plot are saved under `out/docs-screenshots/`.
"""
import ast, functools, html as html_module, http.server, importlib, json, os, re, socketserver, sys, threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse, urldefrag
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
import build_docs

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--headless', '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync']
SHOTS = ROOT/'out'/'docs-screenshots'

@pytest.fixture(scope='module')
def site():
    if os.environ.get('COLLAB_RECS_DOCS_PREBUILT') != '1': build_docs.build(slow=True)
    assert (build_docs.SITE/'index.html').exists(), "the site was not built"
    return build_docs.SITE

@pytest.fixture(scope='module')
def pages(site): return json.loads((site/'pages.json').read_text())

class _Ids(HTMLParser):
    "Element ids, `<img>` count and the text of `<h1>`-`<h6>` of an HTML page"
    def __init__(self):
        super().__init__(); self.ids, self.imgs = set(), 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if 'id' in a: self.ids.add(a['id'])
        if tag == 'img': self.imgs += 1

def parse(path:Path) -> _Ids:
    p = _Ids(); p.feed(path.read_text()); return p

def article(path:Path) -> str:
    "The page content (outputs included), without the navigation"
    html = path.read_text()
    m = re.search(r'<article[^>]*>(.*)</article>', html, re.S)
    return m.group(1) if m else html

# ---------------------------------------------------------------- the site, statically
def test_every_notebook_is_a_page_in_order(site, pages):
    nbs = build_docs.notebooks()
    assert [p['notebook'] for p in pages] == [nb.name for nb in nbs]
    assert len(pages) >= 12, pages   # index, two tutorials, the chapters
    for p in pages: assert (site/p['page']).exists(), p
    nav = re.findall(r'<a href="([^"#]+\.html)" class="md-nav__link', (site/'index.html').read_text())
    order = list(dict.fromkeys(h for h in nav if h in {p['page'] for p in pages}))
    assert order[0] == 'index.html'
    assert order == [p['page'] for p in pages], order
    chapters = [p['notebook'] for p in pages if re.match(r'^\d', p['notebook'])]
    assert chapters == sorted(chapters)

def test_nav_order():
    key = lambda n: build_docs.page_order(Path(n))
    names = ['17_cli.ipynb', 'benchmarks.ipynb', '02_dataloaders.ipynb', 'tutorial_movies.ipynb', '10_recommend.ipynb', 'index.ipynb',
             '00_data.ipynb', '07_distributed.ipynb', '05_learner.ipynb', '02a_extra.ipynb']
    assert sorted(names, key=key) == ['index.ipynb', 'tutorial_movies.ipynb', '00_data.ipynb', '02_dataloaders.ipynb', '02a_extra.ipynb',
                                      '05_learner.ipynb', '07_distributed.ipynb', '10_recommend.ipynb', '17_cli.ipynb', 'benchmarks.ipynb']
    assert build_docs.page_name(Path('nbs/02_dataloaders.ipynb')) == 'dataloaders.html'

def test_home_page_is_readme(site):
    "The home page carries README.md's text (both come from index.ipynb)"
    plain = lambda s: re.sub(r'\s+', ' ', re.sub(r'[`*\[\]()>]', '', s))  # the same on both sides: words, not markup
    text = plain(html_module.unescape(re.sub(r'<[^>]+>', '', article(site/'index.html'))))
    readme = (ROOT/'README.md').read_text()
    for para in [l for l in readme.splitlines() if len(l) > 80 and not l.startswith(('|', '<', '!', '```', '#'))][:5]:
        words = plain(para).split()[:8]
        assert ' '.join(words) in text, words

def _public_api() -> dict:
    "module -> public functions, classes and @patch-ed methods it exports (what must have an API section)"
    from nbdev.doclinks import _build_modidx
    res = {}
    for f in sorted((ROOT/'collab_recs').glob('*.py')):
        if f.stem.startswith('_') or f.stem == 'all': continue
        mod = importlib.import_module(f'collab_recs.{f.stem}')
        names = [n for n in getattr(mod, '__all__', []) if not n.startswith('_')
                 and (isinstance(getattr(mod, n), type) or callable(getattr(mod, n)))
                 and getattr(getattr(mod, n), '__module__', None) == mod.__name__]
        for node in ast.parse(f.read_text()).body:   # methods added with fastcore's @patch
            if isinstance(node, ast.FunctionDef) and not node.name.startswith('_') and node.args.args and node.args.args[0].annotation \
               and any('patch' in ast.unparse(d) for d in node.decorator_list):
                names.append(f"{ast.unparse(node.args.args[0].annotation)}.{node.name}")
        if names: res[f.stem] = names
    return res

def test_api_reference_for_every_export(site):
    "Every exported function and class (and patched method) has nbdev's show_doc section on its module's page"
    from nbdev.doclinks import NbdevLookup
    api = _public_api()
    assert {'DotProductBias', 'DotProductBias.from_dls'} <= set(api['model']) and 'dot_product_learner' in api['learner']
    missing = []
    for mod, names in api.items():
        page = site/f'{mod}.html'
        assert page.exists(), f"no page for collab_recs.{mod}"
        ids = parse(page).ids
        missing += [f'{mod}.{n}' for n in names if n.lower() not in ids]
    assert not missing, f"exported names without an API section: {missing}"

def test_show_doc_content(site):
    """nbdev's show_doc output (nbdev 2.4.14 with fastcore 1.14.5): a link to the source, the signature with each
    parameter's docments comment beside it, and the docstring"""
    html = (site/'learner.html').read_text()
    sec = html[html.index('id="dot_product_learner"'):][:8000]
    text = re.sub(r'<[^>]+>', '', sec)
    assert 'def dot_product_learner(' in text and 'A fastai `Learner`' not in text and 'A fastai' in text   # signature, docstring
    assert 'n_factors:int=50, # Latent factors per user and item' in text    # docments
    assert re.search(r'href="https://github.com/collab-recs/collab_recs/blob/main/collab_recs/learner.py#L\d+"', html)
    html = (site/'model.html').read_text()
    text = re.sub(r'<[^>]+>', '', html[html.index('id="dotproductbias"'):][:8000])
    assert 'n_users:int, # Number of users' in text and 'sigmoid_range' in text

def test_backtick_links(site):
    "Names in backticks link to their API section, with local relative URLs, as nbdev links them"
    html = article(site/'learner.html')
    assert re.search(r'href="model\.html#dotproductbias"', html), "`DotProductBias` is not linked on the learner page"
    for f in site.glob('*.html'):
        assert 'href="https://collab-recs.github.io/collab_recs/' not in article(f), f"{f.name} links to the online site"

_re_plot_call = re.compile(r'^(?:\w+\s*=\s*)?(?:plot_\w+|\w+\.plot\w*|plt\.\w+)\(')

def _plot_cells(nb:Path) -> int:
    "Cells of `nb` that show a figure: their last line is a `plot_...(...)` call, or a name bound to one earlier in the cell"
    n = 0
    for c in json.loads(nb.read_text())['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] != 'code' or re.search(r'#\|\s*(eval:\s*false|hide|export)', src): continue
        lines = [l for l in src.splitlines() if l.strip() and not l.startswith('#|')]
        if not lines: continue
        last = lines[-1].strip()
        bound = {m.group(1) for l in lines[:-1] if (m := re.match(r'^(\w+)\s*=\s*plot_\w+\(', l.strip()))}
        if _re_plot_call.match(last) and not last.startswith('test') or last in bound: n += 1
    return n

def test_every_plot_cell_has_its_image(site, pages):
    "The outputs policy: the docs build executes every notebook (slow cells too), so every plot cell has its image"
    total = 0
    for p in pages:
        want = _plot_cells(ROOT/'nbs'/p['notebook'])
        got = len(re.findall(r'<img[^>]+src="data:image/png;base64,', article(site/p['page'])))
        assert got >= want, f"{p['page']}: {want} plot cells but {got} images"
        total += want
    assert total >= 10, total
    assert _plot_cells(ROOT/'nbs'/'08_plots.ipynb') >= 4

def test_benchmarks_page(site, pages):
    "The Benchmarks page comes last in the navigation and shows every results file in bench/results: its command and date, its tables and plots"
    import html as _html
    assert pages[-1]['notebook'] == 'benchmarks.ipynb' and pages[-1]['title'] == 'Benchmarks', pages[-1]
    page = article(site/pages[-1]['page'])
    text = _html.unescape(re.sub(r'<[^>]+>', '', page))
    files = sorted((ROOT/'bench'/'results').glob('*.json'))
    assert len(files) >= 4, files
    for f in files:
        d = json.loads(f.read_text())
        assert d['command'] in text and d['date'][:10] in text, f"{f.name}: its command and date are not on the page"
    assert page.count('<table') >= 6, page.count('<table')
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', page)) >= 2

# ---------------------------------------------------------------- in the browser
@pytest.fixture(scope='module')
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = functools.partial(Quiet, directory=str(site))
    httpd = socketserver.ThreadingTCPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True); t.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown(); httpd.server_close()

@pytest.fixture(scope='module')
def browser():
    if not Path(CHROMIUM).exists(): pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()

def _open(browser, url):
    "A page at `url` with console errors, page errors and requests leaving localhost recorded"
    ctx = browser.new_context(viewport={'width': 1280, 'height': 900})
    page = ctx.new_page()
    page.errors, page.external = [], []
    page.on('console', lambda m: page.errors.append(f'console {m.type}: {m.text}') if m.type == 'error' else None)
    page.on('pageerror', lambda e: page.errors.append(f'page error: {e}'))
    def _route(route):
        if urlparse(route.request.url).hostname in ('127.0.0.1', 'localhost') or route.request.url.startswith('data:'):
            route.continue_()
        else: page.external.append(route.request.url); route.abort()
    page.route('**/*', _route)
    resp = page.goto(url, wait_until='load')
    assert resp and resp.ok, f"{url}: HTTP {resp and resp.status}"
    page.wait_for_load_state('networkidle')
    return ctx, page

def test_pages_in_browser(site, pages, server, browser):
    "Every page: no console errors, nothing fetched from outside, every image decoded, every internal link resolves"
    ids = {f.name: parse(f).ids for f in site.glob('*.html')}
    problems, n_links, n_imgs = [], 0, 0
    for p in pages:
        url = server + p['page']
        ctx, page = _open(browser, url)
        try:
            problems += [f"{p['page']}: {e}" for e in page.errors]
            problems += [f"{p['page']}: fetched {u} (the site must work offline)" for u in page.external]
            imgs = page.eval_on_selector_all('img', 'els => els.map(e => [e.currentSrc.slice(0, 60), e.complete, e.naturalWidth])')
            n_imgs += len(imgs)
            problems += [f"{p['page']}: image {s} did not load" for s, ok, w in imgs if not (ok and w > 0)]
            hrefs = page.eval_on_selector_all('a[href]', 'els => els.map(e => e.href)')
            for h in hrefs:
                if not h.startswith(server): continue
                target, frag = urldefrag(h)
                rel = target[len(server):] or 'index.html'
                if rel.endswith('/'): rel += 'index.html'
                n_links += 1
                f = site/rel
                if not f.is_file(): problems.append(f"{p['page']}: broken link {h}"); continue
                if frag and f.suffix == '.html' and frag not in ids[f.name] and frag != 'top':
                    problems.append(f"{p['page']}: link {h} points to a missing anchor")
        finally: ctx.close()
    assert not problems, '\n'.join(problems[:40])
    assert n_links > 100 and n_imgs >= 10, (n_links, n_imgs)

def test_api_sections_in_browser(server, browser):
    for page_name, anchor in [('model.html', 'dotproductbias'), ('learner.html', 'dot_product_learner')]:
        ctx, page = _open(browser, server + page_name)
        try:
            h = page.locator(f'[id="{anchor}"]')
            assert h.count() >= 1, f"no API section #{anchor} on {page_name}"
            sec = page.locator('article').inner_text()
            assert 'DotProductBias' in sec and ('n_factors' in sec)
        finally: ctx.close()

def test_header_shows_site_then_page_title(server, browser, pages):
    "The header names the site, and once the page scrolls, the page: never the site's name twice"
    p = next(p for p in pages if p['notebook'] == '10_recommend.ipynb')
    ctx, page = _open(browser, server + p['page'])
    try:
        topics = page.eval_on_selector_all('.md-header__topic', 'els => els.map(e => e.innerText.trim())')
        assert topics == ['collab_recs', p['title']], topics
        page.mouse.wheel(0, 2000); page.wait_for_timeout(500)
        shown = page.eval_on_selector_all('.md-header__topic', 'els => els.map(e => getComputedStyle(e).opacity)')
        assert sorted(shown) == ['0', '1'], shown  # one topic at a time, not two overlapping
    finally: ctx.close()

def test_unresolved_references_fail_the_build(tmp_path):
    "A backticked `collab_recs.…` name that names nothing stops the build; the notebooks have none"
    assert build_docs.unresolved_references(build_docs.notebooks()) == []
    nb = tmp_path/'x.ipynb'
    nb.write_text(json.dumps({'cells': [{'cell_type': 'markdown', 'source': 'See `collab_recs.interactions` and '
                                         '`collab_recs.recommend.recommend_all`.', 'metadata': {}}]}))
    assert build_docs.unresolved_references([nb]) == ['x.ipynb: collab_recs.interactions']

def test_pages_show_no_test_checks_or_warnings(site, pages):
    "Chapter pages teach: checks that print nothing are left out, and no page shows a Python warning or a build path"
    for p in pages:
        text = article(site/p['page'])
        assert 'Warning:' not in re.sub(r'<[^>]+>', '', text), f"{p['page']} shows a warning"
        assert '/build/docs/' not in text, f"{p['page']} shows a build path"
    assert build_docs.is_test_cell('test_eq(1, 1)') and build_docs.is_test_cell('x = 2\nassert x')
    assert not build_docs.is_test_cell('recs = recommend(model, 3)\nrecs')
    assert 'test_eq(' not in article(site/'recommend.html').split('Candidates restrict')[0]  # its first checks are gone
    assert 'after_create' not in article(site/'ranking.html')  # callbacks' signatures without fastai's event hooks

def test_search(server, browser):
    "mkdocs-material's offline search finds a function by name and a term from the prose"
    ctx, page = _open(browser, server + 'index.html')
    try:
        for term, expect in [('dot_product_learner', 'learner.html'), ('principal', 'plots.html')]:
            page.click('input.md-search__input')
            page.fill('input.md-search__input', '')
            page.keyboard.type(term)
            # the previous term's results stay on screen until the new search is done: wait for the expected page
            # to be listed (not just for any result), then check
            try: page.wait_for_function("expect => [...document.querySelectorAll('.md-search-result__item a')].some(a => a.href.includes(expect))",
                                        arg=expect, timeout=20_000)
            except Exception: pass  # the assert below says what was listed instead
            links = page.eval_on_selector_all('.md-search-result__item a', 'els => els.map(e => e.href)')
            assert any(expect in l for l in links), (term, links[:10])
        assert not page.errors, page.errors
    finally: ctx.close()

def test_screenshots(server, browser):
    "Screenshots of the home page and of the PCA map, for a person to look at"
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx, page = _open(browser, server + 'index.html')
    try: page.screenshot(path=str(SHOTS/'home.png'))
    finally: ctx.close()
    ctx, page = _open(browser, server + 'plots.html')
    try:
        # the PCA map is the image right after the `plot_factor_pca(learn)` cell
        cell = page.locator('.jp-Cell', has_text='plot_factor_pca(learn)', has=page.locator('img')).last  # the cell that draws it, not a test that calls it
        img = cell.locator('img').first
        img.scroll_into_view_if_needed()
        assert img.evaluate('e => e.naturalWidth') > 500
        page.screenshot(path=str(SHOTS/'plots_page.png'))
        img.screenshot(path=str(SHOTS/'pca.png'))
    finally: ctx.close()
    for f in ['home.png', 'plots_page.png', 'pca.png']: assert (SHOTS/f).stat().st_size > 10_000, f
