"""Benchmarks: `python -m bench.run [--smoke | --full] [--only N]` (see bench/README.md)."""
