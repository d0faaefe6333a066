"""Benchmarks: one module per benchmark with a `run(...)` that prints its figures as rich tables.

`python -m c360.bench <name>` runs one, `python -m c360.bench all` runs every registered one.
"""
