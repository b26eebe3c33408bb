"""Issue 15's adversarial matrix: the CLI and the Python API tried as a careless or hostile user would try them, in every
class of case the issue lists (and a few more), each case checked for its outcome, for data loss and for code execution.

A case is clean when its outcome is the expected one: exit 0 and sane output for 'ok' (a loadable, finite model after a
train; finite scores); exit 2 with exactly one `error:` line and no traceback for 'refused' (a documented exception type
for the Python API), and nothing written; and, in every case, every input file and every file the package did not write
keeps its bytes and mtime, and no `__reduce__` payload ever runs. Anything else is a defect, listed with its reproduction.

Each case runs in a forked child of this process (everything imported once: fast), with a timeout (a hang is a defect) and
an address-space limit; a few run as real `python -m collab_recs.cli` processes, as a user's shell would run them (these
also catch what only a fresh process meets, e.g. a method that a module not yet imported adds).
Random kills during a save are bench/stress_save.py's: here the interrupted saves are deterministic, one per save step.

The good models every model case starts from are trained by the current CLI: a rating model G (and V, on look-alike ids),
an item-item model K (`--recipe itemknn --set k=20` on an interaction log), an EASE model E and a ranking model R; the
folders O1, O2, O3 are the same rating model as collab_recs 0.2 saved it (formats 1, 2, 3), which must be refused.

Usage: python -m bench.adversarial [--quick] [--category CATEGORY[,CATEGORY]] [--case REGEX] [--list_cases] [--timeout 60] [--json_path PATH] [--keep]
  --quick: a fixed, seeded sample (QUICK_SEED) of a few cases of every category, plus the pinned ones (tests/test_adversarial.py runs it)
  a full run writes bench/results/adversarial.json; a partial one (--quick, --category, --case) writes only to --json_path
"""
import dataclasses, hashlib, io, json, os, pickle, re, resource, shutil, signal, socket, stat, subprocess, sys, tempfile, time, traceback
from pathlib import Path
from fastcore.script import call_parse, Param, store_true
from bench.common import ROOT, write_results

CATEGORIES = {  # name: what it tries; (N) is the defect number in issue 15
    'out-data-loss': "(1) --out whose model/ holds foreign files, --data inside --out, training over a model",
    'interrupted-save': "(2) a save stopped at each of its steps (deterministic), collab_recs 0.2's leftovers; then load, recommend, train",
    'onboard-answers': "(3) onboard with invalid, odd and missing answers: re-asks, keeps what was answered; onboard on each model kind",
    'empty-splits': "(4) empty training or validation splits: 1-2 ratings, --valid-pct 1e-9 / 0.999, splits without timestamps",
    'id-text': "(5) ids '007' vs '7', '+7', '-0', ' 7' (spaces around ids dropped), ids beyond int64",
    'csv-encoding': "(6) byte-order marks, UTF-16, Latin-1, CRLF, empty, binary, mislabelled files",
    'rating-kinds': "(7) datetime, duration, boolean, text, nested, non-finite ratings (Parquet and CSV)",
    'id-types': "(8) bytes, dict, list, float, bool, datetime, ... ids through the Python API (load_ratings, then train and save)",
    'column-twice': "(9) a column named for two roles, duplicate column names",
    'impossible-sizes': "(10) --factors 1e12, huge --synthetic-ratings, huge -n / --rounds / k, model sizes in the API",
    'diverged': "(11) --rating-range with inf/nan, --lr 1e10, huge ratings: nothing non-finite is saved",
    'model-json': "(12) malformed model.json (format 4): every field (format, kind, options, vocabularies, titles, meta, files) x bad values, deep nesting, wrong JSON, directories",
    'model-content': "(13) non-finite or inconsistent content with valid checksums: NaN/inf weights, options.y_range / n_factors, vocabularies, pairs",
    'special-files': "(14) FIFOs, /dev/zero, sockets, symlink loops as model files or --data",
    'unwritable-out': "(15) --out that cannot be written (/proc, under a regular file, a file): refused before training",
    'code-execution': "pickle payloads (__reduce__) as every file of a model folder (rating and item-item), beside it, in 0.2's leftovers, as --data",
    'tensor-files': "truncated, modified, garbage, empty, missing and swapped tensor files",
    'item-item-content': "item-item folders with valid checksums: CSR indptr not rising or of the wrong length, indices out of range, nnz disagreeing, NaN weights, the rated file missing, kind swapped",
    'old-formats-refused': "formats 1, 2 and 3 (collab_recs 0.2: torch weights.pt/rated.pt, safetensors with old fields): refused in one line by every reader, never unpickled, never overwritten",
    'cli-usage': "bad options and arguments: unknown ids (a newcomer's list for ranking and item-item models), -n 0, --set, tune, evaluate with both/neither source",
}

DOCUMENTED = {'RatingsError', 'ModelFileError', 'UnknownIdError', 'ModelTooLargeError', 'TrainingDivergedError', 'CatalogueTooLargeError',
              'ValueError', 'FileExistsError', 'PermissionError', 'FileNotFoundError', 'NotADirectoryError'}
FORBIDDEN = {'AttributeError', 'KeyError', 'TypeError', 'RecursionError', 'OverflowError', 'IndexError', 'MemoryError', 'AssertionError',
             'UnpicklingError', 'JSONDecodeError', 'UnicodeDecodeError', 'IsADirectoryError', 'RuntimeError', 'ZeroDivisionError', 'NotImplementedError'}
OURS = re.compile(r'model\.json|(weights|rated)-[0-9a-f]{16}\.safetensors|\..+\.tmp-.*|metrics\.json|.*\.png|collab-recs-outputs\.json')  # names train writes
LOCK = '.collab_recs.lock'
ERROR_LINE = re.compile(r'collab-recs( \w+)?: error: ')
TRAINING = re.compile(r'^Training recipe ', re.M)  # train's banner: a refusal printed after it came only after training
NEWCOMER_NOTE = re.compile(r"is not in the model's training data")  # recommend's note on stderr for an unknown user of a ranking/item-item model
QUICK_SEED, QUICK_PER_CATEGORY = 15, 5  # --quick: this many cases of every category, drawn with this seed, plus the pinned ones
PINNED = (  # always in --quick: what changed in format 4 and the model kinds, and what only a real process meets
    "old-formats-refused/a good format-2 model [recommend]", "old-formats-refused/a good format-3 model [load_model]",
    "old-formats-refused/format 2: weights.pt a torch file with a payload (checksum updated) [load_model]",
    "old-formats-refused/format 1: weights.pt a raw pickle [onboard]",
    "old-formats-refused/recommend on a format-2 model whose weights.pt holds a payload [a real process]",
    "item-item-content/a good item-item model (K) [recommend]", "item-item-content/indptr not rising (one row pointer above the next) [load_model]",
    "item-item-content/the rated file missing, and its entry (an item-item model needs its pairs) [recommend]",
    "item-item-content/options.nnz one more than the tensors [similar]", "item-item-content/kind 'rating' (sparse weights read as a rating model) [evaluate]",
    "model-json/kind 'os:system' (a callable's path) [recommend]", "model-content/options.y_range [0, NaN] [load_model]",
    "interrupted-save/crash at 'config written' of an item-item save over a rating model, then recommend",
    "onboard-answers/onboard an item-item model, answers: 4, Enter, 5", "onboard-answers/onboard a ranking model, answers: 4, Enter, 5",
    "cli-usage/recommend an unknown user of a ranking model: a newcomer's list [a real process]",
    "cli-usage/recommend an unknown user of an item-item model: a newcomer's list [a real process]",
    "cli-usage/recommend an unknown user of a rating model [a real process]", "cli-usage/train --recipe itemknn --set k=0",
    # one case of each defect found in format 4's first matrix (tests/test_adversarial.py marks them xfail, strict: a fix shows)
    "model-json/kind ['rating'] [recommend]", "model-json/meta.options.set null [evaluate]", "cli-usage/train --recipe itemknn --set k=true",
    "impossible-sizes/train --recipe ranking-sampled --set n_negatives=10**12", "cli-usage/recommend an unknown user of an item-item model, --out an existing file",
)

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
    check: object = None     # check(ws, stdout) -> a problem (str) or None, after a success (in this process; ws['stderr'] holds stderr)
    writes: bool = False     # the command writes outputs (train): files train writes may change in the case folder
    may_change: str = None   # a regex of paths (relative to the case folder) that may legitimately change or go
    errors: tuple = None     # Python API: the exception names accepted as a refusal (default: DOCUMENTED)
    real: bool = False       # run as a real `python -m collab_recs.cli` process
    before_training: bool = False  # a refused train must refuse before it trains
    timeout: float = None
    pin: bool = False        # always in the --quick sample
    heavy: bool = False      # never drawn into the --quick sample (minutes of CPU)

    @property
    def id(self) -> str: return f"{self.cat}/{self.name}"

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

def knn_argv(data='{in}/interactions.csv', *extra, out='{out}', recipe='itemknn'):
    "train an item-item recipe (no --factors/--epochs: options of another kind are refused)"
    return ['train', '--data', data, '--out', out, '--recipe', recipe, '--set', 'k=20', '--no-plots', '--show-recs', '0', *extra]

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
    return {'model.json', *(f['name'] for f in cfg['files'].values())}

def loaded_problem(m) -> str|None:
    "What is wrong with a model that load_model returned (None: finite weights, a sane output range, finite scores)"
    import torch, numpy as np
    if hasattr(m, 'state_dict'):
        if not all(torch.isfinite(t).all() for t in m.state_dict().values()): return "non-finite weights"
    if getattr(m, 'weights', None) is not None:  # an item-item model: sparse weights
        W = m.weights
        if W.shape != (m.n_items, m.n_items): return f"item-item weights of shape {W.shape} for {m.n_items} items"
        if not np.isfinite(W.data).all(): return "non-finite item-item weights"
    if getattr(m, 'predicts_ratings', False):
        y = m.y_range
        if not (all(np.isfinite(y)) and y[0] < y[1]): return f"y_range {y}"
    s = m.score(torch.arange(1, min(4, m.n_users)))
    if not torch.isfinite(s).all(): return "non-finite scores"
    return None

def model_problem(folder:Path, leftovers:bool=True, before:dict=None) -> str|None:
    "What is wrong with the model saved in `folder` (None: it loads, is sane, nothing is left over beside what was there `before`)"
    from collab_recs.save import load_model
    try: m = load_model(folder)
    except Exception as e: return f"the saved model does not load: {type(e).__name__}: {e}"
    prob = loaded_problem(m)
    if prob: return f"the saved model: {prob}"
    if leftovers:
        there = {os.path.basename(k) for k in (before or {})}  # a sibling .model.* the user (or collab_recs 0.2) left is not ours to remove
        left = sorted(set(os.listdir(folder)) - used_files(folder) - {LOCK}) + sorted(n for n in os.listdir(folder.parent) if n.startswith('.model.') and n not in there)
        if left: return f"leftovers after a successful save: {left}"
    return None

def check_trained(key='out'):
    "check: the train wrote a loadable, finite model and finite metrics, with no leftovers"
    def check(ws, stdout):
        out = Path(ws[key])
        prob = model_problem(out/'model', before=ws.get('before'))
        if prob: return prob
        try: m = json.loads((out/'metrics.json').read_text())
        except Exception as e: return f"metrics.json: {type(e).__name__}: {e}"
        bad = [k for k, v in m.items() if isinstance(v, float) and v != v or v in (float('inf'), float('-inf'))]
        said = '\n'.join(l for l in stdout.splitlines() if not TRAINING.match(l))  # the banner repeats the options, NaN ones too
        if bad or re.search(r'\bnan\b', said, re.I): return f"non-finite metrics: {bad or stdout[-300:]}"
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

def check_kept(prefix:str):
    "check: everything under `prefix` (relative to the case folder) is as it was before the command (files train writes included)"
    def check(ws, stdout):
        before = {k: v for k, v in ws['before'].items() if k == prefix or k.startswith(prefix + '/')}
        if not before: return f"the case set up nothing under {prefix}"
        after = fingerprint(ws['d'])
        changed = sorted(k for k, v in before.items() if after.get(k) != v)
        return f"{prefix}: {changed[:4]} changed or deleted" if changed else None
    return check

def checks(*fs):
    "check: the first problem any of `fs` finds"
    def check(ws, stdout):
        for f in fs:
            prob = f(ws, stdout)
            if prob: return prob
        return None
    return check

def check_newcomer(user:str, n:int=None):
    "check: recommend --json for an unknown user of a ranking or item-item model: a newcomer's list for `user`, said so on stderr"
    def check(ws, stdout):
        prob = check_json('score')(ws, stdout)
        if prob: return prob
        recs = json.loads([l for l in stdout.splitlines() if l.strip().startswith('[')][-1])
        if {str(r.get('user')) for r in recs} != {user}: return f"asked for user {user!r}, got records of {sorted({str(r.get('user')) for r in recs})}"
        if n is not None and len(recs) != n: return f"{len(recs)} records, expected {n}"
        if not NEWCOMER_NOTE.search(ws.get('stderr', '')): return f"no note on stderr that the user is new: {ws.get('stderr', '')[-300:]!r}"
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
    df[['user', 'item']].to_csv(ins/'interactions.csv', index=False)  # an interaction log: who has what, no ratings
    df.assign(title='Film ' + df.item.astype(str)).to_csv(ins/'titled.csv', index=False)
    df.head(1).to_csv(ins/'tiny1.csv', index=False)
    df.head(2).to_csv(ins/'tiny2.csv', index=False)
    df.head(100).to_csv(ins/'small100.csv', index=False)
    # ids as text
    def ids(col, mapping):
        d = df.copy(); d[col] = d[col].astype(str).map(lambda s: mapping.get(s, s)); return d
    ids('user', {'8': '007'}).to_csv(ins/'users_007.csv', index=False)
    ids('item', {'8': '007'}).to_csv(ins/'items_007.csv', index=False)
    ids('user', {'8': '007', '9': '+7', '11': '-0', '12': '7.0', '13': '0x7', '14': '٧'}).to_csv(ins/'users_variants.csv', index=False)
    ids('user', {'10': ' 10 ', '11': '11 '}).to_csv(ins/'users_spaces.csv', index=False)  # spaces around ids: the same ids
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

BASES = {'G': 'rating', 'V': 'rating', 'K': 'itemknn', 'E': 'ease', 'R': 'ranking', 'O1': 'format 1', 'O2': 'format 2', 'O3': 'format 3'}

def make_models(t:Path, timeout:float):
    """The good models, each trained by the current CLI: G (rating, --recipe fast), V (rating, on look-alike ids), K (item-item,
    --recipe itemknn --set k=20 on an interaction log), E (--recipe ease) and R (--recipe ranking); and O1, O2, O3: model G as
    collab_recs 0.2 saved it (formats 1 and 2: torch weights.pt/rated.pt, with checksums in 2; format 3: safetensors files and
    the old top-level fields), which the package must now refuse"""
    import torch
    from safetensors.torch import load as st_load
    runs = {'G': train_argv(str(t/'in'/'ratings.csv'), '--seed', '0', out=str(t/'base'/'G-out')),
            'V': train_argv(str(t/'in'/'users_variants.csv'), '--seed', '0', out=str(t/'base'/'V-out')),
            'K': knn_argv(str(t/'in'/'interactions.csv'), '--seed', '0', out=str(t/'base'/'K-out')),
            'E': knn_argv(str(t/'in'/'interactions.csv'), '--seed', '0', out=str(t/'base'/'E-out'), recipe='ease'),
            'R': ['train', '--data', str(t/'in'/'interactions.csv'), '--out', str(t/'base'/'R-out'), '--recipe', 'ranking', '--factors', '4', '--epochs', '1',
                  '--no-plots', '--show-recs', '0', '--seed', '0']}
    for name, argv in runs.items():
        res = run_child(lambda: __import__('collab_recs.cli').cli.main(argv), t/'logs', f'base-{name}', t, timeout=max(timeout, 300))
        if res.get('rc') != 0: raise RuntimeError(f"could not train the base model {name} ({' '.join(argv)}): {res.get('rc')} {tail(res.get('stderr', ''), 2000)}")
        os.replace(t/'base'/f'{name}-out'/'model', t/'base'/name)
        shutil.rmtree(t/'base'/f'{name}-out')
    g = t/'base'/'G'
    cfg = cfg_of(g)
    sd = st_load((g/cfg['files']['weights']['name']).read_bytes())
    rated = st_load((g/cfg['files']['rated']['name']).read_bytes())
    o = cfg['options']
    old = dict(n_users=len(cfg['user_vocab']), n_items=len(cfg['item_vocab']), n_factors=o['n_factors'], y_range=o['y_range'], centre=o['centre'],
               user_vocab=cfg['user_vocab'], item_vocab=cfg['item_vocab'], titles=cfg['titles'], meta=cfg['meta'], objective='rating')
    for fmt in (1, 2):
        p = t/'base'/f'O{fmt}'; p.mkdir()
        torch.save({k: v.clone() for k, v in sd.items()}, p/'weights.pt')
        torch.save({'pairs': rated['pairs'].to(torch.int32), 'ratings': rated['ratings']}, p/'rated.pt')
        c = dict(format=f'collab_recs/DotProductBias/{fmt}', **old)
        if fmt == 2: c['sha256'] = {n: sha((p/n).read_bytes()) for n in ('weights.pt', 'rated.pt')}
        (p/'model.json').write_text(json.dumps(c))
    p = t/'base'/'O3'
    shutil.copytree(g, p)
    (p/'model.json').write_text(json.dumps(dict(format='collab_recs/DotProductBias/3', **old, files=cfg['files'])))

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
        if case.before_training and TRAINING.search(r.get('stdout', '')): problems.append("refused only after training")
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
def define_cases():
    "Fill CASES with the whole matrix (`quick_sample` draws --quick's cases from it)"
    import numpy as np
    CASES.clear()
    G = lambda mutate=None, base='G': model_setup(base, mutate)
    K = lambda mutate=None, base='K': model_setup(base, mutate)
    T = train_argv

    # readers of a model folder: the Python API and each CLI command (checks by model kind: a rating model has an RMSE, ...)
    def api_load(ws):
        from collab_recs.save import load_model
        prob = loaded_problem(load_model(ws['model']))
        assert prob is None, f"load_model returned a model with {prob}"
    evaluate_field = {'rating': 'rmse', 'ranking': 'ndcg@10', 'itemknn': 'ndcg@10', 'ease': 'ndcg@10'}
    onboarded = {'rating': r'From your 1 rating', 'ranking': r'From the 1 item'}
    def readers_of(kind):
        r = {'load_model': dict(fn=api_load, errors=('ModelFileError',)),
             'recommend': dict(argv=['recommend', '--model', '{model}', '--user', '3', '-n', '3', '--json'], check=check_json('score')),
             'similar': dict(argv=['similar', '--model', '{model}', '--item', '3', '-n', '3', '--json'], check=check_json('similarity')),
             'evaluate': dict(argv=['evaluate', '--model', '{model}', '--json'], check=check_json(evaluate_field.get(kind, 'rmse'), last_only=True)),
             'onboard': dict(argv=['onboard', '--model', '{model}', '--rounds', '1', '--per-round', '2', '-n', '3'], stdin='4\n\n',
                             check=check_text(onboarded.get(kind, r'From your 1 rating')))}
        if kind in ('itemknn', 'ease'): del r['onboard']  # onboarding an item-item model is tried on its own (onboard-answers), not once per corruption
        return r
    def against_readers(cat, name, setup, expect='refused', contains=None, only=None, kind='rating', **kw):
        for rname, r in readers_of(kind).items():
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
    add('out-data-loss', "train --recipe itemknn --out OUT over a rating model (replaced by an item-item one)", argv=knn_argv(), setup=model_setup('G', where='out/model'),
        expect='ok', writes=True, check=check_trained())
    add('out-data-loss', "train --out OUT over an item-item model (replaced by a rating one)", argv=T(), setup=model_setup('K', where='out/model'),
        expect='ok', writes=True, check=check_trained())
    add('out-data-loss', "train --recipe ease --out OUT: OUT/model holds a text file and an item-item model", argv=knn_argv(recipe='ease'),
        setup=lambda ws: (model_setup('K', where='out/model')(ws), (ws['d']/'out'/'model'/'notes.txt').write_text('mine')), contains='did not write', before_training=True)
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
    def save_knn_over(ws):
        from collab_recs.save import save_model, load_model
        save_model(load_model(ws['base']/'K'), ws['model'])
    add('out-data-loss', "save_model of an item-item model over a rating model (Python API)", fn=save_knn_over, setup=G(), expect='ok', writes=True,
        check=lambda ws, o: model_problem(ws['model']) or (None if cfg_of(ws['model'])['kind'] == 'itemknn' else f"kind {cfg_of(ws['model'])['kind']!r} after the save"))
    add('out-data-loss', "recommend --out onto an input file without --overwrite", argv=['recommend', '--model', '{model}', '--all', '-n', '2', '--out', '{d}/keep.csv'],
        setup=lambda ws: G()(ws) or shutil.copy2(ws['in']/'ratings.csv', ws['d']/'keep.csv'), contains='overwrite')

    # ---- (2) interrupted saves, deterministic
    from collab_recs.testing import SAVE_STEPS as steps
    def crashed(step, first, recipe='fast'):
        def setup(ws):
            if not first: model_setup('G', where='out/model')(ws)
            r = run_child(lambda: _crash_train(ws, step, recipe), ws['logs'], f"{ws['tag']}-crash", ws['d'], timeout=ws['timeout'])
            if r.get('rc') != 0: raise RuntimeError(f"the simulated crash at {step!r} did not happen: {r.get('msg') or tail(r['stderr'], 300)}")
        return setup
    def follow_load(ws):
        from collab_recs.save import load_model
        prob = loaded_problem(load_model(ws['out']/'model'))
        assert prob is None, f"load_model returned a model with {prob}"
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
    for step in steps:  # an item-item model (sparse weights and the required pairs) saved over a rating model
        what = f"crash at '{step}' of an item-item save over a rating model"
        add('interrupted-save', f"{what}, then load_model", fn=follow_load, setup=crashed(step, False, 'itemknn'), writes=True, expect='ok', errors=('ModelFileError',))
        add('interrupted-save', f"{what}, then recommend", argv=['recommend', '--model', '{out}/model', '--user', '3', '--json'], setup=crashed(step, False, 'itemknn'),
            writes=True, expect='ok', check=check_json('score'))
    # collab_recs 0.2 saved through sibling folders (.model.tmp-PID, renamed over, .model.old-PID): no longer recovered on purpose (its
    # formats are refused), so such a folder is the user's to keep: never read, never removed
    def old_scheme(kind, with_model, base='O2'):
        def setup(ws):
            if with_model: model_setup('G', where='out/model')(ws)
            model_setup(base, where=f'out/.model.{kind}-4242')(ws)
        return setup
    add('interrupted-save', "0.2's save killed between its renames (.model.old-PID, no model/): load_model refuses", fn=follow_load,
        setup=old_scheme('old', False), errors=('ModelFileError',), contains='not a saved model')
    add('interrupted-save', "0.2's save killed between its renames: recommend refuses", argv=['recommend', '--model', '{out}/model', '--user', '3', '--json'],
        setup=old_scheme('old', False), contains='not a saved model')
    add('interrupted-save', "0.2's save killed between its renames: train writes model/ and leaves .model.old-PID", argv=T(), setup=old_scheme('old', False),
        writes=True, expect='ok', check=checks(check_trained(), check_kept('out/.model.old-4242')))
    add('interrupted-save', "0.2's .model.tmp-PID folder (format 3) beside a model: train leaves it", argv=T(), setup=old_scheme('tmp', True, 'O3'),
        writes=True, expect='ok', check=checks(check_trained(), check_kept('out/.model.tmp-4242')))
    def foreign_tmp(ws):
        model_setup('G', where='out/model')(ws); (ws['d']/'out'/'.model.tmp-mine').mkdir(); (ws['d']/'out'/'.model.tmp-mine'/'notes.txt').write_text('mine')
    add('interrupted-save', "a user's folder named .model.tmp-mine beside the model: train leaves it", argv=T(), setup=foreign_tmp, writes=True, expect='ok',
        check=lambda ws, o: None if (ws['out']/'.model.tmp-mine'/'notes.txt').exists() else "the user's .model.tmp-mine/notes.txt is gone")
    def stray(base):
        def setup(ws):
            model_setup(base, where='out/model')(ws)
            p = ws['d']/'out'/'model'
            (p/'.weights.safetensors.tmp-99999').write_bytes(b'half'); (p/'.model.json.tmp-99999').write_text('{')
            b = (ws['base']/'O2'/'weights.pt').read_bytes()  # a torch file named as a save names its tensor files (by its SHA-256)
            (p/f"weights-{hashlib.sha256(b).hexdigest()[:16]}.safetensors").write_bytes(b)  # removed, never read
        return setup
    for base, what in (('G', ''), ('K', ' (item-item model)')):
        add('interrupted-save', f"temporary files and an unused tensor file of a killed save{what}: load_model", fn=follow_load, setup=stray(base), writes=True, expect='ok',
            errors=('ModelFileError',))
        add('interrupted-save', f"temporary files and an unused tensor file of a killed save{what}: train", argv=T(), setup=stray(base), writes=True, expect='ok',
            check=check_trained())
    def misnamed(ws):
        model_setup('G', where='out/model')(ws)
        (ws['d']/'out'/'model'/'weights-0123456789abcdef.safetensors').write_bytes(b'my own file')  # not named by its bytes
    add('interrupted-save', "a user's file named like a tensor file, whose bytes do not match its name: train refuses, leaves it",
        argv=T(), setup=misnamed, writes=True, contains=r'did not write \(weights-0123456789abcdef\.safetensors\)')

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
    add('onboard-answers', "printf '99\\n-1\\nabc\\n4\\n' | python -m collab_recs.cli onboard (a real process)", argv=ob, stdin='99\n-1\nabc\n4\n', setup=G(),
        expect='ok', real=True, check=check_text(r'From your 1 rating'))
    # onboarding a model of each other kind: answers are 'have it' (any text) or Enter; an item-item model may also refuse, in one line
    for base, kind in (('R', 'a ranking'), ('K', 'an item-item'), ('E', 'an EASE')):
        for name, text, n in (("4, Enter, 5", '4\n\n5\n', 2), ("nothing (EOF at once)", '', 0), ("q", 'q\n', 0)):
            pat = r'From the %d item' % n if n else r'No item seen yet'
            add('onboard-answers', f"onboard {kind} model, answers: {name}", argv=ob, stdin=text, setup=model_setup(base), expect='ok' if base == 'R' else 'either',
                check=check_text(pat))
        add('onboard-answers', f"onboard {kind} model (a real process)", argv=ob, stdin='4\n', setup=model_setup(base), expect='ok' if base == 'R' else 'either',
            real=True, check=check_text(r'From the 1 item'))

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
    add('id-text', "users '7', '007', '+7', '-0', '0', '7.0', '0x7', Arabic-Indic 7 stay distinct", argv=T('{in}/users_variants.csv'), expect='ok', writes=True,
        check=vocab_has('out', ['7', '007', '+7', '-0', '0', '7.0', '0x7', '٧']))
    add('id-text', "users ' 10 ' and '11 ' are users 10 and 11: spaces around ids are not part of them", argv=T('{in}/users_spaces.csv'),
        expect='ok', writes=True, check=vocab_has('out', ['10', '11'], exact_int=True))
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
    for u in ('007', '7', '+7', '-0', '0', '7.0', '٧'):
        add('id-text', f"recommend --user {u!r} on a model knowing '7', '007', '+7', ...", argv=['recommend', '--model', '{model}', '--user', u, '-n', '2', '--json'],
            setup=G(base='V'), expect='ok', check=recs_for(u))
    for u in ('07', '0007', '+07', '7 ', ' 7'):
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
    for name, argv in [("--recipe itemknn --set k=10**12 (more neighbours than items)", knn_argv('{in}/interactions.csv', '--set', f'k={10**12}')),
                       ("--recipe ease --set k=10**12", knn_argv('{in}/interactions.csv', '--set', f'k={10**12}', recipe='ease')),
                       ("--recipe ranking-sampled --set n_negatives=10**12", ['train', '--data', '{in}/interactions.csv', '--out', '{out}', '--recipe', 'ranking-sampled',
                        '--factors', '4', '--epochs', '1', '--set', f'n_negatives={10**12}', '--no-plots', '--show-recs', '0'])]:
        add('impossible-sizes', f"train {name}", argv=argv, expect='either', writes=True, check=check_trained(), timeout=120)
    for name, argv, chk in [("recommend -n 10**18 (item-item model)", ['recommend', '--model', '{model}', '--user', '3', '-n', str(10**18), '--json'], check_json('score')),
                            ("recommend --user unknown -n 10**18 (item-item model: a newcomer's list)", ['recommend', '--model', '{model}', '--user', 'nosuch', '-n', str(10**18), '--json'],
                             check_newcomer('nosuch')),
                            ("similar -n 10**18 (item-item model)", ['similar', '--model', '{model}', '--item', '3', '-n', str(10**18), '--json'], check_json('similarity'))]:
        add('impossible-sizes', name, argv=argv, setup=K(), expect='ok', check=chk)
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

    # ---- (12) malformed model.json (format 4), and (13) content with valid checksums
    big = 100000
    mj = [  # (name, mutation, expect)
        ("files.weights.sha256 null", jset('files', 'weights', 'sha256', value=None)),
        ("files.rated.sha256 null", jset('files', 'rated', 'sha256', value=None)),
        ("files.weights.sha256 uppercase", lambda p, ws: jset('files', 'weights', 'sha256', value=cfg_of(p)['files']['weights']['sha256'].upper())(p, ws)),
        ("files.weights.sha256 of another file", lambda p, ws: jset('files', 'weights', 'sha256', value=cfg_of(p)['files']['rated']['sha256'])(p, ws)),
        ("files.weights.name ../../in/ratings.csv", jset('files', 'weights', 'name', value='../../in/ratings.csv')),
        ("files.weights.name /etc/passwd", jset('files', 'weights', 'name', value='/etc/passwd')),
        ("files.weights.name model.json", jset('files', 'weights', 'name', value='model.json')),
        ("files.weights.name weights.pt (0.2's name)", jset('files', 'weights', 'name', value='weights.pt')),
        ("files.weights.size -1", jset('files', 'weights', 'size', value=-1)),
        ("files.weights.size 1e400", jset('files', 'weights', 'size', value=Raw('1e400'))),
        ("files.weights.size '2360' (text)", lambda p, ws: jset('files', 'weights', 'size', value=str(cfg_of(p)['files']['weights']['size']))(p, ws)),
        ("files.weights.size as a float", lambda p, ws: jset('files', 'weights', 'size', value=float(cfg_of(p)['files']['weights']['size']))(p, ws)),
        ("files.weights.size true", jset('files', 'weights', 'size', value=True)),
        ("files.weights.size 10**30", jset('files', 'weights', 'size', value=10**30)),
        ("files.weights null", jset('files', 'weights', value=None)),
        ("files null", jset('files', value=None)), ("files []", jset('files', value=[])), ("files {}", jset('files', value={})),
        ("files missing", jset('files', delete=True)), ("files with an extra entry", jset('files', 'evil', value={'name': 'x', 'sha256': '0' * 64, 'size': 1})),
        ("files.rated missing, its file removed (a rating model without its pairs)", lambda p, ws: ((p/tensor_name(p, 'rated')).unlink(), jset('files', 'rated', delete=True)(p, ws)), 'ok'),
        ("files.weights and files.rated swapped", jfn(lambda c: c['files'].update(weights=c['files']['rated'], rated=c['files']['weights']))),
        ("format null", jset('format', value=None)), ("format 'collab_recs/model/5'", jset('format', value='collab_recs/model/5')),
        ("format 'collab_recs/model/3'", jset('format', value='collab_recs/model/3')), ("format 4 (a number)", jset('format', value=4)),
        ("format 'collab_recs/model/4 ' (a trailing space)", jset('format', value='collab_recs/model/4 ')), ("format missing", jset('format', delete=True)),
        ("format ['collab_recs/model/4']", jset('format', value=['collab_recs/model/4'])),
        ("format 'collab_recs/DotProductBias/3' on format-4 fields", jset('format', value='collab_recs/DotProductBias/3')),
        ("format 'collab_recs/DotProductBias/4' (never existed)", jset('format', value='collab_recs/DotProductBias/4')),
        ("whole file: deep nesting [[[...]]] 100,000 levels", jtext('[' * big + ']' * big)),
        ("whole file: deep nesting {\"a\":{...}} 100,000 levels", jtext('{"a":' * big + '1' + '}' * big)),
        ("meta nested 100,000 levels", lambda p, ws: (p/'model.json').write_text((p/'model.json').read_text().replace('"meta": {', '"meta": {"deep": ' + '[' * big + ']' * big + ', ', 1))),
        ("options nested 100,000 levels", lambda p, ws: (p/'model.json').write_text((p/'model.json').read_text().replace('"options": {', '"options": {"deep": ' + '[' * big + ']' * big + ', ', 1))),
        ("a user_vocab entry nested 100,000 levels", lambda p, ws: (p/'model.json').write_text((p/'model.json').read_text().replace('"user_vocab": ["#na#", 0', '"user_vocab": ["#na#", ' + '[' * big + ']' * big, 1))),
        ("meta nested 60 levels (allowed)", lambda p, ws: jset('meta', 'deep', value=json.loads('[' * 60 + ']' * 60))(p, ws), 'ok'),
        ("whole file: empty", jtext('')), ("whole file: null", jtext('null')), ("whole file: []", jtext('[]')), ("whole file: a string", jtext('"model"')),
        ("whole file: 1e400", jtext('1e400')), ("whole file: NaN", jtext('NaN')), ("whole file: not JSON", jtext('{"format": "collab_recs/model/4", "kind": "rating", oops')),
        ("whole file: binary", jtext(bytes(range(256)))), ("whole file: trailing garbage", lambda p, ws: jtext((p/'model.json').read_bytes() + b' }{ garbage')(p, ws)),
        ("whole file: UTF-16 (JSON allows it)", lambda p, ws: jtext((p/'model.json').read_text().encode('utf-16'))(p, ws), 'either'),
        ("whole file: with a UTF-8 byte-order mark", lambda p, ws: jtext(b'\xef\xbb\xbf' + (p/'model.json').read_bytes())(p, ws), 'either'),
        ("whole file: invalid UTF-8 in a string", lambda p, ws: jtext((p/'model.json').read_bytes().replace(b'"ratings"', b'"\xff\xfe"', 1))(p, ws), 'either'),
        ("whole file: a key repeated (kind 'rating' then 'nosuch')", lambda p, ws: (p/'model.json').write_text((p/'model.json').read_text().replace('"kind": "rating"', '"kind": "rating", "kind": "nosuch"', 1))),
        ("whole file: a key repeated (kind 'nosuch' then 'rating')", lambda p, ws: (p/'model.json').write_text((p/'model.json').read_text().replace('"kind": "rating"', '"kind": "nosuch", "kind": "rating"', 1)), 'either'),
        ("an unknown extra key", jset('extra', value={'x': 1}), 'ok'),
        ("0.2's top-level fields beside format 4's (n_users -1, objective 'x': ignored)", jfn(lambda c: c.update(n_users=-1, n_factors=10**12, objective='x')), 'either'),
        ("kind missing", jset('kind', delete=True)), ("options missing", jset('options', delete=True)),
        ("user_vocab missing", jset('user_vocab', delete=True)), ("item_vocab missing", jset('item_vocab', delete=True)),
        ("titles null (allowed)", jset('titles', value=None), 'ok'), ("titles missing (allowed)", jset('titles', delete=True), 'ok'),
        ("meta missing (allowed)", jset('meta', delete=True), 'either'),
    ]
    for label, v in (('null', None), ("'nosuch'", 'nosuch'), ('5', 5), ("['rating']", ['rating']), ("'RATING'", 'RATING'), ("'' (empty)", ''),
                     ("{'rating': 1}", {'rating': 1}), ("'__class__'", '__class__'), ("'collab_recs.model:DotProductBias' (a class path)", 'collab_recs.model:DotProductBias'),
                     ("'os:system' (a callable's path)", 'os:system'), ("'itemknn' (on a rating model)", 'itemknn'), ("'ease' (on a rating model)", 'ease'),
                     ("'ranking' (on a rating model: the same tables)", 'ranking')):
        mj.append((f"kind {label}", jset('kind', value=v), 'either' if 'same tables' in label else 'refused'))
    for label, v in (('null', None), ('[]', []), ("'abc'", 'abc'), ('5', 5), ('{} (nothing in it)', {})):
        mj.append((f"options {label}", jset('options', value=v)))
    for label, v in (('null', None), ('-1', -1), ('0', 0), ('1e400', Raw('1e400')), ('10**12', 10**12), ('10**400', Raw('1' + '0' * 400)), ("'4' (text)", '4'),
                     ('4.0', 4.0), ('4.5', 4.5), ('true', True), ('[4]', [4]), ('NaN', Raw('NaN')), ('-1e400', Raw('-1e400')), ('missing', None)):
        mj.append((f"options.n_factors {label}", jset('options', 'n_factors', value=v, delete=label == 'missing')))
    for label, v in (("'x'", 'x'), ('Infinity', Raw('Infinity')), ('NaN', Raw('NaN')), ('100 (outside y_range)', 100), ('true', True), ('[3]', [3]), ('0 (y_range\'s bound)', 0)):
        mj.append((f"options.centre {label}", jset('options', 'centre', value=v)))
    mj += [("options.centre 3 (inside y_range: allowed)", jset('options', 'centre', value=3.), 'ok'), ("options.centre missing (allowed)", jset('options', 'centre', delete=True), 'ok'),
           ("options with an unknown key", jset('options', 'evil', value={'x': 1}), 'either'), ("options.nnz on a rating model", jset('options', 'nnz', value=-1), 'either')]
    for k in ('user_vocab', 'item_vocab'):
        for label, f in (('with a list entry', lambda v: v.__setitem__(3, [1, 2])), ('with a dict entry', lambda v: v.__setitem__(3, {'a': 1})),
                         ('with a float entry', lambda v: v.__setitem__(3, 1.5)), ('with a bool entry', lambda v: v.__setitem__(3, True)),
                         ('with a null entry', lambda v: v.__setitem__(3, None)), ('with a repeated id', lambda v: v.__setitem__(3, v[4])),
                         ("without '#na#' first", lambda v: v.__setitem__(0, 'x')), ('one entry short', lambda v: v.pop()), ('one entry long', lambda v: v.append(99999))):
            mj.append((f"{k} {label}", jfn(lambda c, k=k, f=f: (f(c[k]), k == 'item_vocab' and c['titles'] is not None and c.__setitem__('titles', c['titles'][:len(c[k])] + [None] * (len(c[k]) - len(c['titles'])))))))
        for label, v in (('null', None), ('a string', 'abc'), ('empty', []), ("['#na#'] only", ['#na#'])):
            mj.append((f"{k} {label}", jset(k, value=v)))
    for label, v in (('a dict', lambda: {'1': 'x'}), ('a string', 'abc'), ('numbers', lambda: [None] + list(range(40))), ('one short', lambda: [None] + ['t'] * 39),
                     ('a nested list', lambda: [None] + [['t']] * 40)):
        mj.append((f"titles {label}", jset('titles', value=v)))
    for label, v in (('a list', []), ('a string', 'abc'), ('a number', 5), ('null', None)):
        mj.append((f"meta {label}", jset('meta', value=v), 'either' if label == 'null' else 'refused'))
    mj += [(f"meta.options{label}", m, 'either') for label, m in (
           (" a list", jset('meta', 'options', value=[1, 2])), (".data a missing file", jset('meta', 'options', 'data', value='/nonexistent/r.csv')),
           (" with an unknown option", jset('meta', 'options', 'evil', value=1)), (".factors -1", jset('meta', 'options', 'factors', value=-1)),
           (".recipe unknown", jset('meta', 'options', 'recipe', value='nosuch')), (".recipe 'auto'", jset('meta', 'options', 'recipe', value='auto')),
           (".recipe 'itemknn' (another kind than the model's)", jset('meta', 'options', 'recipe', value='itemknn')), (".valid_pct 5", jset('meta', 'options', 'valid_pct', value=5)),
           (".seed 'x'", jset('meta', 'options', 'seed', value='x')), (".rating_range [1]", jset('meta', 'options', 'rating_range', value=[1])),
           (".split 'nosuch'", jset('meta', 'options', 'split', value='nosuch')), (".data a folder", jset('meta', 'options', 'data', value='/')),
           (".set null", jset('meta', 'options', 'set', value=None)), (".set 5", jset('meta', 'options', 'set', value=5)), (".set 'abc'", jset('meta', 'options', 'set', value='abc')),
           (".set [[1, 2, 3]]", jset('meta', 'options', 'set', value=[[1, 2, 3]])), (".set [['nosuch', 1]]", jset('meta', 'options', 'set', value=[['nosuch', 1]])),
           (".set [[['k'], 1]] (an unhashable key)", jset('meta', 'options', 'set', value=[[['k'], 1]])))]
    mj.append(("model.json is a directory", lambda p, ws: ((p/'model.json').unlink(), (p/'model.json').mkdir())))
    mj.append(("the weights file is a directory", lambda p, ws: ((p/tensor_name(p, 'weights')).unlink(), (p/tensor_name(p, 'weights')).mkdir())))
    mj.append(("the rated file is a directory", lambda p, ws: ((p/tensor_name(p, 'rated')).unlink(), (p/tensor_name(p, 'rated')).mkdir())))
    mj.append(("model.json missing", lambda p, ws: (p/'model.json').unlink()))
    mj.append(("the model folder is empty", lambda p, ws: [f.unlink() for f in p.iterdir()]))
    meta_readers = ('evaluate',)  # meta.options only matters to evaluate --model
    for item in mj:
        name, mutate, expect = (*item, 'refused')[:3]
        only = meta_readers if name.startswith('meta.options') else None
        kw = dict(check=None) if 'same tables' in name else {}  # read as a ranking model: no RMSE, other onboarding words
        against_readers('model-json', name, G(mutate), expect=expect, only=only, contains='trained again' if 'DotProductBias/3' in name else None, **kw)
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
        ("the weights of an item-item model (indptr, indices, data)", put_tensor_bytes('weights', lambda ws, b: (ws['base']/'K'/tensor_name(ws['base']/'K', 'weights')).read_bytes())),
        ("pairs beyond the vocabularies", put_tensors('rated', lambda sd: {**sd, 'pairs': sd['pairs'] + 1000})),
        ("negative pairs", put_tensors('rated', lambda sd: {**sd, 'pairs': sd['pairs'] - 1000})),
        ("pairs as float", put_tensors('rated', lambda sd: {**sd, 'pairs': sd['pairs'].float()})),
        ("pairs of shape (n,)", put_tensors('rated', lambda sd: {**sd, 'pairs': sd['pairs'][:, 0].contiguous()})),
        ("pairs of shape (n, 3)", put_tensors('rated', lambda sd: {**sd, 'pairs': torch.cat([sd['pairs'], sd['pairs'][:, :1]], 1)})),
        ("no pairs (only ratings)", put_tensors('rated', lambda sd: {'ratings': sd['ratings']})),
        ("NaN among the saved ratings", put_tensors('rated', lambda sd: {**sd, 'ratings': sd['ratings'].index_fill(0, torch.tensor([0]), float('nan'))})),
        ("ratings one short of the pairs", put_tensors('rated', lambda sd: {**sd, 'ratings': sd['ratings'][:-1].contiguous()})),
        ("ratings as int", put_tensors('rated', lambda sd: {**sd, 'ratings': sd['ratings'].int()})),
        ("no pairs rated at all (empty)", put_tensors('rated', lambda sd: {'pairs': torch.zeros(0, 2, dtype=torch.int32), 'ratings': torch.zeros(0)}), 'either'),
        ("options.y_range [1]", jset('options', 'y_range', value=[1])), ("options.y_range []", jset('options', 'y_range', value=[])),
        ("options.y_range null", jset('options', 'y_range', value=None)), ("options.y_range missing", jset('options', 'y_range', delete=True)),
        ("options.y_range [5, 1]", jset('options', 'y_range', value=[5, 1])), ("options.y_range [1, 1]", jset('options', 'y_range', value=[1, 1])),
        ("options.y_range [0, NaN]", jset('options', 'y_range', value=Raw('[0, NaN]'))), ("options.y_range [NaN, 5]", jset('options', 'y_range', value=Raw('[NaN, 5]'))),
        ("options.y_range [0, Infinity]", jset('options', 'y_range', value=Raw('[0, Infinity]'))), ("options.y_range [-Infinity, 5]", jset('options', 'y_range', value=Raw('[-Infinity, 5]'))),
        ("options.y_range [0, 1e400]", jset('options', 'y_range', value=Raw('[0, 1e400]'))), ("options.y_range ['0', '5.5']", jset('options', 'y_range', value=['0', '5.5'])),
        ("options.y_range [true, 5]", jset('options', 'y_range', value=[True, 5])), ("options.y_range [0, 5, 6]", jset('options', 'y_range', value=[0, 5, 6])),
        ("options.y_range '0,5.5'", jset('options', 'y_range', value='0,5.5')), ("options.y_range [0, 1e300]", jset('options', 'y_range', value=[0, 1e300])),
        ("options.y_range [-1e20, 1e20] (finite, huge)", jset('options', 'y_range', value=[-1e20, 1e20]), 'either'),
        ("user_vocab a dict", jfn(lambda c: c.__setitem__('user_vocab', {str(i): v for i, v in enumerate(c['user_vocab'])}))),
        ("item_vocab a dict", jfn(lambda c: c.__setitem__('item_vocab', {str(i): v for i, v in enumerate(c['item_vocab'])}))),
        ("options.n_factors 5 (one more than the tensors)", jset('options', 'n_factors', value=5)), ("options.n_factors 3 (one fewer)", jset('options', 'n_factors', value=3)),
        ("user_vocab one longer than the tensors (a new id)", jfn(lambda c: c['user_vocab'].append(10**6))),
        ("item_vocab and titles one shorter than the tensors", jfn(lambda c: (c['item_vocab'].pop(), c['titles'].pop()))),
    ]
    for item in mc:
        name, mutate, expect = (*item, 'refused')[:3]
        against_readers('model-content', name, G(mutate), expect=expect)
    # a ranking model: its own tables and options
    against_readers('model-content', "a good ranking model (R)", model_setup('R'), expect='ok', kind='ranking')
    for name, mutate, expect in [
            ("NaN in item_factors", put_tensors('weights', lambda sd: {**sd, 'item_factors.weight': sd['item_factors.weight'].index_fill(0, torch.tensor([1]), float('nan'))}), 'refused'),
            ("options.y_range [0, NaN]", jset('options', 'y_range', value=Raw('[0, NaN]')), 'refused'),
            ("options.n_factors 5", jset('options', 'n_factors', value=5), 'refused'),
            ("kind 'rating' (its tables read as a rating model)", jset('kind', value='rating'), 'either')]:
        against_readers('model-content', f"ranking model: {name}", model_setup('R', mutate), expect=expect, kind='ranking', **({'check': None} if expect == 'either' else {}))

    # ---- item-item folders (K: itemknn, E: ease): the sparse weights (CSR), their options and the required training pairs
    def csr(f):
        "the weights' CSR tensors changed by f(indptr, indices, data) -> dict of replacements (model.json's checksums follow)"
        return put_tensors('weights', lambda sd: {**sd, **f(sd['indptr'].clone(), sd['indices'].clone(), sd['data'].clone())})
    def not_rising(p, i, d):
        j = len(p) // 2; p[j] = p[j + 1] + 1; return {'indptr': p}
    def set_at(t, j, v): t[j] = v; return t
    ii = [
        ("indptr not rising (one row pointer above the next)", csr(not_rising)),
        ("indptr one entry short", csr(lambda p, i, d: {'indptr': p[:-1].contiguous()})),
        ("indptr one entry long", csr(lambda p, i, d: {'indptr': torch.cat([p, p[-1:]])})),
        ("indptr empty", csr(lambda p, i, d: {'indptr': p[:0].contiguous()})),
        ("indptr not starting at 0", csr(lambda p, i, d: {'indptr': p + 1})),
        ("indptr ending beyond nnz", csr(lambda p, i, d: {'indptr': set_at(p, -1, p[-1] + 5)})),
        ("indptr with a negative entry", csr(lambda p, i, d: {'indptr': set_at(p, 1, -1)})),
        ("indptr as int32", csr(lambda p, i, d: {'indptr': p.int()})),
        ("indptr as float", csr(lambda p, i, d: {'indptr': p.double()})),
        ("indptr 2-D", csr(lambda p, i, d: {'indptr': p[None].contiguous()})),
        ("an index equal to the number of items", lambda pth, ws: csr(lambda p, i, d: {'indices': set_at(i, 0, len(cfg_of(pth)['item_vocab']))})(pth, ws)),
        ("an index of -1", csr(lambda p, i, d: {'indices': set_at(i, 0, -1)})),
        ("an index of 2**31 - 1", csr(lambda p, i, d: {'indices': set_at(i, len(i) // 2, 2**31 - 1)})),
        ("indices as float", csr(lambda p, i, d: {'indices': i.float()})),
        ("indices as int64 (allowed)", csr(lambda p, i, d: {'indices': i.long()}), 'ok'),
        ("indices one short of data", csr(lambda p, i, d: {'indices': i[:-1].contiguous()})),
        ("indices 2-D", csr(lambda p, i, d: {'indices': i[None].contiguous()})),
        ("NaN in data", csr(lambda p, i, d: {'data': set_at(d, 0, float('nan'))})),
        ("inf in data", csr(lambda p, i, d: {'data': set_at(d, len(d) // 2, float('inf'))})),
        ("-inf in data", csr(lambda p, i, d: {'data': set_at(d, -1, float('-inf'))})),
        ("every weight NaN", csr(lambda p, i, d: {'data': torch.full_like(d, float('nan'))})),
        ("data as float64", csr(lambda p, i, d: {'data': d.double()})),
        ("data as float16", csr(lambda p, i, d: {'data': d.half()})),
        ("data as int32", csr(lambda p, i, d: {'data': d.int()})),
        ("data one longer than indices", csr(lambda p, i, d: {'data': torch.cat([d, d[:1]])})),
        ("weights of 1e30 (finite)", csr(lambda p, i, d: {'data': torch.full_like(d, 1e30)}), 'either'),
        ("negative weights", csr(lambda p, i, d: {'data': -d}), 'either'),
        ("no weights at all (nnz 0, indptr all 0)", lambda pth, ws: (csr(lambda p, i, d: {'indptr': torch.zeros_like(p), 'indices': i[:0].contiguous(), 'data': d[:0].contiguous()})(pth, ws),
                                                                     jset('options', 'nnz', value=0)(pth, ws)), 'either'),
        ("indptr missing", put_tensors('weights', lambda sd: {k: v for k, v in sd.items() if k != 'indptr'})),
        ("an extra tensor", put_tensors('weights', lambda sd: {**sd, 'evil': torch.zeros(3)})),
        ("no tensors at all", put_tensors('weights', lambda sd: {})),
        ("the weights of a rating model (checksums updated)", put_tensor_bytes('weights', lambda ws, b: (ws['base']/'G'/tensor_name(ws['base']/'G', 'weights')).read_bytes())),
        ("options.nnz one more than the tensors", lambda p, ws: jset('options', 'nnz', value=cfg_of(p)['options']['nnz'] + 1)(p, ws)),
        ("options.nnz one fewer than the tensors", lambda p, ws: jset('options', 'nnz', value=cfg_of(p)['options']['nnz'] - 1)(p, ws)),
        ("options.nnz 0", jset('options', 'nnz', value=0)), ("options.nnz -1", jset('options', 'nnz', value=-1)), ("options.nnz null", jset('options', 'nnz', value=None)),
        ("options.nnz missing", jset('options', 'nnz', delete=True)), ("options.nnz true", jset('options', 'nnz', value=True)),
        ("options.nnz as text", lambda p, ws: jset('options', 'nnz', value=str(cfg_of(p)['options']['nnz']))(p, ws)),
        ("options.nnz as a float (the same number)", lambda p, ws: jset('options', 'nnz', value=float(cfg_of(p)['options']['nnz']))(p, ws), 'either'),
        ("options.nnz 10**12", jset('options', 'nnz', value=10**12)), ("options.nnz 1e400", jset('options', 'nnz', value=Raw('1e400'))),
        ("options.nnz NaN", jset('options', 'nnz', value=Raw('NaN'))), ("options.nnz [800]", lambda p, ws: jset('options', 'nnz', value=[cfg_of(p)['options']['nnz']])(p, ws)),
        ("options.k 'x' (not used to score)", jset('options', 'k', value='x'), 'either'), ("options.alpha NaN", jset('options', 'alpha', value=Raw('NaN')), 'either'),
        ("options.k missing", jset('options', 'k', delete=True), 'either'), ("options null", jset('options', value=None)), ("options []", jset('options', value=[])),
        ("the rated file missing, and its entry (an item-item model needs its pairs)", lambda p, ws: ((p/tensor_name(p, 'rated')).unlink(), jset('files', 'rated', delete=True)(p, ws))),
        ("the rated file missing (its entry kept)", lambda p, ws: (p/tensor_name(p, 'rated')).unlink()),
        ("the rated file's pairs beyond the vocabularies", put_tensors('rated', lambda sd: {**sd, 'pairs': sd['pairs'] + 1000})),
        ("the rated file's pairs as float", put_tensors('rated', lambda sd: {**sd, 'pairs': sd['pairs'].float()})),
        ("the rated file with NaN ratings beside the pairs", put_tensors('rated', lambda sd: {**sd, 'ratings': torch.full((len(sd['pairs']),), float('nan'))})),
        ("the rated file with no pairs (empty)", put_tensors('rated', lambda sd: {'pairs': torch.zeros(0, 2, dtype=torch.int32)}), 'either'),
        ("the rated file holding a rating model's pairs and ratings", put_tensor_bytes('rated', lambda ws, b: (ws['base']/'G'/tensor_name(ws['base']/'G', 'rated')).read_bytes()), 'either'),
        ("kind 'rating' (sparse weights read as a rating model)", jset('kind', value='rating')),
        ("kind 'ranking'", jset('kind', value='ranking')),
        ("kind 'ease' (the same class)", jset('kind', value='ease'), 'either'),
        ("item_vocab one entry short (and titles)", jfn(lambda c: (c['item_vocab'].pop(), c['titles'].pop()))),
        ("item_vocab one entry long (and titles)", jfn(lambda c: (c['item_vocab'].append(99999), c['titles'].append(None)))),
        ("user_vocab one entry short", jfn(lambda c: c['user_vocab'].pop())),
        ("user_vocab one entry long (a user without pairs)", jfn(lambda c: c['user_vocab'].append(99999)), 'either'),
    ]
    against_readers('item-item-content', "a good item-item model (K)", K(), expect='ok', kind='itemknn')
    against_readers('item-item-content', "a good EASE model (E)", model_setup('E'), expect='ok', kind='ease')
    for item in ii:
        name, mutate, expect = (*item, 'refused')[:3]
        kw = {'check': None} if name.startswith("kind 'ease'") else {}
        against_readers('item-item-content', name, K(mutate), expect=expect, kind='itemknn',
                        contains='training pairs' if name.startswith('the rated file missing, and') else None, **kw)
    for name, base, mutate, expect, kind in [("EASE model: NaN in data", 'E', csr(lambda p, i, d: {'data': set_at(d, 0, float('nan'))}), 'refused', 'ease'),
                                             ("EASE model: indptr not rising", 'E', csr(not_rising), 'refused', 'ease'),
                                             ("EASE model: the rated file missing, and its entry", 'E', lambda p, ws: ((p/tensor_name(p, 'rated')).unlink(), jset('files', 'rated', delete=True)(p, ws)), 'refused', 'ease'),
                                             ("EASE model: kind 'itemknn' (the same class)", 'E', jset('kind', value='itemknn'), 'either', 'ease'),
                                             ("rating model: kind 'itemknn' (dense tables read as sparse weights)", 'G', jset('kind', value='itemknn'), 'refused', 'rating'),
                                             ("rating model: kind 'itemknn' and options.nnz of its tables", 'G', jfn(lambda c: (c.__setitem__('kind', 'itemknn'), c['options'].__setitem__('nnz', 100))), 'refused', 'rating'),
                                             ("ranking model: kind 'ease'", 'R', jset('kind', value='ease'), 'refused', 'ranking')]:
        against_readers('item-item-content', name, model_setup(base, mutate), expect=expect, kind=kind, **({'check': None} if expect == 'either' else {}))

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
    add('special-files', "train --data a FIFO [a real process]", argv=T('{d}/r.csv'), setup=lambda ws: os.mkfifo(ws['d']/'r.csv'), real=True)

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
        "0.2's torch file `name` replaced by `data`, its checksum in model.json updated where the format has one (format 2)"
        def mutate(p, ws):
            d = data(ws); (p/name).write_bytes(d)
            cfg = cfg_of(p)
            if 'sha256' in cfg: cfg['sha256'][name] = sha(d); put_cfg(p, cfg)
        return mutate
    def weights_pt_named(data):
        "files.weights pointing at a file named weights.pt holding `data`, with its true sha256 and size"
        def mutate(p, ws):
            d = data(ws); (p/'weights.pt').write_bytes(d)
            cfg = cfg_of(p); cfg['files']['weights'] = dict(name='weights.pt', sha256=sha(d), size=len(d)); put_cfg(p, cfg)
        return mutate
    ce = [("model.json a pickle", G(jtext(payload))),
          ("the weights file a pickle (checksums updated)", G(put_tensor_bytes('weights', lambda ws, b: payload(ws)))),
          ("the weights file a torch file with a payload (checksums updated)", G(put_tensor_bytes('weights', lambda ws, b: torch_payload(ws)))),
          ("the rated file a pickle (checksums updated)", G(put_tensor_bytes('rated', lambda ws, b: payload(ws)))),
          ("the rated file a torch file with a payload (checksums updated)", G(put_tensor_bytes('rated', lambda ws, b: torch_payload_rated(ws)))),
          ("the weights file a pickle (checksums not updated)", G(put_tensor_bytes('weights', lambda ws, b: payload(ws), meta=False))),
          ("files.weights names weights.pt, a torch file with a payload (true sha256 and size)", G(weights_pt_named(torch_payload))),
          ("format 4 folder with a payload weights.pt and rated.pt beside it", G(lambda p, ws: ((p/'weights.pt').write_bytes(torch_payload(ws)), (p/'rated.pt').write_bytes(payload(ws)))), 'ok'),
          ("the lock file a pickle", G(lambda p, ws: (p/LOCK).write_bytes(payload(ws))), 'ok'),
          ("a tensor file name holding a pickle whose bytes do not match its name (not a leftover of ours: never read)", G(lambda p, ws: (p/'weights-0123456789abcdef.safetensors').write_bytes(payload(ws))), 'ok', 'rating',
           dict(may_change=r'^model/weights-0123456789abcdef\.safetensors$')),
          ("item-item model: the weights file a torch file with a payload (checksums updated)", K(put_tensor_bytes('weights', lambda ws, b: torch_payload(ws))), 'refused', 'itemknn'),
          ("item-item model: the rated file a pickle (checksums updated)", K(put_tensor_bytes('rated', lambda ws, b: payload(ws))), 'refused', 'itemknn'),
          ("item-item model: model.json a pickle", K(jtext(payload)), 'refused', 'itemknn'),
          ("item-item model: kind 'os:system'", K(jset('kind', value='os:system')), 'refused', 'itemknn'),
          ("item-item model: files.weights names weights.pt with a payload", K(weights_pt_named(torch_payload)), 'refused', 'itemknn')]
    for item in ce:
        name, setup, expect, kind, kw = (*item, *('refused', 'rating', {})[len(item) - 2:])
        against_readers('code-execution', name, setup, expect=expect, kind=kind, **kw)
    def old_payload(ws):
        model_setup('O2', where='out/.model.old-4242', mutate=old_file('weights.pt', torch_payload))(ws)
    add('code-execution', "0.2's interrupted save (.model.old-PID) whose weights.pt holds a payload: load_model", fn=api_load,
        setup=lambda ws: (old_payload(ws), ws.__setitem__('model', ws['d']/'out'/'model')), errors=('ModelFileError',))
    add('code-execution', "the same: train --out over it (the folder left as it is)", argv=T(), setup=old_payload, writes=True, expect='ok',
        check=checks(check_trained(), check_kept('out/.model.old-4242')))
    for f in ('payload.csv', 'payload.parquet'):
        add('code-execution', f"train --data {f} (a pickle)", argv=T('{in}/' + f), before_training=True)
        add('code-execution', f"train --recipe itemknn --data {f} (a pickle)", argv=knn_argv('{in}/' + f), before_training=True)
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
          ("the weights file as 0.2's torch file (checksums updated)", put_tensor_bytes('weights', lambda ws, b: (ws['base']/'O2'/'weights.pt').read_bytes()))]
    for item in tf:
        name, mutate, expect = (*item, 'refused')[:3]
        against_readers('tensor-files', name, G(mutate), expect=expect)
    for item in [("the weights file truncated (checksums updated)", put_tensor_bytes('weights', lambda ws, b: b[:len(b) // 2])),
                 ("the weights file with one bit flipped", put_tensor_bytes('weights', flip, meta=False)),
                 ("the weights file's dtypes lie (checksums updated)", put_tensor_bytes('weights', dtype_lie)),
                 ("the weights file's offsets point far beyond it (checksums updated)", put_tensor_bytes('weights', offsets_lie)),
                 ("the weights file of the EASE model (checksums updated)", put_tensor_bytes('weights', lambda ws, b: (ws['base']/'E'/tensor_name(ws['base']/'E', 'weights')).read_bytes()), 'either'),
                 ("the weights file missing", lambda p, ws: (p/tensor_name(p, 'weights')).unlink()),
                 ("the weights and rated files swapped", lambda p, ws: (lambda w, r: (os.replace(p/w, p/'tmp'), os.replace(p/r, p/w), os.replace(p/'tmp', p/r)))(tensor_name(p, 'weights'), tensor_name(p, 'rated')))]:
        name, mutate, expect = (*item, 'refused')[:3]
        against_readers('tensor-files', f"item-item model: {name}", K(mutate), expect=expect, kind='itemknn', **({'check': None} if expect == 'either' else {}))

    # ---- old formats: refused in one line, never unpickled, never overwritten
    O = lambda fmt, mutate=None: model_setup(f'O{fmt}', mutate)
    old = [(f"a good format-{fmt} model", O(fmt)) for fmt in (1, 2, 3)]
    old += [("format 2: weights.pt a torch file with a payload (checksum updated)", O(2, old_file('weights.pt', torch_payload))),
            ("format 2: weights.pt a raw pickle (checksum updated)", O(2, old_file('weights.pt', payload))),
            ("format 2: rated.pt a torch file with a payload (checksum updated)", O(2, old_file('rated.pt', torch_payload_rated))),
            ("format 2: rated.pt a raw pickle (checksum updated)", O(2, old_file('rated.pt', payload))),
            ("format 1: weights.pt a torch file with a payload", O(1, old_file('weights.pt', torch_payload))),
            ("format 1: weights.pt a raw pickle", O(1, old_file('weights.pt', payload))),
            ("format 1: rated.pt a raw pickle", O(1, old_file('rated.pt', payload))),
            ("format 3 with a payload weights.pt beside its safetensors files", O(3, lambda p, ws: (p/'weights.pt').write_bytes(torch_payload(ws)))),
            ("format 2: sha256 wrong", O(2, jfn(lambda c: c['sha256'].__setitem__('weights.pt', '0' * 64)))),
            ("format 2: weights.pt a directory", O(2, lambda p, ws: ((p/'weights.pt').unlink(), (p/'weights.pt').mkdir()))),
            ("format 2: weights.pt a symlink to /dev/zero", O(2, lambda p, ws: ((p/'weights.pt').unlink(), os.symlink('/dev/zero', p/'weights.pt')))),
            ("format 2: model.json a pickle beside a payload weights.pt", O(2, seq(old_file('weights.pt', torch_payload), jtext(payload)))),
            ("format 1 relabelled 'collab_recs/model/4' (weights.pt with a payload, no files)", O(1, seq(old_file('weights.pt', torch_payload), jset('format', value='collab_recs/model/4')))),
            ("format 2 relabelled 'collab_recs/model/4' with format 4's kind and options (weights.pt with a payload, no files)",
             O(2, seq(old_file('weights.pt', torch_payload), jfn(lambda c: c.update(format='collab_recs/model/4', kind='rating', options=dict(n_factors=c['n_factors'], y_range=c['y_range'], centre=None))))))]
    for name, setup in old:
        must = None if 'relabelled' in name or 'model.json a pickle' in name else 'trained again'  # model.json intact: 0.2's format, said so
        against_readers('old-formats-refused', name, setup, contains=must)
    for fmt in (1, 2, 3):
        add('old-formats-refused', f"load_model on a good format-{fmt} model: the message says to train again", fn=api_load, setup=O(fmt), errors=('ModelFileError',),
            contains=r'collab_recs 0\.2 must be trained again')
        add('old-formats-refused', f"train --out over a format-{fmt} model: refused before training, its files kept (or replaced)", argv=T(), setup=model_setup(f'O{fmt}', where='out/model'),
            expect='either', writes=True, before_training=True, may_change=r'^out/model/(weights|rated)\.pt$', check=check_trained())
    add('old-formats-refused', "train --out over a format-2 model plus a foreign file", argv=T(), before_training=True,
        setup=lambda ws: (model_setup('O2', where='out/model')(ws), (ws['d']/'out'/'model'/'notes.txt').write_text('mine')))
    add('old-formats-refused', "save_model over a format-2 model whose weights.pt holds a payload (Python API)", fn=save_api('model', None),
        setup=O(2, old_file('weights.pt', torch_payload)), expect='either', writes=True, may_change=r'^model/(weights|rated)\.pt$',
        check=lambda ws, o: model_problem(ws['model']), errors=('FileExistsError',))
    add('old-formats-refused', "recommend on a format-2 model whose weights.pt holds a payload [a real process]", argv=['recommend', '--model', '{model}', '--user', '3'],
        setup=O(2, old_file('weights.pt', torch_payload)), real=True, contains='trained again')

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
    # ranking and item-item models: an unknown user gets a newcomer's list (exit 0, a note on stderr); a rating model refuses one
    R_, E_ = model_setup('R'), model_setup('E')
    rec = lambda user, *extra: ['recommend', '--model', '{model}', '--user', user, '-n', '3', '--json', *extra]
    for setup, kind in ((R_, 'a ranking'), (K(), 'an item-item'), (E_, 'an EASE')):
        add('cli-usage', f"recommend an unknown user of {kind} model: a newcomer's list", argv=rec('nosuch'), setup=setup, expect='ok', check=check_newcomer('nosuch', 3))
        add('cli-usage', f"recommend an unknown user of {kind} model: a newcomer's list [a real process]", argv=rec('nosuch'), setup=setup, expect='ok',
            check=check_newcomer('nosuch', 3), real=True)
    for name, argv, setup, expect, chk in [
            ("recommend --user '' (empty) of an item-item model", rec(''), K(), 'ok', check_newcomer('', 3)),
            ("recommend --user '#na#' of a ranking model", rec('#na#'), R_, 'ok', check_newcomer('#na#', 3)),
            ("recommend --user 10**30 of an item-item model", rec(str(10**30)), K(), 'ok', check_newcomer(str(10**30), 3)),
            ("recommend an unknown user of an item-item model -n 1000 (more than the catalogue)", ['recommend', '--model', '{model}', '--user', 'nosuch', '-n', '1000', '--json'], K(), 'ok', check_newcomer('nosuch', 40)),
            ("recommend an unknown user of an item-item model, --out a new CSV", ['recommend', '--model', '{model}', '--user', 'nosuch', '-n', '3', '--out', '{d}/new.csv'], K(), 'ok',
             lambda ws, o: None if (ws['d']/'new.csv').exists() and len((ws['d']/'new.csv').read_text().splitlines()) == 4 else "new.csv missing or not 3 rows"),
            ("recommend an unknown user of an item-item model, --out an existing file", ['recommend', '--model', '{model}', '--user', 'nosuch', '--out', '{d}/keep.csv'],
             lambda ws: (K()(ws), shutil.copy2(ws['in']/'ratings.csv', ws['d']/'keep.csv')), 'refused', None),
            ("recommend an unknown user of a rating model [a real process]", ['recommend', '--model', '{model}', '--user', 'nosuch'], G(), 'refused', None),
            ("recommend --all of an item-item model", ['recommend', '--model', '{model}', '--all', '-n', '2', '--json'], K(), 'ok', check_json('score')),
            ("recommend --include-rated of an item-item model", rec('3', '--include-rated'), K(), 'ok', check_json('score')),
            ("similar --user unknown of an item-item model", ['similar', '--model', '{model}', '--user', 'nosuch'], K(), 'refused', None),
            ("similar --user 3 of an item-item model", ['similar', '--model', '{model}', '--user', '3', '--json'], K(), 'ok', check_json('similarity')),
            ("similar an unknown item of an item-item model", ['similar', '--model', '{model}', '--item', 'nosuch title'], K(), 'refused', None),
            ("similar --user unknown of a ranking model", ['similar', '--model', '{model}', '--user', 'nosuch'], R_, 'refused', None),
            ("evaluate --model of an item-item model (a table, notes on better baselines)", ['evaluate', '--model', '{model}'], K(), 'ok',
             check_text(r'ranking metrics at k=10', absent=None)),
            ("evaluate --model of a rating model (a table)", ['evaluate', '--model', '{model}'], G(), 'ok', check_text(r'ranking metrics at k=10', absent=None)),
            ("onboard --rounds 0 of an item-item model", ['onboard', '--model', '{model}', '--rounds', '0'], K(), 'refused', None)]:
        add('cli-usage', name, argv=argv, setup=setup, expect=expect, check=chk, real='[a real process]' in name,
            contains='unknown user' if 'similar --user unknown' in name or 'rating model [a' in name else 'overwrite' if 'existing file' in name else None)
    # --set KEY=VALUE: any option of the recipe's kind, checked
    for name, argv, expect, contains in [
            ("train --set k=20 with a rating recipe", T('{in}/ratings.csv', '--set', 'k=20'), 'refused', 'unknown option'),
            ("train --recipe itemknn --set nosuch=1", knn_argv('{in}/interactions.csv', '--set', 'nosuch=1'), 'refused', 'unknown option'),
            ("train --recipe itemknn --set k=0", knn_argv('{in}/interactions.csv', '--set', 'k=0'), 'refused', 'k must'),
            ("train --recipe itemknn --set k=-1", knn_argv('{in}/interactions.csv', '--set', 'k=-1'), 'refused', 'k must'),
            ("train --recipe itemknn --set k=1e3 (not a whole number)", knn_argv('{in}/interactions.csv', '--set', 'k=1e3'), 'refused', 'k must'),
            ("train --recipe itemknn --set k=abc", knn_argv('{in}/interactions.csv', '--set', 'k=abc'), 'refused', 'k must'),
            ("train --recipe itemknn --set k=[20]", knn_argv('{in}/interactions.csv', '--set', 'k=[20]'), 'refused', 'k must'),
            ("train --recipe itemknn --set k=null (the default)", knn_argv('{in}/interactions.csv', '--set', 'k=null'), 'either', None),
            ("train --recipe itemknn --set k=true", knn_argv('{in}/interactions.csv', '--set', 'k=true'), 'either', None),
            ("train --recipe itemknn --set k (no '=')", knn_argv('{in}/interactions.csv', '--set', 'k'), 'refused', None),
            ("train --recipe itemknn --set =5 (no key)", knn_argv('{in}/interactions.csv', '--set', '=5'), 'refused', None),
            ("train --recipe itemknn --set 'k =20' (a space)", knn_argv('{in}/interactions.csv', '--set', 'k =20'), 'either', None),
            ("train --recipe itemknn --set alpha=NaN", knn_argv('{in}/interactions.csv', '--set', 'alpha=NaN'), 'either', None),
            ("train --recipe itemknn --set alpha=-5", knn_argv('{in}/interactions.csv', '--set', 'alpha=-5'), 'either', None),
            ("train --recipe itemknn --set beta=1e400", knn_argv('{in}/interactions.csv', '--set', 'beta=1e400'), 'either', None),
            ("train --recipe itemknn --set alpha='x'", knn_argv('{in}/interactions.csv', '--set', 'alpha=x'), 'refused', None),
            ("train --recipe itemknn --factors 4 (an option of another kind)", knn_argv('{in}/interactions.csv', '--factors', '4'), 'refused', 'unknown option'),
            ("train --recipe itemknn --centre", knn_argv('{in}/interactions.csv', '--centre'), 'refused', 'centre'),
            ("train --recipe ease --set lam=0", knn_argv('{in}/interactions.csv', '--set', 'lam=0', recipe='ease'), 'refused', 'lam'),
            ("train --recipe ease --set lam=NaN", knn_argv('{in}/interactions.csv', '--set', 'lam=NaN', recipe='ease'), 'refused', 'lam'),
            ("train --recipe ease --set lam=1e400", knn_argv('{in}/interactions.csv', '--set', 'lam=1e400', recipe='ease'), 'either', None),
            ("train --recipe ease --set lam=1e-30", knn_argv('{in}/interactions.csv', '--set', 'lam=1e-30', recipe='ease'), 'either', None),
            ("train --set n_factors=3 --set epochs=1 (a rating recipe's own options)", T('{in}/ratings.csv', '--set', 'n_factors=3', '--set', 'epochs=1'), 'ok', None),
            ("train --set loader=nosuch", T('{in}/ratings.csv', '--set', 'loader=nosuch'), 'refused', 'loader'),
            ("train --set model=svdpp", T('{in}/ratings.csv', '--set', 'model=svdpp'), 'ok', None),
            ("train --set model=nosuch", T('{in}/ratings.csv', '--set', 'model=nosuch'), 'refused', 'model'),
            ("train --set kind=itemknn (with a rating recipe)", T('{in}/ratings.csv', '--set', 'kind=itemknn'), 'refused', None),
            ("train --set epochs=0", T('{in}/ratings.csv', '--set', 'epochs=0'), 'refused', 'epochs'),
            ("train --set lr=-1", T('{in}/ratings.csv', '--set', 'lr=-1'), 'either', None),
            ("train --recipe ranking-sampled --set n_negatives=0", ['train', '--data', '{in}/interactions.csv', '--out', '{out}', '--recipe', 'ranking-sampled', '--factors', '4',
                                                                  '--epochs', '1', '--set', 'n_negatives=0', '--no-plots', '--show-recs', '0'], 'refused', 'n_negatives'),
            ("train --recipe ranking-sampled on an interaction log", ['train', '--data', '{in}/interactions.csv', '--out', '{out}', '--recipe', 'ranking-sampled', '--factors', '4',
                                                                     '--epochs', '1', '--no-plots', '--show-recs', '2'], 'ok', None),
            ("train --recipe itemknn on ratings with --min-rating 4 (users left without any)", knn_argv('{in}/ratings.csv', '--min-rating', '4'), 'refused', 'drop-empty-users'),
            ("train --recipe itemknn on ratings with --min-rating 4 --drop-empty-users", knn_argv('{in}/ratings.csv', '--min-rating', '4', '--drop-empty-users'), 'ok', None),
            ("train --recipe itemknn --min-rating 4 on a log without ratings", knn_argv('{in}/interactions.csv', '--min-rating', '4'), 'refused', 'min-rating'),
            ("train --recipe itemknn on 2 interactions", knn_argv('{in}/tiny2.csv'), 'either', None),
            ("train --recipe itemknn --show-recs 3", knn_argv('{in}/interactions.csv', '--show-recs', '3'), 'ok', None),
            ("train --recipe ease --valid-pct 0 (no validation)", knn_argv('{in}/interactions.csv', '--valid-pct', '0', recipe='ease'), 'either', None)]:
        add('cli-usage', name, argv=argv, expect=expect, contains=contains, writes=True, check=check_trained(), timeout=120,
            before_training=expect == 'refused' and not name.startswith("train --recipe ease --set lam"))
    # tune, and train --recipe auto
    tune = lambda recipe, *extra, data='{in}/interactions.csv': ['tune', '--data', data, '--out', '{out}', '--recipe', recipe, '--no-plots', '--show-recs', '0', *extra]
    for name, argv, expect, contains in [
            ("tune --recipe itemknn --trials 2 --budget 30s", tune('itemknn', '--trials', '2', '--budget', '30s'), 'ok', None),
            ("tune --recipe ease --trials 1 --budget 1m", tune('ease', '--trials', '1', '--budget', '1m'), 'ok', None),
            ("tune --recipe fast --trials 1 --budget 30s --epochs 1 (a rating recipe)", tune('fast', '--trials', '1', '--budget', '30s', '--epochs', '1', data='{in}/ratings.csv'), 'either', None),
            ("tune --budget 0s", tune('itemknn', '--budget', '0s'), 'refused', 'budget|duration'),
            ("tune --budget -1m", tune('itemknn', '--budget', '-1m'), 'refused', 'budget|duration'),
            ("tune --budget inf", tune('itemknn', '--budget', 'inf'), 'refused', 'budget|duration'),
            ("tune --budget nan", tune('itemknn', '--budget', 'nan'), 'refused', 'budget|duration'),
            ("tune --budget abc", tune('itemknn', '--budget', 'abc'), 'refused', 'budget|duration'),
            ("tune --budget 10x", tune('itemknn', '--budget', '10x'), 'refused', 'budget|duration'),
            ("tune --budget '' (empty)", tune('itemknn', '--budget', ''), 'refused', 'budget|duration'),
            ("tune --trials 0", tune('itemknn', '--trials', '0'), 'refused', 'trials'),
            ("tune --trials -3", tune('itemknn', '--trials', '-3'), 'refused', 'trials'),
            ("tune --data nosuch.csv", tune('itemknn', data='{d}/nosuch.csv'), 'refused', 'no such file'),
            ("tune --recipe itemknn --set k=0", tune('itemknn', '--set', 'k=0'), 'refused', 'k must'),
            ("tune --recipe nosuch", tune('nosuch'), 'refused', None),
            ("tune --out an existing file", ['tune', '--data', '{in}/interactions.csv', '--out', '{d}/file', '--recipe', 'itemknn'], 'refused', 'not a directory'),
            ("tune --data a payload (a pickle)", tune('itemknn', data='{in}/payload.csv'), 'refused', None),
            ("train --recipe auto --trials 1 --budget 20s", ['train', '--data', '{in}/interactions.csv', '--out', '{out}', '--recipe', 'auto', '--trials', '1', '--budget', '20s',
                                                            '--no-plots', '--show-recs', '0'], 'either', None),
            ("train --recipe auto --budget 0s", ['train', '--data', '{in}/interactions.csv', '--out', '{out}', '--recipe', 'auto', '--budget', '0s'], 'refused', 'budget|duration'),
            ("evaluate --data --recipe auto", ['evaluate', '--data', '{in}/interactions.csv', '--recipe', 'auto', '--json'], 'refused', 'tune'),
            ("evaluate --data --recipe itemknn --set k=20", ['evaluate', '--data', '{in}/interactions.csv', '--recipe', 'itemknn', '--set', 'k=20', '--json'], 'ok', None),
            ("evaluate --data --recipe itemknn --set k=0", ['evaluate', '--data', '{in}/interactions.csv', '--recipe', 'itemknn', '--set', 'k=0', '--json'], 'refused', 'k must')]:
        chk = check_json('ndcg@10', last_only=True) if argv[0] == 'evaluate' else check_trained()
        add('cli-usage', name, argv=argv, setup=(lambda ws: (ws['d']/'file').write_text('x')) if 'existing file' in name else None, expect=expect, contains=contains,
            writes=argv[0] != 'evaluate', check=chk, timeout=240 if 'auto' in name else 120, before_training=expect == 'refused', heavy='--recipe auto --trials' in name)


    for c in CASES: c.pin = c.pin or c.id in PINNED
    missing = set(PINNED) - {c.id for c in CASES}
    assert not missing, f"PINNED names cases that do not exist: {sorted(missing)}"

def _crash_train(ws, step, recipe='fast'):
    """In a child: `collab-recs train --out OUT` (`recipe`) with a simulated kill (an exception the package does not catch)
    at save step `step`, injected by patching the call that ends it (`collab_recs.testing.kill_save_at`)"""
    import collab_recs.save as S, collab_recs.cli as C
    from collab_recs.testing import Killed, kill_save_at
    argv = (train_argv(str(ws['in']/'ratings.csv'), '--seed', '3', out=str(ws['out'])) if recipe == 'fast' else
            knn_argv(str(ws['in']/'interactions.csv'), '--seed', '3', out=str(ws['out']), recipe=recipe))
    try:
        with kill_save_at(step, vars(S)): C.main(argv)
    except Killed: return 0
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

def prepare(t:Path, timeout:float=60) -> dict:
    """Ready work folder `t` for the cases: one thread, every module imported once (each forked child shares them), the inputs,
    the good models, and the payload self-test (returned)"""
    os.environ['OMP_NUM_THREADS'] = '1'
    import torch
    torch.set_num_threads(1)
    import collab_recs.cli, collab_recs.save, collab_recs.data, collab_recs.recipes, collab_recs.evaluation, collab_recs.onboarding  # noqa: F401
    import collab_recs.interpret, collab_recs.recommend, collab_recs.plots, collab_recs.foldin, collab_recs.dataloaders, collab_recs.learner, collab_recs.baselines  # noqa: F401
    import collab_recs.kinds, collab_recs.itemitem, collab_recs.ranking, collab_recs.training, collab_recs.tuning  # noqa: F401
    import fastai.tabular.all, safetensors.torch  # noqa: F401
    r = run_child(lambda: make_inputs(t/'in'), t/'logs', 'inputs', t, timeout=300)
    if r.get('rc') != 0: raise RuntimeError(f"could not write the inputs: {tail(r['stderr'], 2000)}")
    make_models(t, timeout)
    return self_test(t, t/'logs')

def quick_sample(cases:list) -> list:
    """--quick: of every category, the QUICK_PER_CATEGORY cases whose ids hash lowest with QUICK_SEED (a fixed draw that a case added
    elsewhere does not reshuffle), never a real process or a heavy case unless pinned; and every pinned case"""
    rank = lambda c: hashlib.sha256(f'{QUICK_SEED}:{c.id}'.encode()).hexdigest()
    keep = set()
    for cat in CATEGORIES:
        pool = [c for c in cases if c.cat == cat and not (c.real or c.heavy or c.pin)]
        keep |= {c.id for c in sorted(pool, key=rank)[:QUICK_PER_CATEGORY]}
    return [c for c in cases if c.id in keep or c.pin]

def select(quick:bool=False, categories:str=None, case:str=None) -> list:
    "The cases to run: all of CASES, or --quick's sample, of `categories` (comma-separated), whose id matches regex `case`"
    if not CASES: define_cases()
    cats = categories.split(',') if categories else list(CATEGORIES)
    bad = set(cats) - set(CATEGORIES)
    if bad: raise ValueError(f"unknown categories {sorted(bad)}; known: {list(CATEGORIES)}")
    cases = quick_sample(CASES) if quick else CASES
    return [c for c in cases if c.cat in cats and (case is None or re.search(case, c.id))]

def reproduction(case:Case, ws:dict) -> str:
    "How to run `case` by hand"
    return (('printf %r | ' % case.stdin if case.stdin else '') + ('python -m collab_recs.cli ' + ' '.join(map(repr, fill(case.argv, ws))) if case.argv is not None
            else f"Python: {case.fn.__qualname__ if hasattr(case.fn, '__qualname__') else case.fn}"))

def run_case(case:Case, k:int, t:Path, timeout:float=60, ins_before:dict=None, keep:bool=False) -> dict:
    """Run `case` in its own folder t/cases/k and judge it (the inputs compared with `ins_before`, or with a fingerprint taken now):
    {'problems', 'outcome', 'lost', 'marker', 'ins_after', 'run', 'stderr'}"""
    import collab_recs.cli
    d = t/'cases'/str(k)
    if d.exists(): shutil.rmtree(d)
    d.mkdir(parents=True)
    if ins_before is None: ins_before = fingerprint(t/'in')
    logs = t/'logs'
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
    if marker: (t/'PWNED').unlink()
    ws.update(before=before, stderr=r.get('stderr', ''))
    problems, outcome, lost = judge(case, r, ws, before, after, ins_before, ins_after, marker)
    res = dict(problems=problems, outcome=outcome, lost=lost, marker=marker, ins_after=ins_after, run=reproduction(case, ws),
               stderr=r.get('stderr', '') or r.get('msg', '') or r.get('crash', ''))
    if not keep: shutil.rmtree(d, ignore_errors=True)
    return res

@call_parse
def main(quick:Param("a fixed, seeded sample: a few cases of every category, plus the pinned ones", store_true)=False,
         category:Param("only these categories (comma-separated)", str)=None,
         only:Param("the same as --category (kept for old command lines)", str)=None,
         case:Param("only the cases whose 'category/name' matches this regular expression", str)=None,
         list_cases:Param("list the selected cases (category/name) and exit, running nothing", store_true)=False,
         timeout:Param("seconds a case may take before it counts as a hang", float)=60,
         json_path:Param("where to write the results (default: bench/results/adversarial.json for a full run; none for a partial one)", str)=None,
         keep:Param("keep the work folder (its path is printed)", store_true)=False):
    "Issue 15's adversarial matrix: every case either works or is refused cleanly; nothing is lost; nothing is executed."
    started = time.time()
    try: cases = select(quick, category or only, case)
    except ValueError as e: sys.exit(str(e))
    cats = [c for c in CATEGORIES if any(x.cat == c for x in cases)]
    if list_cases:
        for c in cases: print(c.id)
        print(f"{len(cases)} cases in {len(cats)} categories (of {len(CASES)} in the whole matrix)")
        return
    if not cases: sys.exit("no case selected")
    partial = quick or bool(category or only or case)
    if json_path is None and not partial: json_path = str(ROOT/'bench'/'results'/'adversarial.json')
    t = Path(tempfile.mkdtemp(prefix='adversarial-'))
    try:
        try: selftest = prepare(t, timeout)
        except RuntimeError as e: sys.exit(str(e))
        import torch
        print(f"{len(cases)} cases in {len(cats)} categories; work folder {t}", flush=True)
        ins_before = fingerprint(t/'in')
        counts = {c: dict(tried=0, clean=0, defects=0) for c in cats}
        defects, code_exec, data_loss, outcomes = [], 0, 0, {}
        for k, c in enumerate(cases):
            res = run_case(c, k, t, timeout, ins_before, keep)
            ins_before = res['ins_after']  # report a changed input once
            if res['marker']: code_exec += 1
            if res['lost']: data_loss += 1
            counts[c.cat]['tried'] += 1
            outcomes[res['outcome']] = outcomes.get(res['outcome'], 0) + 1
            if res['problems']:
                counts[c.cat]['defects'] += 1
                defects.append(dict(category=c.cat, case=c.name, expected=c.expect, outcome=res['outcome'], problems=res['problems'], run=res['run'],
                                    stderr_tail=tail(res['stderr'], 800)))
                print(f"DEFECT [{c.cat}] {c.name}: {'; '.join(res['problems'])}\n    {tail(res['stderr'], 300)}", flush=True)
            else: counts[c.cat]['clean'] += 1
            if (k + 1) % 50 == 0: print(f"... {k + 1}/{len(cases)} cases, {len(defects)} defects, {time.time() - started:.0f} s", flush=True)
        tot = {k: sum(c[k] for c in counts.values()) for k in ('tried', 'clean', 'defects')}
        print(f"\n{'category':20s} {'tried':>6s} {'clean':>6s} {'defects':>8s}")
        for c, v in counts.items(): print(f"{c:20s} {v['tried']:6d} {v['clean']:6d} {v['defects']:8d}")
        print(f"{'total':20s} {tot['tried']:6d} {tot['clean']:6d} {tot['defects']:8d}")
        print(f"code execution: {code_exec} case(s); data loss: {data_loss} case(s); payload self-test: {selftest}; {time.time() - started:.0f} s")
        if defects:
            print("\nDefects:")
            for x in defects: print(f"- [{x['category']}] {x['case']}: {'; '.join(x['problems'])}\n    run: {x['run']}")
        import platform, collections
        # the same problem met through several commands or variants: one line each, with how many cases showed it
        distinct = collections.Counter(re.sub(r"/tmp/\S+", 'PATH', f"[{x['category']}] {'; '.join(x['problems'])}")[:200] for x in defects)
        figures = dict(python=platform.python_version(), torch=torch.__version__, quick=quick, categories=cats, case_filter=case, timeout_s=timeout,
                       descriptions={c: CATEGORIES[c] for c in cats}, counts=counts, totals=tot, outcomes=outcomes,
                       code_execution=code_exec, data_loss=data_loss, self_test=selftest,
                       distinct_problems=[dict(problem=k, cases=v) for k, v in distinct.most_common()], defects=defects)
        if json_path: write_results('adversarial', 'bench.adversarial', figures, started, json_path)
    finally:
        if keep: print(f"work folder kept: {t}")
        else: shutil.rmtree(t, ignore_errors=True)
