"""End-to-end benchmarks: pm-server against the bare stack it runs on (`make bench`).

`python -m scripts.bench [--quick]` starts each bare baseline (scripts/bench/baselines.py),
the real server (`python -m server`, a fresh PM_DATA_DIR per run) and the Node load
generator (scripts/bench/loadgen/) as processes of their own, interleaves server and
baseline runs, prints a table and writes bench/latest.json. Nothing here asserts a speed.
"""
