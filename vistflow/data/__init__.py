"""The VIST data layer: streaming validation and readers for the input JSON files.

- `validate`: `validate_file(path, kind=None) -> ValidationSummary` against schemas/.
- `readers`: `read_sis`, `read_dii`, `read_karpathy` -> records in `vistflow.records`.
- `layout`: paths of the official VIST layout and the per-split image index.
- `writers`: streaming writers of the same layouts (tests, synthetic data, benchmarks).
- `summarize`: the `vistflow summarize` command.
"""
