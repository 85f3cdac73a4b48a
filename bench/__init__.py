"""OneFlow's reproducible benchmark: `python -m bench.run` (see bench/README.md)."""
