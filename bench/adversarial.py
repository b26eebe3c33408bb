"""Issue 15's adversarial matrix: the CLI and the Python API tried as a careless or hostile user would try them, in every
class of case the issue lists (and a few more), each case checked for its outcome, for data loss and for code execution.

A case is clean when its outcome is the expected one: exit 0 and sane output for 'ok' (a loadable, finite model after a
train; finite scores); exit 2 with exactly one `error:` line and no traceback for 'refused' (a documented exception type
for the Python API), and nothing written; and, in every case, every input file and every file the package did not write
keeps its bytes and mtime, and no `__reduce__` payload ever runs. Anything else is a defect, listed with its reproduction.

Each case runs in a forked child of this process (everything imported once: fast), with a timeout (a hang is a defect) and
an address-space limit; a few run as real `python -m collab_recs.cli` processes, as a user's shell would run them.
Random kills during a save are bench/stress_save.py's: here the interrupted saves are deterministic, one per save step.

Usage: python -m bench.adversarial [--quick] [--only CATEGORY[,CATEGORY]] [--timeout 60] [--json_path PATH] [--keep]
"""
import dataclasses, hashlib, io, json, os, pickle, re, resource, shutil, signal, socket, stat, subprocess, sys, tempfile, time, traceback
from pathlib import Path
from fastcore.script import call_parse, Param, store_true
from bench.common import ROOT, write_results

CATEGORIES = {  # name: what it tries; (N) is the defect number in issue 15
    'out-data-loss': "(1) --out whose model/ holds foreign files, --data inside --out, training over a model",
    'interrupted-save': "(2) a save stopped at each of its steps (deterministic), old-scheme leftovers; then load, recommend, train",
    'onboard-answers': "(3) onboard with invalid, odd and missing answers: re-asks, keeps what was answered",
    'empty-splits': "(4) empty training or validation splits: 1-2 ratings, --valid-pct 1e-9 / 0.999, splits without timestamps",
    'id-text': "(5) ids '007' vs '7', '+7', '-0', ' 7', ids beyond int64",
    'csv-encoding': "(6) byte-order marks, UTF-16, Latin-1, CRLF, empty, binary, mislabelled files",
    'rating-kinds': "(7) datetime, duration, boolean, text, nested, non-finite ratings (Parquet and CSV)",
    'id-types': "(8) bytes, dict, list, float, bool, datetime, ... ids through the Python API (load_ratings, then train and save)",
    'column-twice': "(9) a column named for two roles, duplicate column names",
    'impossible-sizes': "(10) --factors 1e12, huge --synthetic-ratings, huge -n / --rounds, model sizes in the API",
    'diverged': "(11) --rating-range with inf/nan, --lr 1e10, huge ratings: nothing non-finite is saved",
    'model-json': "(12) malformed model.json: every field x bad values, deep nesting, wrong JSON, directories",
    'model-content': "(13) non-finite or inconsistent content with valid checksums: NaN/inf weights, y_range, vocabularies, pairs",
    'special-files': "(14) FIFOs, /dev/zero, sockets, symlink loops as model files or --data",
    'unwritable-out': "(15) --out that cannot be written (/proc, under a regular file, a file): refused before training",
    'code-execution': "pickle payloads (__reduce__) as every file of a model folder, old-format weights.pt/rated.pt, --data",
    'tensor-files': "truncated, modified, garbage, empty, missing and swapped tensor files",
    'old-formats': "formats 1 and 2 (torch files): read, checked, replaced by a new save",
    'cli-usage': "bad options and arguments: unknown ids, -n 0, missing --model, evaluate with both/neither source",
}

DOCUMENTED = {'RatingsError', 'ModelFileError', 'UnknownIdError', 'ModelTooLargeError', 'TrainingDivergedError', 'CatalogueTooLargeError',
              'ValueError', 'FileExistsError', 'PermissionError', 'FileNotFoundError', 'NotADirectoryError'}
FORBIDDEN = {'AttributeError', 'KeyError', 'TypeError', 'RecursionError', 'OverflowError', 'IndexError', 'MemoryError', 'AssertionError',
             'UnpicklingError', 'JSONDecodeError', 'UnicodeDecodeError', 'IsADirectoryError', 'RuntimeError', 'ZeroDivisionError'}
OURS = re.compile(r'model\.json|(weights|rated)-[0-9a-f]{16}\.safetensors|\..+\.tmp-.*|metrics\.json|.*\.png')  # names train writes
LOCK = '.collab_recs.lock'
ERROR_LINE = re.compile(r'collab-recs( \w+)?: error: ')

@dataclasses.dataclass
class Case:
    cat: str
    name: str
    argv: list = None        # a CLI command line ({d}, {in}, {model}, {out}, ... filled in), or
    fn: object = None        # a Python callable fn(ws), run in the child: returning is 'ok', raising is a refusal
    stdin: str = None
    expect: str = 'refused'  # 'ok', 'refused' or 'either' (a clean refusal or a sane success)
    contains: str = None     # text the refusal's message must contain (case-insensitive)
    setup: object = None     # setup(ws): builds the case's folder ws['d'] (and may add to ws)
    check: object = None     # check(ws, stdout) -> a problem (str) or None, after a success (in this process)
    writes: bool = False     # the command writes outputs (train): files train writes may change in the case folder
    may_change: str = None   # a regex of paths (relative to the case folder) that may legitimately change or go
    errors: tuple = None     # Python API: the exception names accepted as a refusal (default: DOCUMENTED)
    real: bool = False       # run as a real `python -m collab_recs.cli` process
    before_training: bool = False  # a refused train must refuse before it trains
    timeout: float = None

CASES = []
def add(cat, name, **kw):
    assert cat in CATEGORIES, cat
    CASES.append(Case(cat, name, **kw))

# ---------------------------------------------------------------------------------------------------------------- helpers
def sha(b:bytes) -> str: return hashlib.sha256(b).hexdigest()

def fill(o, ws):
    "`o` with {key} replaced by ws[key] (a string, or each string of a list)"
    if isinstance(o, list): return [fill(x, ws) for x in o]
    return re.sub(r'\{(\w+)\}', lambda m: str(ws[m[1]]) if m[1] in ws else m[0], o)

def train_argv(data='{in}/ratings.csv', *extra, out='{out}'):
    return ['train', '--data', data, '--out', out, '--recipe', 'fast', '--factors', '4', '--epochs', '1', '--no-plots', '--show-recs', '0', *extra]

def eval_argv(data='{in}/ratings.csv', *extra):
    return ['evaluate', '--data', data, '--recipe', 'fast', '--factors', '4', '--epochs', '1', '--json', *extra]

class Evil:
    "Unpickling this creates the marker file: the probe of code execution"
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (open, (self.marker, 'w'))

def cfg_of(p:Path) -> dict: return json.loads((p/'model.json').read_text())

def put_cfg(p:Path, cfg, raw:dict=None):
    "Write model.json; `raw` maps placeholder strings in `cfg` to JSON text written as it is (1e400, NaN, ...)"
    text = json.dumps(cfg)
    for k, v in (raw or {}).items(): text = text.replace(json.dumps(k), v)
    os.unlink(p/'model.json'); (p/'model.json').write_text(text)

class Raw(str): "A JSON text written as it is"

def jset(*keys, value=None, delete=False):
    "A mutation of model.json: set (or delete) cfg[k1][k2]... ; a `Raw` value is written verbatim"
    def mutate(p, ws):
        cfg = cfg_of(p); o = cfg
        for k in keys[:-1]: o = o[k]
        raw = {}
        if delete: del o[keys[-1]]
        elif isinstance(value, Raw): o[keys[-1]] = '__RAW__'; raw['__RAW__'] = str(value)
        else: o[keys[-1]] = value() if callable(value) else value
        put_cfg(p, cfg, raw)
    return mutate

def jfn(f):
    "A mutation of model.json by a function of the dict"
    def mutate(p, ws):
        cfg = cfg_of(p); f(cfg); put_cfg(p, cfg)
    return mutate

def jtext(text):
    "model.json replaced by `text` (str or bytes, or a function of ws returning one)"
    def mutate(p, ws):
        t = text(ws) if callable(text) else text
        os.unlink(p/'model.json')
        (p/'model.json').write_bytes(t if isinstance(t, bytes) else t.encode())
    return mutate

def tensor_name(p:Path, kind:str) -> str: return cfg_of(p)['files'][kind]['name']

def put_tensor_bytes(kind, data, meta=True):
    "The `kind` tensor file replaced by `data` (bytes or f(ws, old bytes)); with `meta`, model.json's name, sha256 and size follow it"
    def mutate(p, ws):
        cfg = cfg_of(p); old = p/cfg['files'][kind]['name']; b = old.read_bytes(); old.unlink()
        d = data(ws, b) if callable(data) else data
        if not meta: old.write_bytes(d); return
        h = sha(d); name = f'{kind}-{h[:16]}.safetensors'
        (p/name).write_bytes(d)
        cfg['files'][kind] = dict(name=name, sha256=h, size=len(d)); put_cfg(p, cfg)
    return mutate

def put_tensors(kind, f):
    "The `kind` tensors replaced by f(their dict), written as safetensors with model.json following"
    def data(ws, b):
        from safetensors.torch import load, save
        return save({k: v.contiguous() for k, v in f(dict(load(b))).items()})
    return put_tensor_bytes(kind, data)

def seq(*mutations):
    def mutate(p, ws):
        for m in mutations: m(p, ws)
    return mutate

def model_setup(base='G', mutate=None, where='model'):
    "setup: a copy of base model `base` in the case folder (at `where`), then `mutate(folder, ws)`"
    def setup(ws):
        p = ws['d']/where
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ws['base']/base, p, symlinks=True)
        if mutate: mutate(p, ws)
    return setup

def fingerprint(root:Path) -> dict:
    "{relative path: what it is} of everything under `root`: regular files by size, mtime and SHA-256"
    fp = {}
    if not root.exists(): return fp
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath)/n
            try: st = os.lstat(p)
            except FileNotFoundError: continue
            rel = str(p.relative_to(root))
            if stat.S_ISREG(st.st_mode):
                with open(p, 'rb') as f: fp[rel] = ('file', st.st_size, st.st_mtime_ns, sha(f.read()))
            elif stat.S_ISLNK(st.st_mode): fp[rel] = ('link', os.readlink(p))
            elif stat.S_ISDIR(st.st_mode): fp[rel] = ('dir',)
            else: fp[rel] = ('special', stat.S_IFMT(st.st_mode))
    return fp

def used_files(folder:Path) -> set:
    cfg = cfg_of(folder)
    return {'model.json', *(f['name'] for f in cfg['files'].values())} if 'files' in cfg else {'model.json', 'weights.pt', 'rated.pt'}

def model_problem(folder:Path, leftovers:bool=True) -> str|None:
    "What is wrong with the model saved in `folder` (None: it loads, its weights are finite, nothing is left over)"
    import torch
    from collab_recs.save import load_model
    try: m = load_model(folder)
    except Exception as e: return f"the saved model does not load: {type(e).__name__}: {e}"
    if not all(torch.isfinite(t).all() for t in m.state_dict().values()): return "the saved model has non-finite weights"
    if leftovers:
        left = sorted(set(os.listdir(folder)) - used_files(folder) - {LOCK}) + sorted(n for n in os.listdir(folder.parent) if n.startswith('.model.'))
        if left: return f"leftovers after a successful save: {left}"
    return None

def check_trained(key='out'):
    "check: the train wrote a loadable, finite model and finite metrics, with no leftovers"
    def check(ws, stdout):
        out = Path(ws[key])
        prob = model_problem(out/'model')
        if prob: return prob
        try: m = json.loads((out/'metrics.json').read_text())
        except Exception as e: return f"metrics.json: {type(e).__name__}: {e}"
        bad = [k for k, v in m.items() if isinstance(v, float) and v != v or v in (float('inf'), float('-inf'))]
        if bad or re.search(r'\bnan\b', stdout, re.I): return f"non-finite metrics: {bad or stdout[-300:]}"
        return None
    return check

def check_json(field:str, last_only:bool=False, allow_empty:bool=False):
    "check: --json output whose records all have a finite `field` (only the last record's with `last_only`)"
    def check(ws, stdout):
        lines = [l for l in stdout.splitlines() if l.strip().startswith('[')]
        if not lines: return f"no JSON records in the output: {stdout[-300:]!r}"
        recs = json.loads(lines[-1])
        if not recs and not allow_empty: return "no records"
        for r in (recs[-1:] if last_only else recs):
            v = r.get(field)
            if not isinstance(v, (int, float)) or v != v or abs(v) == float('inf'): return f"{field} is {v!r} in {r}"
        return None
    return check

def check_text(pattern:str, absent:str=r'\bnan\b|\binf\b'):
    "check: the output matches `pattern`, with no match of `absent` after it (in what the command printed last: its results)"
    def check(ws, stdout):
        m = re.search(pattern, stdout)
        if not m: return f"expected {pattern!r} in the output, got: {stdout[-400:]!r}"
        if absent and re.search(absent, stdout[m.end():], re.I): return f"unexpected {absent!r} in the output: {stdout[-400:]!r}"
        return None
    return check

# --------------------------------------------------------------------------------------------------------- the inputs
def make_inputs(ins:Path):
    "Every input file the cases read (run in a child: pyarrow's threads stay out of this process, which forks)"
    import numpy as np, pandas as pd
    from collab_recs.synthetic import synthetic_ratings
    ins.mkdir(parents=True)
    df = synthetic_ratings(n_users=60, n_items=40, n_ratings=800, seed=0).ratings[['user', 'item', 'rating']].reset_index(drop=True)
    csv = df.to_csv(index=False)
    (ins/'ratings.csv').write_text(csv)
    df.assign(title='Film ' + df.item.astype(str)).to_csv(ins/'titled.csv', index=False)
    df.head(1).to_csv(ins/'tiny1.csv', index=False)
    df.head(2).to_csv(ins/'tiny2.csv', index=False)
    df.head(100).to_csv(ins/'small100.csv', index=False)
    # ids as text
    def ids(col, mapping):
        d = df.copy(); d[col] = d[col].astype(str).map(lambda s: mapping.get(s, s)); return d
    ids('user', {'8': '007'}).to_csv(ins/'users_007.csv', index=False)
    ids('item', {'8': '007'}).to_csv(ins/'items_007.csv', index=False)
    ids('user', {'8': '007', '9': '+7', '10': ' 7', '11': '-0', '12': '7.0', '13': '0x7', '14': '٧'}).to_csv(ins/'users_variants.csv', index=False)
    ids('user', {str(u): str(10**25 + u) for u in range(60)}).to_csv(ins/'users_huge.csv', index=False)
    ids('user', {str(u): str(2**63 - 1 - u) for u in range(60)}).to_csv(ins/'users_int64max.csv', index=False)
    ids('user', {'8': 'NA', '9': 'null', '10': 'None', '11': 'nan'}).to_csv(ins/'users_na.csv', index=False)
    # encodings
    (ins/'bom.csv').write_bytes(b'\xef\xbb\xbf' + csv.encode())
    (ins/'bom.tsv').write_bytes(b'\xef\xbb\xbf' + df.to_csv(index=False, sep='\t').encode())
    (ins/'bom_quoted.csv').write_bytes(b'\xef\xbb\xbf' + df.to_csv(index=False, quoting=1).encode())
    (ins/'utf16.csv').write_bytes(csv.encode('utf-16'))
    df.assign(title='Caf\xe9 ' + df.item.astype(str)).to_csv(ins/'latin1.csv', index=False, encoding='latin-1')
    (ins/'crlf.csv').write_bytes(csv.replace('\n', '\r\n').encode())
    (ins/'semicolon.csv').write_text(df.to_csv(index=False, sep=';'))
    (ins/'empty.csv').write_text('')
    (ins/'header_only.csv').write_text('user,item,rating\n')
    (ins/'binary.csv').write_bytes(bytes(range(256)) * 40)
    (ins/'nul.csv').write_bytes(csv.encode().replace(b'\n4', b'\n\x004', 5))
    df.to_parquet(ins/'parquet_named.csv')
    (ins/'csv_named.parquet').write_text(csv)
    df.to_csv(ins/'ratings.csv.gz', index=False)
    (ins/'ragged.csv').write_text('user,item,rating\n1,2,3\n4,5\n6,7,8,9,10\n' + '\n'.join(csv.splitlines()[1:]) + '\n')
    df.assign(title=['Line\nbreak "quoted", title' if i % 7 == 0 else f'T{i}' for i in df.item]).to_csv(ins/'titles_multiline.csv', index=False)
    (ins/'sep_line.csv').write_text('sep=,\n' + csv)
    # rating kinds
    base = df[['user', 'item']]
    n = len(df)
    kinds = {
        'datetime': pd.to_datetime(df.rating * 1e9),
        'datetime_tz': pd.to_datetime(df.rating * 1e9).dt.tz_localize('UTC'),
        'date': pd.to_datetime(df.rating * 1e9 * 86400).dt.date,
        'duration': pd.to_timedelta(df.rating, unit='s'),
        'bool': df.rating > 3,
        'nullable_bool': (df.rating > 3).astype('boolean'),
        'text_numbers': df.rating.round(1).astype(str),
        'text_words': np.where(df.rating > 3, 'good', 'bad'),
        'categorical': pd.Categorical(df.rating.round()),
        'int8': df.rating.round().astype('int8'),
        'uint64_huge': np.full(n, 2**64 - 1, dtype='uint64') - np.arange(n, dtype='uint64'),
        'all_nan': np.full(n, np.nan),
        'one_inf': df.rating.where(df.index != 5, np.inf),
        'beyond_float32': df.rating * 1e39,
        'bytes': df.rating.round(1).astype(str).str.encode('ascii'),
        'lists': [[r] for r in df.rating],
        'structs': [{'r': r} for r in df.rating],
        'decimal': df.rating.round(2).map(lambda r: __import__('decimal').Decimal(str(r))),
    }
    for k, v in kinds.items(): base.assign(rating=v).to_parquet(ins/f'rating_{k}.parquet')
    for k, vals in {'truefalse': np.where(df.rating > 3, 'True', 'False'), 'dates': '2021-01-0' + (df.rating.round().astype(int)).astype(str),
                    '1e400': df.rating.astype(str).where(df.index != 3, '1e400'), 'nan': df.rating.astype(str).where(df.index != 3, 'nan'),
                    'hex': df.rating.astype(str).where(df.index != 3, '0x10'), 'decimal_comma': df.rating.round(1).astype(str).str.replace('.', ',')}.items():
        base.assign(rating=vals).to_csv(ins/f'rating_{k}.csv', index=False)
    df.assign(rating=np.float32(3.0)).to_csv(ins/'equal.csv', index=False)
    df.assign(rating=df.rating * 1e30).to_csv(ins/'huge_ratings.csv', index=False)
    # id types and columns
    df.assign(user=df.user.astype(str).str.encode('ascii')).to_parquet(ins/'ids_binary.parquet')
    df.assign(user=df.user.astype(float) + 0.5).to_parquet(ins/'ids_float.parquet')
    df.assign(user=pd.to_datetime(df.user, unit='D')).to_parquet(ins/'ids_datetime.parquet')
    (ins/'dupcols.csv').write_text('user,item,rating,rating\n' + '\n'.join(l + ',1' for l in csv.splitlines()[1:]) + '\n')
    df.assign(ts=np.arange(n)).to_csv(ins/'timestamped.csv', index=False)
    pd.concat([df, df.head(5).assign(rating=1.0)]).to_csv(ins/'dups.csv', index=False)
    # payloads as data
    (ins/'payload.csv').write_bytes(pickle.dumps(Evil(ins.parent/'PWNED')))
    (ins/'payload.parquet').write_bytes(pickle.dumps(Evil(ins.parent/'PWNED')))

def make_models(t:Path, timeout:float):
    "The good model G (trained by the CLI), and G2/G1: the same model in the old formats 2 and 1 (torch files)"
    import torch
    from collab_recs.save import load_model
    res = run_child(lambda: __import__('collab_recs.cli').cli.main(train_argv(str(t/'in'/'ratings.csv'), '--seed', '0', out=str(t/'base'/'gout'))),
                    t/'logs', 'base', t, timeout=max(timeout, 300))
    if res.get('rc') != 0: sys.exit(f"could not train the base model: {res} {(t/'logs'/'base.err').read_text()[-2000:]}")
    g = t/'base'/'G'
    os.replace(t/'base'/'gout'/'model', g)
    m = load_model(g)
    cfg = cfg_of(g)
    for fmt, checked in ((2, True), (1, False)):
        p = t/'base'/f'G{fmt}'; p.mkdir()
        torch.save({k: v.detach().clone() for k, v in m.state_dict().items()}, p/'weights.pt')
        torch.save({'pairs': m.rated.to(torch.int32), 'ratings': m.ratings}, p/'rated.pt')
        c = {k: v for k, v in cfg.items() if k != 'files'}
        c['format'] = f'collab_recs/DotProductBias/{fmt}'
        if checked: c['sha256'] = {n: sha((p/n).read_bytes()) for n in ('weights.pt', 'rated.pt')}
        (p/'model.json').write_text(json.dumps(c))
    # a model trained on ids '007' and '7' (and other look-alikes)
    res = run_child(lambda: __import__('collab_recs.cli').cli.main(train_argv(str(t/'in'/'users_variants.csv'), '--seed', '0', out=str(t/'base'/'vout'))),
                    t/'logs', 'base-ids', t, timeout=max(timeout, 300))
    if res.get('rc') != 0: sys.exit(f"could not train the ids model: {res} {(t/'logs'/'base-ids.err').read_text()[-2000:]}")
    os.replace(t/'base'/'vout'/'model', t/'base'/'V')
    for d in ('gout', 'vout'): shutil.rmtree(t/'base'/d)

# ----------------------------------------------------------------------------------------------------- running a case
def _limit_memory(extra_gib:int=4):
    "Cap this process's address space at its current size plus `extra_gib` (a runaway read or allocation fails, not the machine)"
    try:
        kb = int(re.search(r'VmSize:\s+(\d+)', Path('/proc/self/status').read_text())[1])
        lim = kb * 1024 + extra_gib * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    except (OSError, ValueError, TypeError): pass

def run_child(fn, logs:Path, tag:str, cwd:Path, stdin:str=None, timeout:float=60) -> dict:
    "Run fn() in a forked child with stdout/stderr to files; {'rc', 'exc', 'mro', 'msg', 'timeout', 'stdout', 'stderr'}"
    logs.mkdir(parents=True, exist_ok=True)
    out, err, res, inp = (logs/f'{tag}.{x}' for x in ('out', 'err', 'res', 'in'))
    inp.write_bytes((stdin or '').encode('utf-8', 'surrogateescape'))
    for f in (out, err, res): f.unlink(missing_ok=True)
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.setsid()
            os.chdir(cwd)
            for fd, path, flags in ((0, inp, os.O_RDONLY), (1, out, os.O_WRONLY | os.O_CREAT), (2, err, os.O_WRONLY | os.O_CREAT)):
                f = os.open(path, flags, 0o644); os.dup2(f, fd); os.close(f)
            # text streams as the interpreter would open them for a command whose input and output are pipes
            sys.stdin, sys.stdout, sys.stderr = (open(fd, mode, closefd=False, buffering=1 if mode == 'w' else -1, encoding=getattr(orig, 'encoding', None) or 'utf-8',
                                                      errors=getattr(orig, 'errors', None) or default)
                                                 for fd, mode, orig, default in ((0, 'r', sys.__stdin__, 'strict'), (1, 'w', sys.__stdout__, 'strict'),
                                                                                 (2, 'w', sys.__stderr__, 'backslashreplace')))
            _limit_memory()
            r = {}
            try:
                rc = fn()
                r['rc'] = rc if isinstance(rc, int) else 0
            except SystemExit as e:
                r['rc'] = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if not isinstance(e.code, (int, type(None))): print(e.code, file=sys.stderr)
            except BaseException as e:
                traceback.print_exc()
                r.update(rc=1, exc=type(e).__name__, mro=[c.__name__ for c in type(e).__mro__], msg=str(e)[:5000])
            sys.stdout.flush(); sys.stderr.flush()
            res.write_text(json.dumps(r))
        except BaseException:
            try: traceback.print_exc(); sys.stderr.flush()
            except BaseException: pass
            code = 3
        finally: os._exit(code)
    deadline, status = time.time() + timeout, None
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got: break
        if time.time() > deadline:
            try: os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError: pass
            os.waitpid(pid, 0)
            status = None; break
        time.sleep(0.005)
    r = json.loads(res.read_text()) if res.exists() else {}
    if status is None: r['timeout'] = True
    elif not res.exists(): r['rc'] = r.get('rc', -1); r['crash'] = f"child ended with status {status} and no result"
    r['stdout'] = out.read_text(errors='replace') if out.exists() else ''
    r['stderr'] = err.read_text(errors='replace') if err.exists() else ''
    return r

def run_real(argv:list, cwd:Path, stdin:str=None, timeout:float=60) -> dict:
    "Run `python -m collab_recs.cli *argv` as a user's shell would"
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', '')}
    try:
        p = subprocess.run([sys.executable, '-m', 'collab_recs.cli', *argv], input=(stdin or '').encode(), capture_output=True,
                           cwd=cwd, env=env, timeout=timeout, start_new_session=True)
        return dict(rc=p.returncode, stdout=p.stdout.decode(errors='replace'), stderr=p.stderr.decode(errors='replace'))
    except subprocess.TimeoutExpired as e:
        return dict(rc=None, timeout=True, stdout=(e.stdout or b'').decode(errors='replace'), stderr=(e.stderr or b'').decode(errors='replace'))

def tail(s:str, n:int=600) -> str:
    s = s.strip()
    return s if len(s) <= n else '...' + s[-n:]

def judge(case:Case, r:dict, ws:dict, before:dict, after:dict, ins_before:dict, ins_after:dict, marker:bool) -> tuple:
    "(problems, outcome, data_lost) of one case's run"
    problems, lost = [], []
    # the outcome
    if r.get('timeout'): problems.append(f"no answer within {ws['timeout']:.0f} s (a hang)"); outcome = 'timeout'
    elif r.get('crash'): problems.append(r['crash']); outcome = 'crash'
    elif case.fn is not None:
        if r.get('rc') == 0: outcome = 'ok'
        elif 'mro' in r:
            allowed = set(case.errors or DOCUMENTED)
            ok_type = bool(allowed & set(r['mro'])) and r['exc'] not in FORBIDDEN and not (FORBIDDEN & set(r['mro']) - {'ValueError'})
            outcome = 'refused' if ok_type else 'error'
            if not ok_type: problems.append(f"raised {r['exc']} (expected {'/'.join(sorted(allowed)) if case.errors else 'a documented error'}): {r['msg'][:400]}")
            elif not r['msg'].strip(): problems.append(f"{r['exc']} with an empty message")
        else: outcome = 'error'; problems.append(f"exit {r.get('rc')}")
    else:
        rc, err = r.get('rc'), r.get('stderr', '')
        errs = [l for l in err.splitlines() if ERROR_LINE.match(l)]
        if 'Traceback' in err: outcome = 'error'; problems.append("traceback on stderr")
        elif rc == 0: outcome = 'ok'
        elif rc == 2:
            outcome = 'refused'
            if len(errs) != 1: problems.append(f"{len(errs)} 'collab-recs: error:' lines on stderr (expected exactly one)")
            extra = [l for l in err.splitlines() if l.strip() and not ERROR_LINE.match(l) and not l.startswith(('usage:', ' '))]
            if extra: problems.append(f"other lines on stderr besides the error: {extra[:2]}")
        else: outcome = 'error'; problems.append(f"exit status {rc}")
    if outcome == 'ok' and case.fn is None:
        warns = [l.strip() for l in r.get('stderr', '').splitlines() if re.search(r'\w+Warning\b', l)]
        if warns: problems.append(f"warnings on stderr: {warns[0][-160:]}")
    if outcome in ('ok', 'refused') and case.expect != 'either' and outcome != case.expect:
        problems.append(f"{outcome} but expected {case.expect}")
    if outcome == 'refused':
        msg = r.get('msg', '') if case.fn is not None else ' '.join(l for l in r.get('stderr', '').splitlines() if ERROR_LINE.match(l))
        if case.contains and not re.search(case.contains, msg, re.I): problems.append(f"the message lacks {case.contains!r}")
        if case.before_training and 'Training DotProductBias' in r.get('stdout', ''): problems.append("refused only after training")
    # files: inputs, and everything in the case folder the case had no business changing
    for rel, v in ins_before.items():
        if ins_after.get(rel) != v: lost.append(f"input {rel} {'deleted' if rel not in ins_after else 'changed'}")
    for rel, v in before.items():
        name = os.path.basename(rel)
        if name == LOCK or (case.writes and OURS.fullmatch(name)) or (case.may_change and re.search(case.may_change, rel)): continue
        if v[0] == 'dir' and rel in after: continue
        if rel not in after: lost.append(f"{rel} deleted")
        elif after[rel] != v: lost.append(f"{rel} changed")
    if outcome == 'refused' or (outcome != 'ok' and case.expect == 'refused'):
        new = [rel for rel in after if rel not in before and os.path.basename(rel) != LOCK and not (case.may_change and re.search(case.may_change, rel))]
        if new: problems.append(f"refused, yet wrote {sorted(new)[:4]}")
    problems += lost
    if marker: problems.append("CODE EXECUTED: the payload's marker file appeared")
    if outcome == 'ok' and case.check is not None and not lost:
        try: prob = case.check(ws, r.get('stdout', ''))
        except Exception as e: prob = f"check failed: {type(e).__name__}: {e}"
        if prob: problems.append(prob)
    return problems, outcome, bool(lost)

# ------------------------------------------------------------------------------------------------------------ the cases
def define_cases(quick:bool):
    import numpy as np
    G = lambda mutate=None, base='G': model_setup(base, mutate)
    T = train_argv

    # readers of a model folder: the Python API and each CLI command
    def api_load(ws):
        import torch
        from collab_recs.save import load_model
        m = load_model(ws['model'])
        assert all(torch.isfinite(t).all() for t in m.state_dict().values()), "load_model returned non-finite weights"
        assert all(np.isfinite(m.y_range)) and m.y_range[0] < m.y_range[1], f"load_model returned y_range {m.y_range}"
    readers = {
        'load_model': dict(fn=api_load, errors=('ModelFileError',)),
        'recommend': dict(argv=['recommend', '--model', '{model}', '--user', '3', '-n', '3', '--json'], check=check_json('score')),
        'similar': dict(argv=['similar', '--model', '{model}', '--item', '3', '-n', '3', '--json'], check=check_json('similarity')),
        'evaluate': dict(argv=['evaluate', '--model', '{model}', '--json'], check=check_json('rmse', last_only=True)),
        'onboard': dict(argv=['onboard', '--model', '{model}', '--rounds', '1', '--per-round', '2', '-n', '3'], stdin='4\n\n',
                        check=check_text(r'From your 1 rating')),
    }
    if quick: readers = {k: readers[k] for k in ('load_model', 'recommend')}
    def against_readers(cat, name, setup, expect='refused', contains=None, only=None, **kw):
        for rname, r in readers.items():
            if only and rname not in only: continue
            add(cat, f"{name} [{rname}]", setup=setup, expect=expect, contains=contains if rname != 'load_model' else None, **{**r, **kw})

    # ---- (1) data loss in --out
    foreign = {'a text file': lambda p: (p/'notes.txt').write_text('mine'), 'a hidden file': lambda p: (p/'.notes').write_text('mine'),
               'a folder': lambda p: ((p/'mine').mkdir(), (p/'mine'/'f.txt').write_text('mine')),
               'a symlink to an input': lambda p: os.symlink(p.parent.parent/'keep.csv', p/'link.csv'),
               'a weights.pt of its own': lambda p: (p/'weights.pt').write_bytes(b'not ours'),
               'a model.json.bak': lambda p: (p/'model.json.bak').write_text('{}'),
               'an empty file': lambda p: (p/'empty').write_text('')}
    for fname, put in foreign.items():
        for with_model in (True, False):
            def setup(ws, put=put, with_model=with_model):
                (ws['d']/'keep.csv').write_text('keep me')
                if with_model: model_setup('G', where='out/model')(ws)
                else: (ws['d']/'out'/'model').mkdir(parents=True)
                put(ws['d']/'out'/'model')
            add('out-data-loss', f"train --out OUT: OUT/model holds {fname}{' and a model' if with_model else ''}", argv=T(), setup=setup,
                contains='did not write', before_training=True)
    def data_in(rel):
        def setup(ws):
            model_setup('G', where='out/model')(ws)
            p = ws['d']/rel; p.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(ws['in']/'ratings.csv', p)
        return setup
    add('out-data-loss', "train --data OUT/model/ratings.csv --out OUT", argv=T('{d}/out/model/ratings.csv'), setup=data_in('out/model/ratings.csv'), before_training=True)
    add('out-data-loss', "train --data OUT/model/ratings.csv --out OUT (no model yet)", argv=T('{d}/out/model/ratings.csv'),
        setup=lambda ws: (ws['d']/'out'/'model').mkdir(parents=True) or shutil.copy2(ws['in']/'ratings.csv', ws['d']/'out'/'model'/'ratings.csv'), before_training=True)
    add('out-data-loss', "train --data OUT/metrics.json (a ratings CSV so named) --out OUT", argv=T('{d}/out/metrics.json'), setup=data_in('out/metrics.json'), before_training=True)
    add('out-data-loss', "train --data OUT/model/../model/ratings.csv (a roundabout path) --out OUT", argv=T('{d}/out/model/../model/ratings.csv'),
        setup=data_in('out/model/ratings.csv'), before_training=True)
    def data_link(ws):
        model_setup('G', where='out/model')(ws); shutil.copy2(ws['in']/'ratings.csv', ws['d']/'out'/'model'/'ratings.csv')
        os.symlink(ws['d']/'out'/'model'/'ratings.csv', ws['d']/'r.csv')
    add('out-data-loss', "train --data LINK (a symlink to OUT/model/ratings.csv) --out OUT", argv=T('{d}/r.csv'), setup=data_link, before_training=True)
    def out_link(ws):
        model_setup('G', where='real/model')(ws); (ws['d']/'real'/'model'/'notes.txt').write_text('mine'); os.symlink(ws['d']/'real', ws['d']/'out')
    add('out-data-loss', "train --out LINK (a symlink to a folder whose model/ holds a foreign file)", argv=T(), setup=out_link, before_training=True)
    add('out-data-loss', "train --data OUT/ratings.csv (beside model/, not in it) --out OUT", argv=T('{d}/out/ratings.csv'), setup=data_in('out/ratings.csv'),
        expect='ok', writes=True, check=check_trained())
    def out_foreign_beside(ws):
        model_setup('G', where='out/model')(ws); (ws['d']/'out'/'notes.txt').write_text('mine'); (ws['d']/'out'/'plots').mkdir()
    add('out-data-loss', "train --out OUT holding the user's files beside model/", argv=T(), setup=out_foreign_beside, expect='ok', writes=True, check=check_trained())
    add('out-data-loss', "train --out OUT over a good model (replaced, no leftovers)", argv=T('{in}/ratings.csv', '--seed', '5'), setup=model_setup('G', where='out/model'),
        expect='ok', writes=True, check=check_trained())
    add('out-data-loss', "train --out OUT into an empty model/ folder", argv=T(), setup=lambda ws: (ws['d']/'out'/'model').mkdir(parents=True),
        expect='ok', writes=True, check=check_trained())
    def save_api(target, setup_fn):
        def fn(ws):
            from collab_recs.save import save_model, load_model
            save_model(load_model(ws['base']/'G'), ws['d']/target)
        return fn
    add('out-data-loss', "save_model into a folder holding a foreign file", fn=save_api('m', None),
        setup=lambda ws: (ws['d']/'m').mkdir() or (ws['d']/'m'/'notes.txt').write_text('mine'), errors=('FileExistsError',))
    add('out-data-loss', "save_model onto a path that is a file", fn=save_api('m', None), setup=lambda ws: (ws['d']/'m').write_text('mine'), errors=('FileExistsError',))
    add('out-data-loss', "save_model over a good model (Python API)", fn=save_api('model', None), setup=G(), expect='ok', writes=True,
        check=lambda ws, o: model_problem(ws['model']))
    add('out-data-loss', "recommend --out onto an input file without --overwrite", argv=['recommend', '--model', '{model}', '--all', '-n', '2', '--out', '{d}/keep.csv'],
        setup=lambda ws: G()(ws) or shutil.copy2(ws['in']/'ratings.csv', ws['d']/'keep.csv'), contains='overwrite')

    # ---- (2) interrupted saves, deterministic
    steps = ('locked', 'weights written', 'weights in place', 'rated written', 'rated in place', 'config written', 'config in place', 'old file removed')
    def crashed(step, first):
        def setup(ws):
            if not first: model_setup('G', where='out/model')(ws)
            r = run_child(lambda: _crash_train(ws, step), ws['logs'], f"{ws['tag']}-crash", ws['d'], timeout=ws['timeout'])
            if r.get('rc') != 0: raise RuntimeError(f"the simulated crash at {step!r} did not happen: {r.get('msg') or tail(r['stderr'], 300)}")
        return setup
    def follow_load(ws):
        import torch
        from collab_recs.save import load_model
        m = load_model(ws['out']/'model')
        assert all(torch.isfinite(t).all() for t in m.state_dict().values())
    for first in (False, True):
        for step in steps:
            if first and step == 'old file removed': continue
            what = f"crash at '{step}' of the {'first save' if first else 'save over a model'}"
            add('interrupted-save', f"{what}, then load_model", fn=follow_load, setup=crashed(step, first), writes=True, may_change=r'(^|/)\.model\.',
                expect='either' if first else 'ok', errors=('ModelFileError',))
            if not first:
                add('interrupted-save', f"{what}, then recommend", argv=['recommend', '--model', '{out}/model', '--user', '3', '--json'], setup=crashed(step, first),
                    writes=True, expect='ok', check=check_json('score'))
            add('interrupted-save', f"{what}, then train again", argv=T('{in}/ratings.csv', '--seed', '9'), setup=crashed(step, first), writes=True,
                expect='ok', check=check_trained())
    def old_scheme(kind, with_model):
        def setup(ws):
            if with_model: model_setup('G', where='out/model')(ws)
            model_setup('G2', where=f'out/.model.{kind}-4242')(ws)
        return setup
    add('interrupted-save', "old-scheme save killed between its renames (.model.old-PID, no model/): load_model", fn=lambda ws: follow_load(ws),
        setup=old_scheme('old', False), may_change=r'^out/', errors=('ModelFileError',), expect='ok')
    add('interrupted-save', "old-scheme save killed between its renames: recommend", argv=['recommend', '--model', '{out}/model', '--user', '3', '--json'],
        setup=old_scheme('old', False), may_change=r'^out/', expect='ok', check=check_json('score'))
    add('interrupted-save', "old-scheme save killed between its renames: train", argv=T(), setup=old_scheme('old', False), may_change=r'^out/', writes=True,
        expect='ok', check=check_trained())
    add('interrupted-save', "old-scheme .model.tmp-PID folder beside a model: train removes it", argv=T(), setup=old_scheme('tmp', True),
        may_change=r'^out/\.model\.tmp', writes=True, expect='ok', check=check_trained())
    def foreign_tmp(ws):
        model_setup('G', where='out/model')(ws); (ws['d']/'out'/'.model.tmp-mine').mkdir(); (ws['d']/'out'/'.model.tmp-mine'/'notes.txt').write_text('mine')
    add('interrupted-save', "a user's folder named .model.tmp-mine beside the model: train leaves it", argv=T(), setup=foreign_tmp, writes=True, expect='ok',
        check=lambda ws, o: None if (ws['out']/'.model.tmp-mine'/'notes.txt').exists() else "the user's .model.tmp-mine/notes.txt is gone")
    def stray(ws):
        model_setup('G', where='out/model')(ws)
        p = ws['d']/'out'/'model'
        (p/'.weights.safetensors.tmp-99999').write_bytes(b'half'); (p/'.model.json.tmp-99999').write_text('{')
        shutil.copy2(ws['base']/'G2'/'weights.pt', p/'weights-0123456789abcdef.safetensors')
    add('interrupted-save', "temporary files and an unused tensor file of a killed save: load_model", fn=follow_load, setup=stray, writes=True, expect='ok',
        errors=('ModelFileError',))
    add('interrupted-save', "temporary files and an unused tensor file of a killed save: train", argv=T(), setup=stray, writes=True, expect='ok', check=check_trained())

    # ---- (3) onboarding answers
    ob = ['onboard', '--model', '{model}', '--rounds', '2', '--per-round', '3', '-n', '3']
    answers = [("99, -1, abc, then 4", '99\n-1\nabc\n4\n', 1, r'out of range'), ("50 invalid answers, then 4", 'abc\n' * 50 + '4\n', 1, None),
               ("4, 5, 3", '4\n5\n3\n', 3, None), ("six ratings (every question)", '4\n' * 6, 6, None), ("nothing (EOF at once)", '', 0, None),
               ("q", 'q\n', 0, None), ("Enter three times", '\n\n\n', 0, None), ("nan, inf, -inf, 1e400, then 3", 'nan\ninf\n-inf\n1e400\n3\n', 1, None),
               ("y, y (seen, no rating: not ratings)", 'y\ny\n', 0, None), ("'  4  ' with spaces", '  4  \n', 1, None), ("a NUL byte, then 4", '\x00\n4\n', 1, None),
               ("non-ASCII text, then 4", 'é★\n4\n', 1, None), ("4 without a newline", '4', 1, None), ("a 100,000-character line, then 4", 'x' * 100000 + '\n4\n', 1, None),
               ("5.5 (out of range), then EOF", '5.5\n', 0, None), ("the bounds 1 and 5", '1\n5\n', 2, None), ("4 with CRLF", '4\r\n', 1, None),
               ("-0 then 4", '-0\n4\n', 1, None), ("invalid bytes (not UTF-8), then 4", '\udcff\udcfe\n4\n', 1, None), ("q after two ratings", '4\n2\nq\n4\n', 2, None)]
    for name, text, n, must in answers:
        pat = r'From your %d rating' % n if n else r'No ratings given'
        add('onboard-answers', f"onboard answers: {name}", argv=ob, stdin=text, setup=G(), expect='ok',
            check=check_text(f'{must}[\\s\\S]*{pat}' if must else pat))
    add('onboard-answers', "onboard --rounds 1000000000 --per-round 1000000000, EOF at once", argv=['onboard', '--model', '{model}', '--rounds', '1000000000',
        '--per-round', '1000000000'], stdin='', setup=G(), expect='ok', check=check_text(r'No ratings given'))
    add('onboard-answers', "onboard on a format-1 model (no checksums)", argv=ob, stdin='4\n', setup=G(base='G1'), expect='ok', check=check_text(r'From your 1 rating'))
    if not quick:
        add('onboard-answers', "printf '99\\n-1\\nabc\\n4\\n' | python -m collab_recs.cli onboard (a real process)", argv=ob, stdin='99\n-1\nabc\n4\n', setup=G(),
            expect='ok', real=True, check=check_text(r'From your 1 rating'))

    # ---- (4) empty splits
    for name, argv, expect in [("2 ratings", T('{in}/tiny2.csv'), 'refused'), ("1 rating", T('{in}/tiny1.csv'), 'refused'),
                               ("--valid-pct 1e-9", T('{in}/ratings.csv', '--valid-pct', '1e-9'), 'refused'),
                               ("--valid-pct 0.999 on 100 ratings (no training rating)", T('{in}/small100.csv', '--valid-pct', '0.999'), 'refused'),
                               ("--valid-pct 0.999 on 800 ratings (1 training rating)", T('{in}/ratings.csv', '--valid-pct', '0.999'), 'either'),
                               ("--valid-pct 0.999 --split user", T('{in}/ratings.csv', '--valid-pct', '0.999', '--split', 'user'), 'either'),
                               ("--valid-pct 0.999 --split user on 100 ratings (each user keeps one)", T('{in}/small100.csv', '--valid-pct', '0.999', '--split', 'user'), 'either'),
                               ("--valid-pct 1e-9 --split user", T('{in}/ratings.csv', '--valid-pct', '1e-9', '--split', 'user'), 'refused'),
                               ("--valid-pct 0 (train on every rating, deliberately)", T('{in}/ratings.csv', '--valid-pct', '0'), 'ok'),
                               ("--valid-pct 0 on 1 rating", T('{in}/tiny1.csv', '--valid-pct', '0'), 'either'),
                               ("--valid-pct 0.5 on 2 ratings", T('{in}/tiny2.csv', '--valid-pct', '0.5'), 'either'),
                               ("--split time without timestamps", T('{in}/ratings.csv', '--split', 'time'), 'refused'),
                               ("--split user_time without timestamps", T('{in}/ratings.csv', '--split', 'user_time'), 'refused'),
                               ("--recipe ranking --valid-pct 0.999", T('{in}/ratings.csv', '--recipe', 'ranking', '--factors', '4', '--valid-pct', '0.999'), 'either'),
                               ("--recipe ranking --valid-pct 0.999 on 100 ratings (split by user)", T('{in}/small100.csv', '--recipe', 'ranking', '--factors', '4', '--valid-pct', '0.999'), 'either'),
                               ("--recipe ranking on 2 ratings", T('{in}/tiny2.csv', '--recipe', 'ranking', '--factors', '4'), 'refused'),
                               ("--valid-pct 1", T('{in}/ratings.csv', '--valid-pct', '1'), 'refused'),
                               ("--valid-pct -0.1", T('{in}/ratings.csv', '--valid-pct', '-0.1'), 'refused'),
                               ("--valid-pct nan", T('{in}/ratings.csv', '--valid-pct', 'nan'), 'refused'),
                               ("evaluate --data on 2 ratings", eval_argv('{in}/tiny2.csv'), 'refused'),
                               ("evaluate --data --valid-pct 1e-9", eval_argv('{in}/ratings.csv', '--valid-pct', '1e-9'), 'refused'),
                               ("evaluate --data --valid-pct 0 (nothing to evaluate on)", eval_argv('{in}/ratings.csv', '--valid-pct', '0'), 'refused')]:
        add('empty-splits', name, argv=argv, expect=expect, writes=argv[0] == 'train', check=check_trained() if argv[0] == 'train' else check_json('rmse', last_only=True))

    # ---- (5) ids as text
    def vocab_has(key, ids, col='user_vocab', exact_int=False):
        "check: the trained model's vocabulary holds `ids` as text (or, with `exact_int`, as the same integers)"
        def check(ws, stdout):
            prob = model_problem(ws['out']/'model')
            if prob: return prob
            v = cfg_of(ws['out']/'model')[col]
            missing = [i for i in ids if i not in v and not (exact_int and int(i) in v)]
            return f"{col} lacks {missing} (has {v[:12]}...)" if missing else None
        return check
    add('id-text', "users '007' and '7' stay two users", argv=T('{in}/users_007.csv'), expect='ok', writes=True, check=vocab_has('out', ['007', '7']))
    add('id-text', "items '007' and '7' stay two items", argv=T('{in}/items_007.csv'), expect='ok', writes=True, check=vocab_has('out', ['007', '7'], 'item_vocab'))
    add('id-text', "users '7', '007', '+7', ' 7', '-0', '0', '7.0', '0x7', Arabic-Indic 7 stay distinct", argv=T('{in}/users_variants.csv'), expect='ok', writes=True,
        check=vocab_has('out', ['7', '007', '+7', ' 7', '-0', '0', '7.0', '0x7', '٧']))
    add('id-text', "user ids beyond int64 (10**25 + n) kept as text", argv=T('{in}/users_huge.csv'), expect='ok', writes=True, check=vocab_has('out', [str(10**25 + 3)], exact_int=True))
    add('id-text', "user ids near 2**63 - 1", argv=T('{in}/users_int64max.csv'), expect='ok', writes=True, check=vocab_has('out', [str(2**63 - 1)], exact_int=True))
    add('id-text', "user ids 'NA', 'null', 'None', 'nan' (pandas' missing-value words)", argv=T('{in}/users_na.csv'), expect='either', writes=True,
        check=vocab_has('out', ['NA', 'null', 'None', 'nan']))
    def recs_for(user):
        def check(ws, stdout):
            lines = [l for l in stdout.splitlines() if l.startswith('[')]
            users = {str(r['user']) for r in json.loads(lines[-1])} if lines else set()
            return None if users == {user} else f"asked for user {user!r}, got records of {users}"
        return check
    for u in ('007', '7', '+7', ' 7', '-0', '0', '7.0', '٧'):
        add('id-text', f"recommend --user {u!r} on a model knowing '7', '007', '+7', ...", argv=['recommend', '--model', '{model}', '--user', u, '-n', '2', '--json'],
            setup=G(base='V'), expect='ok', check=recs_for(u))
    for u in ('07', '0007', '+07', '7 '):
        add('id-text', f"recommend --user {u!r} (not a known id) on that model", argv=['recommend', '--model', '{model}', '--user', u, '--json'], setup=G(base='V'),
            contains='unknown user')
    def api_ids(ws):
        import pandas as pd
        from collab_recs.data import load_ratings
        df = pd.DataFrame({'user': ['007', '7', '7', '007'], 'item': ['1', '1', '2', '2'], 'rating': [1., 2., 3., 4.]})
        ds = load_ratings(df)
        assert ds.n_users == 2, f"load_ratings made {ds.n_users} users of '007' and '7'"
    add('id-text', "load_ratings(DataFrame) with '007' and '7'", fn=api_ids, expect='ok')
    def api_file_ids(id_type, n):
        def fn(ws):
            from collab_recs.data import load_ratings
            ds = load_ratings(ws['in']/'users_007.csv', id_type=id_type)
            assert ds.n_users == n, f"load_ratings(id_type={id_type!r}) made {ds.n_users} users"
        return fn
    add('id-text', "load_ratings(CSV, id_type='str') keeps '007' and '7'", fn=api_file_ids('str', 60), expect='ok')
    add('id-text', "load_ratings(CSV, id_type='auto') keeps '007' and '7'", fn=api_file_ids('auto', 60), expect='ok')

    # ---- (6) CSV encodings
    for f, expect in [('bom.csv', 'ok'), ('bom.tsv', 'ok'), ('bom_quoted.csv', 'ok'), ('crlf.csv', 'ok'), ('ratings.csv.gz', 'either'), ('utf16.csv', 'either'),
                      ('semicolon.csv', 'either'), ('sep_line.csv', 'either'), ('nul.csv', 'either'), ('ragged.csv', 'either'), ('empty.csv', 'refused'),
                      ('header_only.csv', 'refused'), ('binary.csv', 'refused'), ('parquet_named.csv', 'refused'), ('csv_named.parquet', 'refused')]:
        add('csv-encoding', f"train --data {f}", argv=T('{in}/' + f), expect=expect, writes=True, check=check_trained())
    add('csv-encoding', "train --data latin1.csv --title-col title (Latin-1 titles)", argv=T('{in}/latin1.csv', '--title-col', 'title'), expect='either', writes=True,
        check=check_trained())
    add('csv-encoding', "train --data titles_multiline.csv --title-col title (quoted newlines, commas, quotes)", argv=T('{in}/titles_multiline.csv', '--title-col', 'title'),
        expect='ok', writes=True, check=check_trained())
    add('csv-encoding', "evaluate --data bom.csv", argv=eval_argv('{in}/bom.csv'), expect='ok', check=check_json('rmse', last_only=True))
    def api_bom(ws):
        from collab_recs.data import load_ratings
        ds = load_ratings(ws['in']/'bom.csv')
        assert len(ds.ratings) == 800 and ds.n_users == 60, ds
    add('csv-encoding', "load_ratings('bom.csv')", fn=api_bom, expect='ok')

    # ---- (7) rating kinds
    refused_kinds = ['datetime', 'datetime_tz', 'date', 'duration', 'bool', 'nullable_bool', 'text_words', 'all_nan', 'one_inf', 'beyond_float32', 'lists', 'structs']
    either_kinds = ['text_numbers', 'categorical', 'decimal', 'uint64_huge', 'bytes']
    for k in refused_kinds + either_kinds + ['int8']:
        add('rating-kinds', f"Parquet ratings of kind {k}", argv=T('{in}/' + f'rating_{k}.parquet'), expect='refused' if k in refused_kinds else 'ok' if k == 'int8' else 'either',
            writes=True, check=check_trained(), before_training=k in refused_kinds)
    for k in ('truefalse', 'dates', '1e400', 'nan', 'hex', 'decimal_comma'):
        add('rating-kinds', f"CSV ratings of kind {k}", argv=T('{in}/' + f'rating_{k}.csv'), writes=True, before_training=True)
    def api_kind(kind):
        def fn(ws):
            import pandas as pd, numpy as np
            from collab_recs.data import load_ratings
            vals = {'bool': [True, False, True], 'timedelta': pd.to_timedelta([1, 2, 3], unit='s'), 'datetime': pd.to_datetime([1, 2, 3]),
                    'complex': [1 + 1j, 2, 3], 'object_mixed': [1, 'x', 3.0], 'period': pd.period_range('2020', periods=3, freq='D'),
                    'bool_object': np.array([True, 2, 3], dtype=object), 'interval': pd.interval_range(0, 3)}[kind]
            load_ratings(pd.DataFrame({'user': [1, 2, 3], 'item': [1, 1, 2], 'rating': vals}))
        return fn
    for k in ('bool', 'timedelta', 'datetime', 'complex', 'object_mixed', 'period', 'bool_object', 'interval'):
        add('rating-kinds', f"load_ratings with {k} ratings (Python API)", fn=api_kind(k), errors=('RatingsError',))

    # ---- (8) id types through the Python API
    import decimal, datetime
    kinds = {'bytes': lambda i: str(i).encode(), 'dict': lambda i: {'id': i}, 'list': lambda i: [i], 'tuple': lambda i: (i,), 'frozenset': lambda i: frozenset([i]),
             'float': lambda i: i + 0.5, 'integral float': lambda i: float(i), 'bool': lambda i: i % 2 == 0, 'None among ints': lambda i: None if i == 0 else i,
             'NaN among floats': lambda i: float('nan') if i == 0 else float(i), 'str and int mixed': lambda i: str(i) if i % 2 else i,
             'datetime': lambda i: datetime.datetime(2020, 1, 1) + datetime.timedelta(days=i), 'Decimal': lambda i: decimal.Decimal(i),
             'complex': lambda i: complex(i, 1), 'object()': lambda i: object(), 'nested DataFrame': None, 'pd.NA among ints': None,
             'numpy int64': lambda i: np.int64(i), 'numpy uint64': lambda i: np.uint64(i), 'text with emoji and newline': lambda i: f'u{i} 🎬\n"x"',
             'int beyond int64 (2**70 + i)': lambda i: 2**70 + i, 'categorical of text': None, 'categorical of bytes': None, 'nullable Int64': None}
    ok_kinds = {'numpy int64', 'numpy uint64', 'text with emoji and newline', 'categorical of text', 'nullable Int64'}
    for kind, make in kinds.items():
        for col in ('user', 'item'):
            def fn(ws, kind=kind, make=make, col=col):
                import pandas as pd
                from collab_recs.data import load_ratings
                from collab_recs.recipes import recipe_dataloaders, fit_recipe, recipe_options
                from collab_recs.save import save_model, load_model
                df = pd.read_csv(ws['in']/'ratings.csv').head(300)
                ids = df[col].tolist()
                if kind == 'nested DataFrame': vals = [pd.DataFrame({'a': [i]}) for i in ids]
                elif kind == 'pd.NA among ints': vals = pd.array([pd.NA if i == ids[0] else i for i in ids], dtype=object)
                elif kind == 'categorical of text': vals = pd.Categorical([f'c{i}' for i in ids])
                elif kind == 'categorical of bytes': vals = pd.Categorical([str(i).encode() for i in ids])
                elif kind == 'nullable Int64': vals = pd.array(ids, dtype='Int64')
                else: vals = pd.Series([make(i) for i in ids], dtype=object)
                df[col] = vals
                ds = load_ratings(df)
                opts = recipe_options('fast', n_factors=4, epochs=1)
                learn = fit_recipe(recipe_dataloaders(ds, opts, valid_pct=0.2, seed=0), opts, seed=0)
                save_model(learn, ws['d']/'m')
                m = load_model(ws['d']/'m')
                assert len(m.user_vocab if col == 'user' else m.item_vocab) > 1
            add('id-types', f"{col} ids of type {kind}: load_ratings, train, save, load", fn=fn, expect='ok' if kind in ok_kinds else 'either' if kind.startswith('int beyond') else 'refused',
                errors=('RatingsError',), writes=True)
    add('id-types', "Parquet user ids of bytes (binary column) via the CLI", argv=T('{in}/ids_binary.parquet'), expect='either', writes=True, check=check_trained(),
        before_training=True)
    add('id-types', "Parquet user ids of floats via the CLI", argv=T('{in}/ids_float.parquet'), writes=True, before_training=True)
    add('id-types', "Parquet user ids of datetimes via the CLI", argv=T('{in}/ids_datetime.parquet'), writes=True, before_training=True)

    # ---- (9) a column named twice
    for name, extra in [("--rating-col user", ['--rating-col', 'user']), ("--title-col rating", ['--title-col', 'rating']), ("--title-col user", ['--title-col', 'user']),
                        ("--item-col user", ['--item-col', 'user']), ("--user-col rating", ['--user-col', 'rating']), ("--user-col item", ['--user-col', 'item']),
                        ("--title-col item", ['--title-col', 'item']), ("--rating-col item --recipe ranking", ['--rating-col', 'item', '--recipe', 'ranking'])]:
        add('column-twice', f"train {name}", argv=T('{in}/titled.csv', *extra), contains='column', before_training=True)
    add('column-twice', "train --user-col item --item-col user (swapped: fine)", argv=T('{in}/ratings.csv', '--user-col', 'item', '--item-col', 'user'), expect='ok',
        writes=True, check=check_trained())
    add('column-twice', "evaluate --data --rating-col user", argv=eval_argv('{in}/ratings.csv', '--rating-col', 'user'), contains='column')
    add('column-twice', "train on a CSV with two 'rating' headers", argv=T('{in}/dupcols.csv'), expect='either', writes=True, check=check_trained())
    add('column-twice', "train --user-col nosuch (a missing column)", argv=T('{in}/ratings.csv', '--user-col', 'nosuch'), contains='nosuch')
    def api_cols(kind):
        def fn(ws):
            import pandas as pd
            from collab_recs.data import load_ratings, load_interactions, validate_ratings
            df = pd.read_csv(ws['in']/'ratings.csv').head(50)
            if kind == 'duplicate rating columns': load_ratings(pd.concat([df, df[['rating']]], axis=1))
            elif kind == 'duplicate user columns': load_ratings(pd.concat([df, df[['user']]], axis=1))
            elif kind == 'time_col=rating': load_ratings(df, time_col='rating')
            elif kind == 'title_col=item': load_ratings(df, title_col='item')
            elif kind == 'weight_col=user': load_interactions(df, weight_col='user')
            elif kind == 'validate rating=user': validate_ratings(df, rating='user')
        return fn
    for k in ('duplicate rating columns', 'duplicate user columns', 'time_col=rating', 'title_col=item', 'weight_col=user', 'validate rating=user'):
        add('column-twice', f"Python API: {k}", fn=api_cols(k), errors=('RatingsError',))

    # ---- (10) impossible sizes
    for name, argv in [("--factors 1000000000000", T('{in}/ratings.csv', '--factors', '1000000000000')),
                       ("--factors 10**30", T('{in}/ratings.csv', '--factors', str(10**30))),
                       ("--factors 1000000000", T('{in}/ratings.csv', '--factors', '1000000000')),
                       ("--factors 1000000000000 --recipe ranking", T('{in}/ratings.csv', '--recipe', 'ranking', '--factors', '1000000000000')),
                       ("--factors 1000000000000 --recipe standard", T('{in}/ratings.csv', '--recipe', 'standard', '--factors', '1000000000000')),
                       ("evaluate --data --factors 1000000000000", eval_argv('{in}/ratings.csv', '--factors', '1000000000000')),
                       ("--data synthetic --synthetic-ratings 10**12", T('synthetic', '--synthetic-ratings', str(10**12))),
                       ("--data synthetic --synthetic-ratings 10**15", T('synthetic', '--synthetic-ratings', str(10**15))),
                       ("--factors 0", T('{in}/ratings.csv', '--factors', '0')), ("--factors -5", T('{in}/ratings.csv', '--factors', '-5')),
                       ("--factors 1e3 (not a whole number)", T('{in}/ratings.csv', '--factors', '1e3')), ("--bs 0", T('{in}/ratings.csv', '--bs', '0'))]:
        add('impossible-sizes', f"train {name}" if argv[0] == 'train' else name, argv=argv, timeout=120)  # refused before allocating (the data may load first)
    add('impossible-sizes', "train --bs 10**12 (bigger than the data)", argv=T('{in}/ratings.csv', '--bs', str(10**12)), expect='either', writes=True, check=check_trained())
    for name, argv, chk in [("recommend -n 10**18", ['recommend', '--model', '{model}', '--user', '3', '-n', str(10**18), '--json'], check_json('score')),
                            ("recommend --all -n 10**18 --out", ['recommend', '--model', '{model}', '--all', '-n', str(10**18), '--out', '{d}/all.csv'], None),
                            ("similar -n 10**18", ['similar', '--model', '{model}', '--item', '3', '-n', str(10**18), '--json'], check_json('similarity')),
                            ("similar --min-ratings 10**18", ['similar', '--model', '{model}', '--item', '3', '--min-ratings', str(10**18), '--json'], check_json('similarity', allow_empty=True)),
                            ("evaluate --model --k 10**18", ['evaluate', '--model', '{model}', '--k', str(10**18), '--json'], check_json('rmse', last_only=True))]:
        add('impossible-sizes', name, argv=argv, setup=G(), expect='either' if name.startswith('evaluate') else 'ok', check=chk, writes=True)  # evaluate refuses k beyond the catalogue, by design
    def api_size(kind):
        def fn(ws):
            from collab_recs.model import DotProductBias, check_model_size
            from collab_recs.save import save_model
            if kind == 'DotProductBias(10**9, 10**9, 1000)': DotProductBias(10**9, 10**9, 1000)
            elif kind == 'DotProductBias(10, 10, 10**15)': DotProductBias(10, 10, 10**15)
            elif kind == 'check_model_size(10**6, 10**6, 10**6, copies=4)': check_model_size(10**6, 10**6, 10**6, copies=4)
            elif kind == 'fit_recipe with n_factors=10**12':
                from collab_recs.recipes import recipe_dataloaders, fit_recipe, recipe_options
                from collab_recs.data import load_ratings
                opts = recipe_options('fast', n_factors=10**12, epochs=1)
                fit_recipe(recipe_dataloaders(load_ratings(ws['in']/'ratings.csv'), opts, valid_pct=0.2, seed=0), opts)
        return fn
    for k in ('DotProductBias(10**9, 10**9, 1000)', 'DotProductBias(10, 10, 10**15)', 'check_model_size(10**6, 10**6, 10**6, copies=4)', 'fit_recipe with n_factors=10**12'):
        add('impossible-sizes', f"Python API: {k}", fn=api_size(k), errors=('ModelTooLargeError',))

    # ---- (11) diverged / non-finite
    for rr in ('1,inf', 'nan,5', '-inf,5', '5,1', '1,1', '1e400,2', '1;5', '1,5,7', 'a,b'):
        add('diverged', f"train --rating-range {rr}", argv=T('{in}/ratings.csv', '--rating-range', rr), contains='MIN|MAX|range|finite')
    add('diverged', "train --lr 1e10 --recipe standard", argv=T('{in}/ratings.csv', '--lr', '1e10', '--recipe', 'standard', '--factors', '4', '--epochs', '1'),
        contains='diverged')
    add('diverged', "train --lr 1e10 --recipe standard over a good model (kept as it was)", argv=T('{in}/ratings.csv', '--lr', '1e10', '--recipe', 'standard'),
        setup=model_setup('G', where='out/model'), contains='diverged')
    if not quick:
        add('diverged', "train --lr 1e10 --recipe standard [a real process]", argv=T('{in}/ratings.csv', '--lr', '1e10', '--recipe', 'standard'), contains='diverged', real=True)
        add('impossible-sizes', "train --data synthetic --synthetic-ratings 10**12 [a real process, no memory limit]", argv=T('synthetic', '--synthetic-ratings', str(10**12)), real=True)
        add('impossible-sizes', "evaluate --model --k 10**18 [a real process, no memory limit]", argv=['evaluate', '--model', '{model}', '--k', str(10**18), '--json'], setup=G(), real=True,
            expect='either', check=check_json('rmse', last_only=True))
    add('diverged', "evaluate --data --lr 1e10 --recipe standard", argv=eval_argv('{in}/ratings.csv', '--lr', '1e10', '--recipe', 'standard'), contains='diverged')
    for name, extra in [("--lr 1e10 (fast)", ['--lr', '1e10']), ("--lr 1e30 (fast)", ['--lr', '1e30']), ("--wd 1e30", ['--wd', '1e30']),
                        ("--lr 1e10 --recipe ranking", ['--recipe', 'ranking', '--factors', '4', '--lr', '1e10']), ("--lr 1e10 --centre", ['--lr', '1e10', '--centre']),
                        ("--lr 1e10 --recipe sparse", ['--recipe', 'sparse', '--factors', '4', '--lr', '1e10'])]:
        add('diverged', f"train {name}", argv=T('{in}/ratings.csv', *extra), expect='either', writes=True, check=check_trained())
    for name, extra in [("--lr inf", ['--lr', 'inf']), ("--lr nan", ['--lr', 'nan']), ("--lr 0", ['--lr', '0']), ("--wd -1", ['--wd', '-1']), ("--wd nan", ['--wd', 'nan'])]:
        add('diverged', f"train {name}", argv=T('{in}/ratings.csv', *extra), before_training=True)
    add('diverged', "train on ratings of order 1e30", argv=T('{in}/huge_ratings.csv'), expect='either', writes=True, check=check_trained())
    add('diverged', "train on ratings that are all equal", argv=T('{in}/equal.csv'), expect='either', writes=True, check=check_trained())
    add('diverged', "train on ratings that are all equal, --rating-range 1,5", argv=T('{in}/equal.csv', '--rating-range', '1,5'), expect='ok', writes=True, check=check_trained())
    add('diverged', "train --rating-range 1,5 with ratings outside it", argv=T('{in}/huge_ratings.csv', '--rating-range', '1,5'), contains='range')
    def api_yrange(y):
        def fn(ws):
            from collab_recs.model import DotProductBias
            DotProductBias(10, 10, 4, y_range=y)
        return fn
    for y in ((0, float('inf')), (float('nan'), 5), (5, 1), (1,)):
        add('diverged', f"DotProductBias(y_range={y})", fn=api_yrange(y), errors=('ValueError',))

    # ---- (12) malformed model.json, and (13) content with valid checksums
    big = 100000
    mj = [  # (name, mutation, expect)
        ("files.weights.sha256 null", jset('files', 'weights', 'sha256', value=None)),
        ("files.rated.sha256 null", jset('files', 'rated', 'sha256', value=None)),
        ("files.weights.sha256 uppercase", lambda p, ws: jset('files', 'weights', 'sha256', value=cfg_of(p)['files']['weights']['sha256'].upper())(p, ws)),
        ("files.weights.sha256 of another file", lambda p, ws: jset('files', 'weights', 'sha256', value=cfg_of(p)['files']['rated']['sha256'])(p, ws)),
        ("files.weights.name ../../in/ratings.csv", jset('files', 'weights', 'name', value='../../in/ratings.csv')),
        ("files.weights.name /etc/passwd", jset('files', 'weights', 'name', value='/etc/passwd')),
        ("files.weights.name model.json", jset('files', 'weights', 'name', value='model.json')),
        ("files.weights.size -1", jset('files', 'weights', 'size', value=-1)),
        ("files.weights.size 1e400", jset('files', 'weights', 'size', value=Raw('1e400'))),
        ("files.weights.size '2360' (text)", lambda p, ws: jset('files', 'weights', 'size', value=str(cfg_of(p)['files']['weights']['size']))(p, ws)),
        ("files.weights.size 10**30", jset('files', 'weights', 'size', value=10**30)),
        ("files.weights null", jset('files', 'weights', value=None)),
        ("files null", jset('files', value=None)), ("files []", jset('files', value=[])), ("files {}", jset('files', value={})),
        ("files missing", jset('files', delete=True)), ("files with an extra entry", jset('files', 'evil', value={'name': 'x', 'sha256': '0' * 64, 'size': 1})),
        ("files.rated missing, its file removed (a model without its pairs)", lambda p, ws: ((p/tensor_name(p, 'rated')).unlink(), jset('files', 'rated', delete=True)(p, ws)), 'ok'),
        ("format null", jset('format', value=None)), ("format 'collab_recs/DotProductBias/99'", jset('format', value='collab_recs/DotProductBias/99')),
        ("format 3 (a number)", jset('format', value=3)), ("format missing", jset('format', delete=True)),
        ("format 2 with format-3 files (sha256 missing)", jset('format', value='collab_recs/DotProductBias/2')),
        ("format 1 with format-3 files", jset('format', value='collab_recs/DotProductBias/1')),
        ("whole file: deep nesting [[[...]]] 100,000 levels", jtext('[' * big + ']' * big)),
        ("whole file: deep nesting {\"a\":{...}} 100,000 levels", jtext('{"a":' * big + '1' + '}' * big)),
        ("meta nested 100,000 levels", lambda p, ws: (p/'model.json').write_text((p/'model.json').read_text().replace('"meta": {', '"meta": {"deep": ' + '[' * big + ']' * big + ', ', 1))),
        ("a user_vocab entry nested 100,000 levels", lambda p, ws: (p/'model.json').write_text((p/'model.json').read_text().replace('"user_vocab": ["#na#", 0', '"user_vocab": ["#na#", ' + '[' * big + ']' * big, 1))),
        ("meta nested 60 levels (allowed)", lambda p, ws: jset('meta', 'deep', value=json.loads('[' * 60 + ']' * 60))(p, ws), 'ok'),
        ("whole file: empty", jtext('')), ("whole file: null", jtext('null')), ("whole file: []", jtext('[]')), ("whole file: a string", jtext('"model"')),
        ("whole file: 1e400", jtext('1e400')), ("whole file: NaN", jtext('NaN')), ("whole file: not JSON", jtext('{"format": "collab_recs/DotProductBias/3", oops')),
        ("whole file: binary", jtext(bytes(range(256)))), ("whole file: trailing garbage", lambda p, ws: jtext((p/'model.json').read_bytes() + b' }{ garbage')(p, ws)),
        ("whole file: UTF-16 (JSON allows it)", lambda p, ws: jtext((p/'model.json').read_text().encode('utf-16'))(p, ws), 'either'),
        ("whole file: with a UTF-8 byte-order mark", lambda p, ws: jtext(b'\xef\xbb\xbf' + (p/'model.json').read_bytes())(p, ws), 'either'),
        ("whole file: invalid UTF-8 in a string", lambda p, ws: jtext((p/'model.json').read_bytes().replace(b'"rating"', b'"\xff\xfe"', 1))(p, ws), 'either'),
        ("whole file: a key repeated (n_users 61 then -1)", lambda p, ws: (p/'model.json').write_text((p/'model.json').read_text().replace('"n_users": 61', '"n_users": 61, "n_users": -1', 1))),
        ("an unknown extra key", jset('extra', value={'x': 1}), 'ok'),
        ("n_users missing", jset('n_users', delete=True)), ("user_vocab missing", jset('user_vocab', delete=True)),
        ("titles null (allowed)", jset('titles', value=None), 'ok'), ("centre missing (allowed)", jset('centre', delete=True), 'ok'),
        ("meta missing (allowed)", jset('meta', delete=True), 'either'), ("objective missing (allowed: a rating model)", jset('objective', delete=True), 'ok'),
    ]
    for k in ('n_users', 'n_items', 'n_factors'):
        for label, v in (('null', None), ('-1', -1), ('0', 0), ('1e400', Raw('1e400')), ('10**12', 10**12), ('10**400', Raw('1' + '0' * 400)), ("'61' (text)", '61'),
                         ('61.0', 61.0), ('61.5', 61.5), ('true', True), ('[61]', [61]), ('NaN', Raw('NaN')), ('-1e400', Raw('-1e400'))):
            mj.append((f"{k} {label}", jset(k, value=v)))
    for k in ('user_vocab', 'item_vocab'):
        for label, f in (('with a list entry', lambda v: v.__setitem__(3, [1, 2])), ('with a dict entry', lambda v: v.__setitem__(3, {'a': 1})),
                         ('with a float entry', lambda v: v.__setitem__(3, 1.5)), ('with a bool entry', lambda v: v.__setitem__(3, True)),
                         ('with a null entry', lambda v: v.__setitem__(3, None)), ('with a repeated id', lambda v: v.__setitem__(3, v[4])),
                         ('one entry short', lambda v: v.pop()), ('one entry long', lambda v: v.append(99999))):
            mj.append((f"{k} {label}", jfn(lambda c, k=k, f=f: f(c[k]))))
        for label, v in (('null', None), ('a string', 'abc'), ('empty', [])):
            mj.append((f"{k} {label}", jset(k, value=v)))
    for label, v in (('a dict', lambda: {'1': 'x'}), ('a string', 'abc'), ('numbers', lambda: [None] + list(range(40))), ('one short', lambda: [None] + ['t'] * 39),
                     ('a nested list', lambda: [None] + [['t']] * 40)):
        mj.append((f"titles {label}", jset('titles', value=v)))
    for label, v in (('a list', []), ('a string', 'abc'), ('a number', 5), ('null', None)):
        mj.append((f"meta {label}", jset('meta', value=v), 'either' if label == 'null' else 'refused'))
    mj += [(f"meta.options{label}", m, 'either') for label, m in (
           (" a list", jset('meta', 'options', value=[1, 2])), (".data a missing file", jset('meta', 'options', 'data', value='/nonexistent/r.csv')),
           (" with an unknown option", jset('meta', 'options', 'evil', value=1)), (".factors -1", jset('meta', 'options', 'factors', value=-1)),
           (".recipe unknown", jset('meta', 'options', 'recipe', value='nosuch')), (".valid_pct 5", jset('meta', 'options', 'valid_pct', value=5)),
           (".seed 'x'", jset('meta', 'options', 'seed', value='x')), (".rating_range [1]", jset('meta', 'options', 'rating_range', value=[1])),
           (".split 'nosuch'", jset('meta', 'options', 'split', value='nosuch')), (".data a folder", jset('meta', 'options', 'data', value='/')))]
    for label, v in (("'x'", 'x'), ('Infinity', Raw('Infinity')), ('NaN', Raw('NaN')), ('100 (outside y_range)', 100), ('true', True), ('[3]', [3])):
        mj.append((f"centre {label}", jset('centre', value=v)))
    for label, v in (("'x'", 'x'), ('null', None), ('5', 5), ("'ranking' (on a rating model: allowed)", 'ranking')):
        mj.append((f"objective {label}", jset('objective', value=v), 'either' if 'allowed' in label else 'refused'))
    mj.append(("model.json is a directory", lambda p, ws: ((p/'model.json').unlink(), (p/'model.json').mkdir())))
    mj.append(("the weights file is a directory", lambda p, ws: ((p/tensor_name(p, 'weights')).unlink(), (p/tensor_name(p, 'weights')).mkdir())))
    mj.append(("the rated file is a directory", lambda p, ws: ((p/tensor_name(p, 'rated')).unlink(), (p/tensor_name(p, 'rated')).mkdir())))
    mj.append(("model.json missing", lambda p, ws: (p/'model.json').unlink()))
    mj.append(("the model folder is empty", lambda p, ws: [f.unlink() for f in p.iterdir()]))
    meta_readers = ('evaluate',)  # meta.options only matters to evaluate --model
    for item in mj:
        name, mutate, expect = (*item, 'refused')[:3]
        only = meta_readers if name.startswith('meta.options') else None
        kw = dict(check=None) if name.startswith("objective 'ranking'") else {}  # a ranking model: no RMSE, other onboarding words
        against_readers('model-json', name, G(mutate), expect=expect, only=only, **kw)
        if name.startswith('files.rated missing') and CASES[-1].name.endswith('[onboard]'): CASES[-1].expect = 'either'  # onboard needs the pairs (or data): a clear refusal is fine
    add('model-json', "--model pointing at a regular file", argv=['recommend', '--model', '{in}/ratings.csv', '--user', '3'])
    add('model-json', "--model pointing at OUT (the folder train wrote): a hint", argv=['recommend', '--model', '{out}', '--user', '3'], setup=model_setup('G', where='out/model'),
        contains='--model')
    add('model-json', "--model a folder that does not exist", argv=['recommend', '--model', '{d}/nosuch', '--user', '3'])

    import torch
    mc = [
        ("NaN in user_factors", put_tensors('weights', lambda sd: {**sd, 'user_factors.weight': sd['user_factors.weight'].index_fill(0, torch.tensor([3]), float('nan'))})),
        ("inf in item_bias", put_tensors('weights', lambda sd: {**sd, 'item_bias.weight': sd['item_bias.weight'].index_fill(0, torch.tensor([2]), float('inf'))})),
        ("-inf in user_bias", put_tensors('weights', lambda sd: {**sd, 'user_bias.weight': sd['user_bias.weight'].index_fill(0, torch.tensor([0]), float('-inf'))})),
        ("every weight NaN", put_tensors('weights', lambda sd: {k: torch.full_like(v, float('nan')) for k, v in sd.items()})),
        ("weights of 1e30 (finite, but predictions saturate)", put_tensors('weights', lambda sd: {k: torch.full_like(v, 1e30) for k, v in sd.items()}), 'either'),
        ("weights as float64 (allowed)", put_tensors('weights', lambda sd: {k: v.double() for k, v in sd.items()}), 'ok'),
        ("weights as float16 (allowed)", put_tensors('weights', lambda sd: {k: v.half() for k, v in sd.items()}), 'ok'),
        ("weights as int32", put_tensors('weights', lambda sd: {k: v.int() for k, v in sd.items()})),
        ("weights as bool", put_tensors('weights', lambda sd: {k: v > 0 for k, v in sd.items()})),
        ("user_factors of the wrong shape", put_tensors('weights', lambda sd: {**sd, 'user_factors.weight': sd['user_factors.weight'][:, :2].contiguous()})),
        ("user_factors one row short", put_tensors('weights', lambda sd: {**sd, 'user_factors.weight': sd['user_factors.weight'][:-1].contiguous()})),
        ("item_bias missing", put_tensors('weights', lambda sd: {k: v for k, v in sd.items() if k != 'item_bias.weight'})),
        ("an extra tensor", put_tensors('weights', lambda sd: {**sd, 'evil': torch.zeros(3)})),
        ("no tensors at all", put_tensors('weights', lambda sd: {})),
        ("pairs beyond the vocabularies", put_tensors('rated', lambda sd: {**sd, 'pairs': sd['pairs'] + 1000})),
        ("negative pairs", put_tensors('rated', lambda sd: {**sd, 'pairs': sd['pairs'] - 1000})),
        ("pairs as float", put_tensors('rated', lambda sd: {**sd, 'pairs': sd['pairs'].float()})),
        ("pairs of shape (n,)", put_tensors('rated', lambda sd: {**sd, 'pairs': sd['pairs'][:, 0].contiguous()})),
        ("pairs of shape (n, 3)", put_tensors('rated', lambda sd: {**sd, 'pairs': torch.cat([sd['pairs'], sd['pairs'][:, :1]], 1)})),
        ("no pairs (only ratings)", put_tensors('rated', lambda sd: {'ratings': sd['ratings']})),
        ("NaN among the saved ratings", put_tensors('rated', lambda sd: {**sd, 'ratings': sd['ratings'].index_fill(0, torch.tensor([0]), float('nan'))})),
        ("ratings one short of the pairs", put_tensors('rated', lambda sd: {**sd, 'ratings': sd['ratings'][:-1].contiguous()})),
        ("no pairs rated at all (empty)", put_tensors('rated', lambda sd: {'pairs': torch.zeros(0, 2, dtype=torch.int32), 'ratings': torch.zeros(0)}), 'either'),
        ("y_range [1]", jset('y_range', value=[1])), ("y_range []", jset('y_range', value=[])), ("y_range null", jset('y_range', value=None)),
        ("y_range [5, 1]", jset('y_range', value=[5, 1])), ("y_range [1, 1]", jset('y_range', value=[1, 1])), ("y_range [0, NaN]", jset('y_range', value=Raw('[0, NaN]'))),
        ("y_range [NaN, 5]", jset('y_range', value=Raw('[NaN, 5]'))), ("y_range [0, Infinity]", jset('y_range', value=Raw('[0, Infinity]'))),
        ("y_range [-Infinity, 5]", jset('y_range', value=Raw('[-Infinity, 5]'))), ("y_range [0, 1e400]", jset('y_range', value=Raw('[0, 1e400]'))),
        ("y_range ['0', '5.5']", jset('y_range', value=['0', '5.5'])), ("y_range [true, 5]", jset('y_range', value=[True, 5])), ("y_range [0, 5, 6]", jset('y_range', value=[0, 5, 6])),
        ("y_range '0,5.5'", jset('y_range', value='0,5.5')), ("y_range [0, 1e300]", jset('y_range', value=[0, 1e300])),
        ("user_vocab a dict", jfn(lambda c: c.__setitem__('user_vocab', {str(i): v for i, v in enumerate(c['user_vocab'])}))),
        ("item_vocab a dict", jfn(lambda c: c.__setitem__('item_vocab', {str(i): v for i, v in enumerate(c['item_vocab'])}))),
        ("n_users 62 (one more than the tensors)", jset('n_users', value=62)), ("n_factors 5 (one more than the tensors)", jset('n_factors', value=5)),
        ("user_vocab and n_users one longer than the tensors", jfn(lambda c: (c['user_vocab'].append(10**6), c.__setitem__('n_users', c['n_users'] + 1)))),
    ]
    for item in mc:
        name, mutate, expect = (*item, 'refused')[:3]
        against_readers('model-content', name, G(mutate), expect=expect)

    # ---- (14) special files
    def fifo_link(inside):
        def mutate(p, ws):
            (p/'model.json').unlink()
            target = (p/'pipe') if inside else (ws['d']/'pipe')
            os.mkfifo(target); os.symlink('pipe' if inside else target, p/'model.json')
        return mutate
    def weights_to(target):
        def mutate(p, ws):
            n = tensor_name(p, 'weights'); (p/n).unlink(); os.symlink(target, p/n)
        return mutate
    def weights_fifo(p, ws):
        n = tensor_name(p, 'weights'); (p/n).unlink(); os.mkfifo(p/n)
    def weights_fifo_link(p, ws):
        n = tensor_name(p, 'weights'); (p/n).unlink(); os.mkfifo(p/'pipe'); os.symlink('pipe', p/n)
    def cfg_to(target):
        def mutate(p, ws):
            (p/'model.json').unlink(); os.symlink(target, p/'model.json')
        return mutate
    def cfg_socket(p, ws):
        (p/'model.json').unlink()
        s = socket.socket(socket.AF_UNIX); s.bind(str(p/'model.json')); s.close()
    def cfg_fifo(p, ws): (p/'model.json').unlink(); os.mkfifo(p/'model.json')
    def cfg_to_copy(p, ws): os.replace(p/'model.json', p/'real.json'); os.symlink('real.json', p/'model.json')
    def rated_to_weights(p, ws):
        n = tensor_name(p, 'rated'); (p/n).unlink(); os.symlink(tensor_name(p, 'weights'), p/n)
    sf = [("model.json a symlink to a FIFO in the folder", fifo_link(True)), ("model.json a symlink to a FIFO outside the folder", fifo_link(False)),
          ("model.json a FIFO", cfg_fifo), ("the weights file a symlink to /dev/zero", weights_to('/dev/zero')), ("the weights file a FIFO", weights_fifo),
          ("the weights file a symlink to a FIFO in the folder", weights_fifo_link), ("model.json a symlink to /dev/zero", cfg_to('/dev/zero')),
          ("model.json a symlink to /dev/urandom", cfg_to('/dev/urandom')), ("model.json a symlink to /etc/passwd", cfg_to('/etc/passwd')),
          ("model.json a symlink to itself (a loop)", cfg_to('model.json')), ("model.json a dangling symlink", cfg_to('nosuch.json')),
          ("model.json a Unix socket", cfg_socket), ("the rated file a symlink to the weights file", rated_to_weights),
          ("model.json a symlink to /proc/self/status", cfg_to('/proc/self/status')), ("the weights file a symlink to /proc/self/mem", weights_to('/proc/self/mem')),
          ("model.json a symlink to a copy in the folder (allowed)", cfg_to_copy, 'either')]
    for item in sf:
        name, mutate, expect = (*item, 'refused')[:3]
        against_readers('special-files', name, G(mutate), expect=expect, only=('load_model', 'recommend', 'similar'))
    if not quick:
        for name, mutate in (sf[0], sf[3], sf[6]):
            add('special-files', f"{name} [recommend, a real process]", argv=['recommend', '--model', '{model}', '--user', '3'], setup=G(mutate), real=True)
    add('special-files', "the model folder a symlink to a good model (allowed)", argv=['recommend', '--model', '{d}/link', '--user', '3', '--json'],
        setup=lambda ws: (G()(ws), os.symlink(ws['model'], ws['d']/'link')), expect='ok', check=check_json('score'))
    add('special-files', "--model a FIFO", argv=['recommend', '--model', '{d}/pipe', '--user', '3'], setup=lambda ws: os.mkfifo(ws['d']/'pipe'))
    add('special-files', "--model /dev/zero", argv=['recommend', '--model', '/dev/zero', '--user', '3'])
    for name, setup, data in [("--data a FIFO", lambda ws: os.mkfifo(ws['d']/'r.csv'), '{d}/r.csv'), ("--data /dev/zero", None, '/dev/zero'),
                              ("--data /dev/null", None, '/dev/null'), ("--data a folder", lambda ws: (ws['d']/'r.csv').mkdir(), '{d}/r.csv'),
                              ("--data a symlink to a FIFO", lambda ws: (os.mkfifo(ws['d']/'pipe'), os.symlink(ws['d']/'pipe', ws['d']/'r.csv')), '{d}/r.csv'),
                              ("--data /proc/self/status", None, '/proc/self/status'), ("--data a dangling symlink", lambda ws: os.symlink('nosuch', ws['d']/'r.csv'), '{d}/r.csv'),
                              ("--data a Unix socket", lambda ws: (lambda s: (s.bind(str(ws['d']/'r.csv')), s.close()))(socket.socket(socket.AF_UNIX)), '{d}/r.csv')]:
        add('special-files', f"train {name}", argv=T(data), setup=setup, before_training=True)
    if not quick: add('special-files', "train --data a FIFO [a real process]", argv=T('{d}/r.csv'), setup=lambda ws: os.mkfifo(ws['d']/'r.csv'), real=True)

    # ---- (15) unwritable --out
    for name, out, setup in [("--out /proc/x", '/proc/x', None), ("--out /proc/x/y", '/proc/x/y', None), ("--out under a regular file", '{d}/file/out', lambda ws: (ws['d']/'file').write_text('x')),
                             ("--out an existing file", '{d}/file', lambda ws: (ws['d']/'file').write_text('x')), ("--out /dev/null", '/dev/null', None),
                             ("--out /sys/x", '/sys/x', None), ("--out whose model is a file", '{d}/out', lambda ws: ((ws['d']/'out').mkdir(), (ws['d']/'out'/'model').write_text('x'))),
                             ("--out whose metrics.json is a folder", '{d}/out', lambda ws: (ws['d']/'out'/'metrics.json').mkdir(parents=True)),

                             ("--out a dangling symlink", '{d}/out', lambda ws: os.symlink(ws['d']/'nosuch'/'x', ws['d']/'out')),
                             ("--out a symlink to /proc", '{d}/out', lambda ws: os.symlink('/proc', ws['d']/'out'))]:
        add('unwritable-out', f"train {name}", argv=T('{in}/ratings.csv', out=out), setup=setup, before_training=True)
        if name in ("--out /proc/x", "--out under a regular file"):
            add('unwritable-out', f"train --recipe standard {name}", argv=T('{in}/ratings.csv', '--recipe', 'standard', out=out), setup=setup, before_training=True)
    for name, out, extra, setup in [("--out /proc/x.csv", '/proc/x.csv', [], None), ("--out under a regular file", '{d}/file/x.csv', [], lambda ws: (ws['d']/'file').write_text('x')),
                                    ("--out an existing file", '{d}/x.csv', [], lambda ws: (ws['d']/'x.csv').write_text('mine')),
                                    ("--out an existing folder named x.csv, --overwrite", '{d}/x.csv', ['--overwrite'], lambda ws: (ws['d']/'x.csv').mkdir()),
                                    ("--out x.txt (unknown extension)", '{d}/x.txt', [], None), ("--out /dev/null", '/dev/null', ['--overwrite'], None)]:
        add('unwritable-out', f"recommend --all {name}", argv=['recommend', '--model', '{model}', '--all', '-n', '2', '--out', out, *extra],
            setup=lambda ws, s=setup: (G()(ws), s and s(ws)))
    add('unwritable-out', "recommend --all --out a new CSV (fine)", argv=['recommend', '--model', '{model}', '--all', '-n', '2', '--out', '{d}/new/x.csv'], setup=G(), expect='ok')
    add('unwritable-out', "recommend --all --out a new Parquet (fine)", argv=['recommend', '--model', '{model}', '--all', '-n', '2', '--out', '{d}/x.parquet'], setup=G(), expect='ok')

    # ---- code execution
    def payload(ws): return pickle.dumps(Evil(ws['marker']))
    def torch_payload(ws):
        import torch
        b = io.BytesIO(); torch.save({'user_factors.weight': Evil(ws['marker']), 'user_bias.weight': torch.zeros(1)}, b); return b.getvalue()
    def torch_payload_rated(ws):
        import torch
        b = io.BytesIO(); torch.save({'pairs': Evil(ws['marker'])}, b); return b.getvalue()
    def old_file(name, data):
        def mutate(p, ws):
            d = data(ws); (p/name).write_bytes(d)
            cfg = cfg_of(p)
            if 'sha256' in cfg: cfg['sha256'][name] = sha(d); put_cfg(p, cfg)
        return mutate
    ce = [("model.json a pickle", G(jtext(payload))),
          ("the weights file a pickle (checksums updated)", G(put_tensor_bytes('weights', lambda ws, b: payload(ws)))),
          ("the weights file a torch file with a payload (checksums updated)", G(put_tensor_bytes('weights', lambda ws, b: torch_payload(ws)))),
          ("the rated file a pickle (checksums updated)", G(put_tensor_bytes('rated', lambda ws, b: payload(ws)))),
          ("the rated file a torch file with a payload (checksums updated)", G(put_tensor_bytes('rated', lambda ws, b: torch_payload_rated(ws)))),
          ("the weights file a pickle (checksums not updated)", G(put_tensor_bytes('weights', lambda ws, b: payload(ws), meta=False))),
          ("format 2: weights.pt a torch file with a payload (checksum updated)", G(old_file('weights.pt', torch_payload), base='G2')),
          ("format 2: weights.pt a raw pickle (checksum updated)", G(old_file('weights.pt', payload), base='G2')),
          ("format 2: rated.pt a torch file with a payload (checksum updated)", G(old_file('rated.pt', torch_payload_rated), base='G2')),
          ("format 2: rated.pt a raw pickle (checksum updated)", G(old_file('rated.pt', payload), base='G2')),
          ("format 1: weights.pt a torch file with a payload", G(old_file('weights.pt', torch_payload), base='G1')),
          ("format 1: weights.pt a raw pickle", G(old_file('weights.pt', payload), base='G1')),
          ("format 1: rated.pt a raw pickle", G(old_file('rated.pt', payload), base='G1')),
          ("format 3 folder with a payload weights.pt beside it", G(lambda p, ws: (p/'weights.pt').write_bytes(torch_payload(ws))), 'ok'),
          ("the lock file a pickle", G(lambda p, ws: (p/LOCK).write_bytes(payload(ws))), 'ok')]
    for item in ce:
        name, setup, expect = (*item, 'refused')[:3]
        against_readers('code-execution', name, setup, expect=expect)
    def old_payload(ws):
        model_setup('G2', where='out/.model.old-4242', mutate=old_file('weights.pt', torch_payload))(ws)
    add('code-execution', "an interrupted old-scheme save (.model.old-PID) whose weights.pt holds a payload: load_model", fn=api_load,
        setup=lambda ws: (old_payload(ws), ws.__setitem__('model', ws['d']/'out'/'model')), errors=('ModelFileError',), may_change=r'^out/')
    add('code-execution', "the same: train --out over it", argv=T(), setup=old_payload, may_change=r'^out/', writes=True, expect='either', check=check_trained())
    for f in ('payload.csv', 'payload.parquet'):
        add('code-execution', f"train --data {f} (a pickle)", argv=T('{in}/' + f), before_training=True)
    def api_payload_load(ws):
        from collab_recs.data import load_ratings
        load_ratings(ws['in']/'payload.parquet')
    add('code-execution', "load_ratings('payload.parquet')", fn=api_payload_load, errors=('RatingsError',))

    # ---- tensor files
    def flip(ws, b): i = len(b) // 2; return b[:i] + bytes([b[i] ^ 1]) + b[i + 1:]
    def big_header(ws, b): return (2**60).to_bytes(8, 'little') + b[8:]
    def header_garbage(ws, b): n = int.from_bytes(b[:8], 'little'); return b[:8] + b'{' * n + b[8 + n:]
    def dtype_lie(ws, b):
        n = int.from_bytes(b[:8], 'little'); h = json.loads(b[8:8 + n])
        for k in h:
            if k != '__metadata__': h[k]['dtype'] = 'F64'
        hb = json.dumps(h).encode(); hb += b' ' * (-len(hb) % 8)
        return len(hb).to_bytes(8, 'little') + hb + b[8 + n:]
    def offsets_lie(ws, b):
        n = int.from_bytes(b[:8], 'little'); h = json.loads(b[8:8 + n])
        for k in h:
            if k != '__metadata__': h[k]['data_offsets'] = [0, 10**15]
        hb = json.dumps(h).encode(); hb += b' ' * (-len(hb) % 8)
        return len(hb).to_bytes(8, 'little') + hb + b[8 + n:]
    tf = [("the weights file truncated (sizes not updated)", put_tensor_bytes('weights', lambda ws, b: b[:len(b) // 2], meta=False)),
          ("the weights file with one bit flipped", put_tensor_bytes('weights', flip, meta=False)),
          ("the weights file with one bit flipped (checksums updated)", put_tensor_bytes('weights', flip), 'either'),
          ("the weights file truncated (checksums updated)", put_tensor_bytes('weights', lambda ws, b: b[:len(b) // 2])),
          ("the weights file empty (checksums updated)", put_tensor_bytes('weights', lambda ws, b: b'')),
          ("the weights file garbage (checksums updated)", put_tensor_bytes('weights', lambda ws, b: os.urandom(len(b)))),
          ("the weights file's header claims 2**60 bytes (checksums updated)", put_tensor_bytes('weights', big_header)),
          ("the weights file's header is garbage (checksums updated)", put_tensor_bytes('weights', header_garbage)),
          ("the weights file's dtypes lie (checksums updated)", put_tensor_bytes('weights', dtype_lie)),
          ("the weights file's offsets point far beyond it (checksums updated)", put_tensor_bytes('weights', offsets_lie)),
          ("the weights file grown by 1 MiB of zeros (checksums updated)", put_tensor_bytes('weights', lambda ws, b: b + bytes(2**20))),
          ("the rated file garbage (checksums updated)", put_tensor_bytes('rated', lambda ws, b: os.urandom(len(b)))),
          ("the rated file truncated", put_tensor_bytes('rated', lambda ws, b: b[:-8], meta=False)),
          ("the weights file missing", lambda p, ws: (p/tensor_name(p, 'weights')).unlink()),
          ("the rated file missing", lambda p, ws: (p/tensor_name(p, 'rated')).unlink()),
          ("the weights and rated files swapped", lambda p, ws: (lambda w, r: (os.replace(p/w, p/'tmp'), os.replace(p/r, p/w), os.replace(p/'tmp', p/r)))(tensor_name(p, 'weights'), tensor_name(p, 'rated'))),
          ("the weights file of another model (checksums updated)", put_tensor_bytes('weights', lambda ws, b: (ws['base']/'V'/tensor_name(ws['base']/'V', 'weights')).read_bytes()), 'either'),
          ("the weights file as a format-2 torch file (checksums updated)", put_tensor_bytes('weights', lambda ws, b: (ws['base']/'G2'/'weights.pt').read_bytes()))]
    for item in tf:
        name, mutate, expect = (*item, 'refused')[:3]
        against_readers('tensor-files', name, G(mutate), expect=expect)

    # ---- old formats
    against_readers('old-formats', "a good format-2 model", G(base='G2'), expect='ok')
    against_readers('old-formats', "a good format-1 model", G(base='G1'), expect='ok')
    for name, mutate in [("format 2: sha256 null", jset('sha256', value=None)), ("format 2: sha256 a list", jset('sha256', value=[])),
                         ("format 2: sha256 of weights.pt wrong", jfn(lambda c: c['sha256'].__setitem__('weights.pt', '0' * 64))),
                         ("format 2: sha256 of weights.pt 'zz'", jfn(lambda c: c['sha256'].__setitem__('weights.pt', 'zz'))),
                         ("format 2: sha256 without rated.pt", jfn(lambda c: c['sha256'].pop('rated.pt'))),
                         ("format 2: sha256 naming another file", jfn(lambda c: c['sha256'].__setitem__('../x', '0' * 64))),
                         ("format 2: weights.pt truncated", lambda p, ws: (p/'weights.pt').write_bytes((p/'weights.pt').read_bytes()[:100])),
                         ("format 2: weights.pt a directory", lambda p, ws: ((p/'weights.pt').unlink(), (p/'weights.pt').mkdir())),
                         ("format 2: weights.pt a symlink to /dev/zero", lambda p, ws: ((p/'weights.pt').unlink(), os.symlink('/dev/zero', p/'weights.pt')))]:
        against_readers('old-formats', name, G(mutate, base='G2'), only=('load_model', 'recommend'))
    for name, mutate, expect in [("format 1: rated.pt missing", lambda p, ws: (p/'rated.pt').unlink(), 'ok'),
                                 ("format 1: weights.pt a safetensors file", lambda p, ws: shutil.copy2(ws['base']/'G'/tensor_name(ws['base']/'G', 'weights'), p/'weights.pt'), 'refused'),
                                 ("format 1: weights.pt with NaN", lambda p, ws: __import__('torch').save({k: v.fill_(float('nan')) for k, v in __import__('torch').load(p/'weights.pt').items()}, p/'weights.pt'), 'refused')]:
        against_readers('old-formats', name, G(mutate, base='G1'), expect=expect, only=('load_model', 'recommend'))
    add('old-formats', "train --out over a format-2 model (its files replaced)", argv=T(), setup=model_setup('G2', where='out/model'), writes=True,
        may_change=r'^out/model/(weights|rated)\.pt$', expect='ok', check=check_trained())
    add('old-formats', "train --out over a format-1 model", argv=T(), setup=model_setup('G1', where='out/model'), writes=True,
        may_change=r'^out/model/(weights|rated)\.pt$', expect='either', check=check_trained())
    add('old-formats', "train --out over a format-2 model plus a foreign file", argv=T(), before_training=True,
        setup=lambda ws: (model_setup('G2', where='out/model')(ws), (ws['d']/'out'/'model'/'notes.txt').write_text('mine')))

    # ---- CLI usage
    for name, argv, setup, expect, contains in [
            ("recommend an unknown user", ['recommend', '--model', '{model}', '--user', 'nosuch'], G(), 'refused', 'unknown user'),
            ("recommend --user '' (empty)", ['recommend', '--model', '{model}', '--user', ''], G(), 'refused', 'unknown user'),
            ("recommend --user '#na#' (fastai's placeholder)", ['recommend', '--model', '{model}', '--user', '#na#'], G(), 'refused', 'unknown user'),
            ("recommend --user -1", ['recommend', '--model', '{model}', '--user', '-1'], G(), 'refused', 'unknown user'),
            ("recommend --user 10**30", ['recommend', '--model', '{model}', '--user', str(10**30)], G(), 'refused', 'unknown user'),
            ("recommend -n 0", ['recommend', '--model', '{model}', '--user', '3', '-n', '0'], G(), 'refused', None),
            ("recommend -n -1", ['recommend', '--model', '{model}', '--user', '3', '-n', '-1'], G(), 'refused', None),
            ("recommend without --user or --all", ['recommend', '--model', '{model}'], G(), 'refused', None),
            ("recommend --user and --all", ['recommend', '--model', '{model}', '--user', '3', '--all'], G(), 'refused', None),
            ("recommend --include-rated", ['recommend', '--model', '{model}', '--user', '3', '--include-rated', '--json'], G(), 'ok', None),
            ("similar an unknown item", ['similar', '--model', '{model}', '--item', 'nosuch title'], G(), 'refused', None),
            ("similar --item '#na#'", ['similar', '--model', '{model}', '--item', '#na#'], G(), 'refused', None),
            ("similar --user unknown", ['similar', '--model', '{model}', '--user', 'nosuch'], G(), 'refused', 'unknown user'),
            ("similar --user 3", ['similar', '--model', '{model}', '--user', '3', '--json'], G(), 'ok', None),
            ("similar --item '' (empty)", ['similar', '--model', '{model}', '--item', ''], G(), 'refused', None),
            ("similar --item '.*' (a regex)", ['similar', '--model', '{model}', '--item', '.*'], G(), 'either', None),
            ("similar --item '[' (a bad regex)", ['similar', '--model', '{model}', '--item', '['], G(), 'either', None),
            ("evaluate with --model and --data", ['evaluate', '--model', '{model}', '--data', '{in}/ratings.csv'], G(), 'refused', None),
            ("evaluate with neither --model nor --data", ['evaluate'], None, 'refused', None),
            ("evaluate --k 0", ['evaluate', '--model', '{model}', '--k', '0'], G(), 'refused', None),
            ("train --data nosuch.csv", T('{d}/nosuch.csv'), None, 'refused', 'no such file'),
            ("train --data '' (empty)", T(''), None, 'refused', None),
            ("train --recipe nosuch", T('{in}/ratings.csv', '--recipe', 'nosuch'), None, 'refused', None),
            ("train --min-rating 4 with a rating recipe", T('{in}/ratings.csv', '--min-rating', '4'), None, 'refused', 'min-rating'),
            ("train --recipe ranking --min-rating 100", T('{in}/ratings.csv', '--recipe', 'ranking', '--factors', '4', '--min-rating', '100'), None, 'refused', None),
            ("train --seed -1", T('{in}/ratings.csv', '--seed', '-1'), None, 'either', None),
            ("train --seed 2**64", T('{in}/ratings.csv', '--seed', str(2**64)), None, 'either', None),
            ("train --show-recs -5", T('{in}/ratings.csv', '--show-recs', '-5'), None, 'either', None),
            ("train --show-recs 1000", T('{in}/ratings.csv', '--show-recs', '1000'), None, 'ok', None),
            ("train --duplicates nosuch", T('{in}/ratings.csv', '--duplicates', 'nosuch'), None, 'refused', None),
            ("train on repeated pairs with --duplicates error", T('{in}/dups.csv'), None, 'refused', 'repeated'),
            ("train on repeated pairs with --duplicates mean", T('{in}/dups.csv', '--duplicates', 'mean'), None, 'ok', None),
            ("no command", [], None, 'refused', None), ("an unknown command", ['nosuch'], None, 'refused', None),
            ("onboard --rounds 0", ['onboard', '--model', '{model}', '--rounds', '0'], G(), 'refused', None),
            ("train --data synthetic --synthetic-ratings 1", T('synthetic', '--synthetic-ratings', '1'), None, 'either', None),
            ("train with --user-col as an empty string", T('{in}/ratings.csv', '--user-col', ''), None, 'refused', None)]:
        chk = check_trained() if argv[:1] == ['train'] else check_json('score') if 'recommend' in argv[:1] and '--json' in argv else \
              check_json('similarity') if 'similar' in argv[:1] and '--json' in argv else None
        add('cli-usage', name, argv=argv, setup=setup, expect=expect, contains=contains, writes=argv[:1] == ['train'], check=chk, timeout=120)

def _crash_train(ws, step):
    "In a child: `collab-recs train --out OUT` with a simulated kill (an uncatchable-by-the-package exception) at save step `step`"
    import collab_recs.save as S, collab_recs.cli as C
    class Kill(BaseException): pass
    def crash(s):
        if s == step: raise Kill(s)
    S._crash_point = crash
    try: C.main(train_argv(str(ws['in']/'ratings.csv'), '--seed', '3', out=str(ws['out'])))
    except Kill: return 0
    raise RuntimeError(f"the save never reached step {step!r}")

# ------------------------------------------------------------------------------------------------------------ the run
def self_test(t:Path, logs:Path) -> dict:
    "The payloads do run when unpickled unsafely: a marker that never appears means something"
    marker = t/'PWNED'
    import torch
    def unsafe():
        pickle.loads(pickle.dumps(Evil(marker)))
        assert marker.exists(); marker.unlink()
        b = io.BytesIO(); torch.save({'w': Evil(marker)}, b); b.seek(0)
        torch.load(b, weights_only=False)
        assert marker.exists(); marker.unlink()
    r = run_child(unsafe, logs, 'self-test', t)
    return dict(payloads_run_when_unpickled_unsafely=r.get('rc') == 0)

@call_parse
def main(quick:Param("a smaller matrix: two readers per corrupted model, no real processes", store_true)=False,
         only:Param("only these categories (comma-separated)", str)=None,
         timeout:Param("seconds a case may take before it counts as a hang", float)=60,
         json_path:Param("where to write the results (default: bench/results/adversarial.json)", str)=None,
         keep:Param("keep the work folder (its path is printed)", store_true)=False):
    "Issue 15's adversarial matrix: every case either works or is refused cleanly; nothing is lost; nothing is executed."
    os.environ['OMP_NUM_THREADS'] = '1'
    started = time.time()
    import torch
    torch.set_num_threads(1)
    import collab_recs.cli, collab_recs.save, collab_recs.data, collab_recs.recipes, collab_recs.evaluation, collab_recs.onboarding  # imported once: every child shares them
    import collab_recs.interpret, collab_recs.recommend, collab_recs.plots, collab_recs.foldin, collab_recs.dataloaders, collab_recs.learner, collab_recs.baselines
    import fastai.tabular.all, safetensors.torch  # noqa: F401
    t = Path(tempfile.mkdtemp(prefix='adversarial-'))
    logs = t/'logs'
    try:
        r = run_child(lambda: make_inputs(t/'in'), logs, 'inputs', t, timeout=300)
        if r.get('rc') != 0: sys.exit(f"could not write the inputs: {tail(r['stderr'], 2000)}")
        make_models(t, timeout)
        selftest = self_test(t, logs)
        define_cases(quick)
        cats = [c for c in (only.split(',') if only else CATEGORIES)]
        bad = set(cats) - set(CATEGORIES)
        if bad: sys.exit(f"unknown categories {sorted(bad)}; known: {list(CATEGORIES)}")
        cases = [c for c in CASES if c.cat in cats]
        print(f"{len(cases)} cases in {len(cats)} categories; work folder {t}", flush=True)
        ins_before = fingerprint(t/'in')
        counts = {c: dict(tried=0, clean=0, defects=0) for c in cats}
        defects, code_exec, data_loss, outcomes = [], 0, 0, {}
        for k, case in enumerate(cases):
            d = t/'cases'/str(k); d.mkdir(parents=True)
            ws = dict(d=d, model=d/'model', out=d/'out', marker=t/'PWNED', logs=logs, tag=str(k), timeout=case.timeout or timeout, base=t/'base', **{'in': t/'in'})
            try:
                if case.setup: case.setup(ws)
            except Exception as e:
                r, before = dict(crash=f"the case's setup failed: {type(e).__name__}: {e}"), {}
            else:
                before = fingerprint(d)
                if case.real: r = run_real(fill(case.argv, ws), d, case.stdin, ws['timeout'])
                elif case.argv is not None:
                    argv = fill(case.argv, ws)
                    r = run_child(lambda: collab_recs.cli.main(argv), logs, str(k), d, case.stdin, ws['timeout'])
                else: r = run_child(lambda: case.fn(ws), logs, str(k), d, case.stdin, ws['timeout'])
            after, ins_after = fingerprint(d), fingerprint(t/'in')
            marker = (t/'PWNED').exists()
            if marker: code_exec += 1; (t/'PWNED').unlink()
            problems, outcome, lost = judge(case, r, ws, before, after, ins_before, ins_after, marker)
            if lost: data_loss += 1
            ins_before = ins_after  # report a changed input once
            counts[case.cat]['tried'] += 1
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if problems:
                counts[case.cat]['defects'] += 1
                how = ('printf %r | ' % case.stdin if case.stdin else '') + ('python -m collab_recs.cli ' + ' '.join(map(repr, fill(case.argv, ws))) if case.argv is not None
                       else f"Python: {case.fn.__qualname__ if hasattr(case.fn, '__qualname__') else case.fn}")
                defects.append(dict(category=case.cat, case=case.name, expected=case.expect, outcome=outcome, problems=problems, run=how,
                                    stderr_tail=tail(r.get('stderr', '') or r.get('msg', ''), 800)))
                print(f"DEFECT [{case.cat}] {case.name}: {'; '.join(problems)}\n    {tail(r.get('stderr', '') or r.get('msg', ''), 300)}", flush=True)
            else: counts[case.cat]['clean'] += 1
            if (k + 1) % 50 == 0: print(f"... {k + 1}/{len(cases)} cases, {len(defects)} defects, {time.time() - started:.0f} s", flush=True)
            if not keep: shutil.rmtree(d, ignore_errors=True)
        tot = {k: sum(c[k] for c in counts.values()) for k in ('tried', 'clean', 'defects')}
        print(f"\n{'category':20s} {'tried':>6s} {'clean':>6s} {'defects':>8s}")
        for c, v in counts.items(): print(f"{c:20s} {v['tried']:6d} {v['clean']:6d} {v['defects']:8d}")
        print(f"{'total':20s} {tot['tried']:6d} {tot['clean']:6d} {tot['defects']:8d}")
        print(f"code execution: {code_exec} case(s); data loss: {data_loss} case(s); payload self-test: {selftest}")
        if defects:
            print("\nDefects:")
            for x in defects: print(f"- [{x['category']}] {x['case']}: {'; '.join(x['problems'])}\n    run: {x['run']}")
        import platform, collections
        # the same problem met through several commands or variants: one line each, with how many cases showed it
        distinct = collections.Counter(re.sub(r"/tmp/\S+", 'PATH', f"[{x['category']}] {'; '.join(x['problems'])}")[:200] for x in defects)
        figures = dict(python=platform.python_version(), torch=torch.__version__, quick=quick, categories=cats, timeout_s=timeout,
                       descriptions={c: CATEGORIES[c] for c in cats}, counts=counts, totals=tot, outcomes=outcomes,
                       code_execution=code_exec, data_loss=data_loss, self_test=selftest,
                       distinct_problems=[dict(problem=k, cases=v) for k, v in distinct.most_common()], defects=defects)
        write_results('adversarial', 'bench.adversarial', figures, started, json_path)
    finally:
        if keep: print(f"work folder kept: {t}")
        else: shutil.rmtree(t, ignore_errors=True)
