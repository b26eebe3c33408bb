"""README.md's commands, run as written: `make demo`'s training command first (read from the Makefile), then every
`collab-recs` and `torchrun` line and every Python block the README shows, in a fresh folder, in README order.

The install lines (`pip install .`, `make dist`, the repository URL) are run by tests/test_package.py, in a fresh
virtualenv; `make demo` and `make test` are what runs this. The two `torchrun` lines for GPU machines are the only
lines not run here: they need 8 GPUs (and a second machine); the CPU line beside them is run.
"""
import os, re, shlex, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the environment `make` set up, with the `collab-recs` and `torchrun` commands
README = (ROOT/'README.md').read_text()
NEEDS_GPUS = ('--nproc_per_node 8',)  # lines for GPU machines

def blocks(lang:str) -> list:
    "The README's fenced code blocks in `lang`"
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)

def shell_lines() -> list:
    "Every command in the README's shell blocks, continuation lines joined, comments dropped"
    lines = []
    for b in blocks('sh'):
        for line in b.replace('\\\n', ' ').splitlines():
            words = shlex.split(line, comments=True)
            if words: lines.append(words)
    return lines

def demo_command() -> list:
    "The command `make demo` runs, from the Makefile"
    make = (ROOT/'Makefile').read_text()
    line = re.search(r"^demo:.*\n\t(.*)$", make, flags=re.M).group(1)
    return [w.replace('$(BIN)/', '') for w in shlex.split(line)]

def run(words:list, cwd:Path, stdin:str='', timeout:int=900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    while words and re.fullmatch(r'[A-Z_]+=\S*', words[0]):  # VAR=value before the command
        k, v = words[0].split('=', 1); env[k] = v; words = words[1:]
    res = subprocess.run(words, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)
    shown = ' '.join(words)
    assert res.returncode == 0, f"`{shown}` exited {res.returncode}:\n{res.stderr[-3000:]}"
    assert 'Traceback' not in res.stderr and 'Warning' not in res.stderr, f"`{shown}` printed:\n{res.stderr[-3000:]}"
    return res

@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> Path:
    "A fresh folder in which `make demo`'s command has run, as it does on a fresh clone"
    cwd = tmp_path_factory.mktemp('readme')
    res = run(demo_command(), cwd)
    assert 'valid RMSE' in res.stdout, res.stdout[-2000:]
    return cwd

def test_readme_shows_demo_and_commands():
    cmds = [w[0] for w in shell_lines()]
    assert {'make', 'collab-recs', 'torchrun', 'pip'} <= set(cmds), cmds
    assert ['make', 'demo'] in shell_lines() and ['make', 'test'] in shell_lines()

def test_commands_after_demo(demo):
    "Each `collab-recs` line, in order: those using the demo's model first need nothing else"
    from collab_recs.synthetic import synthetic_ratings
    mine = synthetic_ratings(n_users=300, n_items=200, n_ratings=8_000, seed=0).ratings
    mine.rename(columns={'user': 'customer', 'item': 'product', 'rating': 'stars'}).to_csv(demo/'my_ratings.csv', index=False)
    ran = 0
    for words in shell_lines():
        if words[0] != 'collab-recs': continue
        res = run(words, demo, stdin='4\n\n5\nq\n' if words[1] == 'onboard' else '')
        assert res.stdout.strip(), words
        ran += 1
    assert ran >= 10, ran
    assert (demo/'out'/'ml-100k'/'recs.csv').exists()
    assert (demo/'my_ratings.csv').exists()  # the input is left alone

def test_torchrun_on_cpus(demo):
    lines = [w for w in shell_lines() if 'torchrun' in w]
    cpu = [w for w in lines if not any(g in ' '.join(w) for g in NEEDS_GPUS)]
    assert len(cpu) == 1 and len(lines) == 3, lines
    res = run(cpu[0], demo)
    assert 'on 2 processes' in res.stdout, res.stdout[-2000:]

def test_python_blocks(demo):
    "The README's Python, run as a script in the demo folder (plots to files instead of the screen)"
    code = '\n'.join(blocks('python'))
    script = demo/'readme.py'
    script.write_text("import matplotlib; matplotlib.use('Agg')\n" + code)
    run([sys.executable, str(script)], demo)
