"""vistflow benchmarks: each module prints one JSON document of side-by-side measurements."""
