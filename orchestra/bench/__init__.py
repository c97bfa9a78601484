"""Benchmark harnesses behind `orchestra bench` and `benchmarks/`."""
