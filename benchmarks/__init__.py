"""pytest-benchmark suite for 2-D filtering; run with `pytest benchmarks --benchmark-autosave`."""
