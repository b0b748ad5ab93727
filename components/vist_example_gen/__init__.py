"""VistExampleGen: ingest VIST / Karpathy data into SequenceExamples, rejects and a quality report.

Modules: `pipeline` (the Beam job, `run()` / `ingest()`), `transforms` (its PTransforms),
`image_check`, `quality` + `report_html` (the report), `component` + `executor` (TFX).
`VistExampleGen`, `Rejects` and `DataQualityReport` are imported lazily: TFX costs ~30 s to
import and the CLI never needs it.
"""

from __future__ import annotations

__all__ = ["DataQualityReport", "Rejects", "VistExampleGen"]


def __getattr__(name: str):
    if name in __all__:
        from components.vist_example_gen import component

        return getattr(component, name)
    raise AttributeError(name)
