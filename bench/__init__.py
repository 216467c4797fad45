"""Benchmarks of the keeper against the naive baseline (``python bench/run.py``)."""
