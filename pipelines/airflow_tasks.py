"""Bodies of the vistflow Airflow tasks, kept out of `dags/` so DAG files parse in milliseconds.

Nothing here imports tensorflow, tfx or beam at module level. Paths come from one "home"
folder (Airflow Variable `vistflow_home`, else env `VISTFLOW_HOME`, else ~/vistflow):

    <home>/landing/<YYYY-MM-DD>/     a data partition in the official VIST layout, complete when
                                     it holds a `_SUCCESS` marker (written last by the producer)
    <home>/pipeline/                 TFX pipeline root + ML Metadata (SQLite)
    <home>/serving/<model>/<version> pushed models (TF Serving layout)
    <home>/collections/<date>/       image collections to caption in batch
    <home>/captions/<date>/          batch captioning output
    <home>/quality/<date>/           data-quality reports
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from vistflow.outputs import committed_output, write_file_atomic

log = logging.getLogger(__name__)

SUCCESS_MARKER = "_SUCCESS"


def vistflow_home() -> Path:
    from airflow.models import Variable

    default = os.environ.get("VISTFLOW_HOME", str(Path.home() / "vistflow"))
    return Path(Variable.get("vistflow_home", default_var=default)).expanduser()


def partition_dir(home: Path, kind: str, ds: str) -> Path:
    return home / kind / ds


def partition_ready(path: Path) -> bool:
    """A partition is ready when its producer wrote the success marker (written last)."""
    return (path / SUCCESS_MARKER).is_file()


def partition_span(ds: str) -> int:
    """The span of the partition landed for logical date `ds` (YYYY-MM-DD): YYYYMMDD.

    Dates, not sequence numbers: a span then names its partition, stays the same when a run is
    repeated or a week is backfilled, and orders like the partitions."""
    return int(ds.replace("-", ""))


def pipeline_config(home: Path, ds: str, overrides: dict[str, Any] | None = None):
    from pipelines.config import PipelineConfig

    fields: dict[str, Any] = {
        "span": partition_span(ds),
        "data_root": str(partition_dir(home, "landing", ds)),
        "pipeline_root": str(home / "pipeline"),
        "serving_root": str(home / "serving"),
    }
    # ML Metadata on a server for every task of every DAG (set on the scheduler and workers).
    if os.environ.get("VISTFLOW_METADATA_CONNECTION"):
        fields["metadata_connection"] = os.environ["VISTFLOW_METADATA_CONNECTION"]
    config_file = home / "pipeline_config.json"  # optional site-wide overrides
    if config_file.is_file():
        fields.update(json.loads(config_file.read_text()))
    fields.update(overrides or {})
    return PipelineConfig(**fields)


def run_pipeline_stage(
    stage: str,
    *,
    dag_run_id: str,
    ds: str,
    conf: dict[str, Any] | None = None,
    dag_id: str = "",
) -> dict[str, Any]:
    """Runs one stage of the TFX pipeline for the partition `ds`; returns a JSON-able summary."""
    from pipelines.stages import base_stage, run_stage, stage_run_id

    home = vistflow_home()
    config = pipeline_config(home, ds, conf)
    previous = base_stage(stage, config)
    base = stage_run_id(dag_run_id, previous, dag_id) if previous else None
    run_id = stage_run_id(dag_run_id, stage, dag_id)
    result = run_stage(stage, config, run_id=run_id, base_run_id=base)
    summary = {"stage": stage, "run_id": result.run_id, "outputs": result.outputs}
    if stage == "ingest":
        props = result.properties.get("VistExampleGen.examples", {})
        summary.update(split_summary(config, props.get("split_names")))
    if stage == "concepts":  # what the backbone learned, beside the frequency baseline
        summary["concepts"] = dict(result.properties.get("ConceptPretrainer.model", {}))
    if stage == "train":  # the spans, train stories and base model the Trainer recorded
        summary["model"] = dict(result.properties.get("Trainer.model", {}))
    if stage == "validate":
        summary["anomalies"] = anomalies_found(result.outputs.get("ExampleValidator.anomalies", []))
    if stage == "evaluate":
        props = result.properties.get("CaptionEvaluator.blessing", {})
        summary["blessed"] = int(props.get("blessed", 0)) == 1
        summary["blessing_uri"] = (result.outputs.get("CaptionEvaluator.blessing") or [""])[0]
    if stage == "push":
        summary["pushed"] = {
            k: v for k, v in result.properties.get("Pusher.pushed_model", {}).items()
        }
    record_run_summary(home, ds, summary, dag_id)
    return summary


def anomalies_found(anomaly_uris: list[str]) -> dict[str, list[str]]:
    """Split name -> anomalous feature descriptions, from ExampleValidator's SchemaDiff.pb files."""
    from components.caption_evaluator.anomalies import read_anomalies

    return read_anomalies(anomaly_uris)


def split_summary(config, split_names: str | None) -> dict[str, Any]:
    """The splits ingest wrote (its Examples' `split_names`), the absent ones, and what
    retraining needs but lacks (`config.train_splits` + `eval_splits`), with the input files
    that would have held them."""
    from vistflow.records import SPLITS

    present = json.loads(split_names) if split_names else []
    absent = [s for s in SPLITS if s not in present]
    needed = dict.fromkeys((*config.train_splits, *config.eval_splits))
    missing = {s: expected_split_files(config, s) for s in needed if s not in present}
    message = "; ".join(
        f"split {s!r} is absent: {', '.join(files)}" for s, files in missing.items()
    )
    if missing:
        message = f"{config.data_root} cannot be used for retraining: {message}"
    return {
        "splits": present,
        "splits_absent": absent,
        "missing_splits": missing,
        "splits_message": message or f"splits {', '.join(present)}",
    }


def expected_split_files(config, split: str) -> list[str]:
    """The input files of `split` under the data root, each marked `(missing)` if it is."""
    from tfx.dsl.io import fileio

    from vistflow.data import layout
    from vistflow.records import SPLITS

    if config.data_format != "vist" or split not in SPLITS:
        return [f"no {split!r} examples from the {config.data_format} input {config.data_root}"]
    paths = [
        str((layout.sis_path if task == "sis" else layout.dii_path)(config.data_root, split))
        for task in config.tasks
    ]
    return [f"{p}{'' if fileio.exists(p) else ' (missing)'}" for p in paths]


def run_summary_path(home: Path, ds: str, dag_id: str = "") -> Path:
    """<home>/runs/<dag id>/<ds>.json: each DAG's runs of a date have their own summary."""
    return home / "runs" / (dag_id or "local") / f"{ds}.json"


def record_run_summary(home: Path, ds: str, summary: dict[str, Any], dag_id: str = "") -> Path:
    """Appends a stage summary to `run_summary_path` (rewritten atomically, keyed by stage)."""
    path = run_summary_path(home, ds, dag_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[summary["stage"]] = summary
    write_file_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str))
    return path


def latest_pushed_model(home: Path | str, model_name: str) -> Path | str | None:
    """The highest complete version under <home>/serving/<model>, or None.

    Serving's version layout (`serving.layout`) decides: integer version directories holding a
    SavedModel, committed ones only on an object store (publish renames complete dirs on disk).
    """
    from serving import layout
    from vistflow import uri

    base = uri.join(home, "serving", model_name)
    versions = layout.list_versions(base)
    return layout.version_dir(base, versions[-1]) if versions else None


def publish_quality_report(ds: str, ingest: dict[str, Any], validate: dict[str, Any]) -> Path:
    """Copies the data-quality report, rejects and anomalies of partition `ds` to
    <home>/quality/<ds>/, with summary.json: splits present and absent, anomalies per split."""
    import shutil

    out = partition_dir(vistflow_home(), "quality", ds)
    # The folder appears complete or not at all; a killed run's `<ds>.tmp` is removed first.
    staging = out.with_name(out.name + ".tmp")
    with committed_output(out, replace=True, staging=staging, make_dir=True) as tmp:
        outputs = ingest["outputs"]
        for key in ("VistExampleGen.report", "VistExampleGen.rejects"):
            for uri in outputs.get(key, []):
                for f in Path(uri).iterdir():
                    if f.is_file():
                        shutil.copy2(f, tmp / f.name)
        (tmp / "anomalies.json").write_text(json.dumps(validate.get("anomalies", {}), indent=2))
        summary = {
            "partition": ds,
            "splits": ingest.get("splits", []),
            "splits_absent": ingest.get("splits_absent", []),
            "anomalies": validate.get("anomalies", {}),
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    log.info("data-quality report of %s: %s", ds, out / "report.html")
    return out


def batch_caption(
    model_dir: str,
    ds: str,
    pattern: str,
    beam_args: list[str],
    restart_with_new_model: bool = True,
) -> dict[str, Any]:
    """Captions <home>/collections/<ds>/<pattern> into <home>/captions/<ds>/.

    A retry resumes (the model was resolved once, in its own task). A run cleared after a new
    model was pushed captions the partition again with that model from the start (the job never
    mixes two models' captions); with `restart_with_new_model=False` it fails instead, naming
    both models.
    """
    from serving import batch_caption as job

    home = vistflow_home()
    collection = partition_dir(home, "collections", ds)
    output = partition_dir(home, "captions", ds)
    argv = ["--model", model_dir, "--input", str(collection / pattern), "--output", str(output)]
    argv += ["--restart-if-model-changed"] if restart_with_new_model else []
    counts = job.run(argv + list(beam_args))
    return {"output": str(output), **{k: v for k, v in counts.items() if _jsonable(v)}}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False
