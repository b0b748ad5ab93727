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


def pipeline_config(home: Path, ds: str, overrides: dict[str, Any] | None = None):
    from pipelines.config import PipelineConfig

    fields: dict[str, Any] = {
        "data_root": str(partition_dir(home, "landing", ds)),
        "pipeline_root": str(home / "pipeline"),
        "serving_root": str(home / "serving"),
    }
    config_file = home / "pipeline_config.json"  # optional site-wide overrides
    if config_file.is_file():
        fields.update(json.loads(config_file.read_text()))
    fields.update(overrides or {})
    return PipelineConfig(**fields)


def run_pipeline_stage(
    stage: str, *, dag_run_id: str, ds: str, conf: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Runs one stage of the TFX pipeline for the partition `ds`; returns a JSON-able summary."""
    from pipelines.stages import STAGE_ORDER, run_stage, stage_run_id

    home = vistflow_home()
    config = pipeline_config(home, ds, conf)
    index = STAGE_ORDER.index(stage)
    base = stage_run_id(dag_run_id, STAGE_ORDER[index - 1]) if index else None
    result = run_stage(stage, config, run_id=stage_run_id(dag_run_id, stage), base_run_id=base)
    summary = {"stage": stage, "run_id": result.run_id, "outputs": result.outputs}
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
    record_run_summary(home, ds, summary)
    return summary


def anomalies_found(anomaly_uris: list[str]) -> dict[str, list[str]]:
    """Split name -> anomalous feature descriptions, from ExampleValidator's SchemaDiff.pb files."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found: dict[str, list[str]] = {}
    for uri in anomaly_uris:
        for split_dir in sorted(Path(uri).glob("Split-*")):
            pb = split_dir / "SchemaDiff.pb"
            if not pb.is_file():
                continue
            anomalies = anomalies_pb2.Anomalies()
            anomalies.ParseFromString(pb.read_bytes())
            problems = [
                f"{name}: {info.short_description or info.description}"
                for name, info in sorted(anomalies.anomaly_info.items())
            ]
            if anomalies.HasField("dataset_anomaly_info"):
                info = anomalies.dataset_anomaly_info
                problems.append(f"<dataset>: {info.short_description or info.description}")
            if problems:
                found[split_dir.name.removeprefix("Split-")] = problems
    return found


def record_run_summary(home: Path, ds: str, summary: dict[str, Any]) -> Path:
    """Appends a stage summary to <home>/runs/<ds>.json (rewritten atomically, keyed by stage)."""
    path = home / "runs" / f"{ds}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[summary["stage"]] = summary
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)
    return path


def latest_pushed_model(home: Path, model_name: str) -> Path | None:
    """The highest complete version under <home>/serving/<model> (publish renames complete dirs)."""
    base = home / "serving" / model_name
    versions = (
        sorted(
            (int(p.name), p)
            for p in base.glob("*")
            if p.name.isdigit() and (p / "saved_model.pb").is_file()
        )
        if base.is_dir()
        else []
    )
    return versions[-1][1] if versions else None


def publish_quality_report(ds: str, ingest: dict[str, Any], validate: dict[str, Any]) -> Path:
    """Copies the data-quality report, rejects and anomalies of partition `ds` to <home>/quality/<ds>/."""
    import shutil

    out = partition_dir(vistflow_home(), "quality", ds)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    outputs = ingest["outputs"]
    for key in ("VistExampleGen.report", "VistExampleGen.rejects"):
        for uri in outputs.get(key, []):
            for f in Path(uri).iterdir():
                if f.is_file():
                    shutil.copy2(f, tmp / f.name)
    (tmp / "anomalies.json").write_text(json.dumps(validate.get("anomalies", {}), indent=2))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)  # the folder appears complete or not at all
    log.info("data-quality report of %s: %s", ds, out / "report.html")
    return out


def batch_caption(model_dir: str, ds: str, pattern: str, beam_args: list[str]) -> dict[str, Any]:
    """Captions <home>/collections/<ds>/<pattern> into <home>/captions/<ds>/ (resumes on rerun)."""
    from serving import batch_caption as job

    home = vistflow_home()
    collection = partition_dir(home, "collections", ds)
    output = partition_dir(home, "captions", ds)
    argv = ["--model", model_dir, "--input", str(collection / pattern), "--output", str(output)]
    counts = job.run(argv + list(beam_args))
    return {"output": str(output), **{k: v for k, v in counts.items() if _jsonable(v)}}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False
