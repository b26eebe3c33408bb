"""Benchmarks of collab_recs: run each as a module from the repository root, e.g. `python -m bench.speed`.

Each script prints its figures and writes them, with the command, date and machine, to `bench/results/NAME.json`;
the docs site's Benchmarks page draws its tables and plots from those files. They measure; they never decide a
test's outcome (timings on a shared machine are noisy: compare ratios within one run)."""
