"""mlmkit benchmarks: each bench_*.py exposes run(scale) -> list of result rows."""
