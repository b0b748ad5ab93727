"""ExampleValidator's findings, read from the `SchemaDiff.pb` files it writes.

ExampleValidator writes one tensorflow_metadata `Anomalies` proto per split under its
`anomalies` artifact (`<uri>/Split-<split>/SchemaDiff.pb`). The CaptionEvaluator refuses to bless
a model when any split has anomalies; the Airflow DAGs report them through the same reader.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from vistflow.example_files import SPLIT_PREFIX

SCHEMA_DIFF_FILE = "SchemaDiff.pb"


def describe(anomalies) -> list[str]:
    """`<feature>: <short description> (<description>)` for every anomaly of one split."""

    def line(name: str, info) -> str:
        short, long = info.short_description.strip(), info.description.strip()
        text = f"{short} ({long})" if short and long and long != short else short or long
        return f"{name}: {text}"

    problems = [line(name, info) for name, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField("dataset_anomaly_info"):
        problems.append(line("<dataset>", anomalies.dataset_anomaly_info))
    return problems


def read_anomalies(uris: Iterable[str]) -> dict[str, list[str]]:
    """Split name -> anomaly descriptions, for the splits that have any (any filesystem)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from tfx.dsl.io import fileio

    found: dict[str, list[str]] = {}
    for uri in uris:
        for split_dir in sorted(fileio.glob(os.path.join(uri, SPLIT_PREFIX + "*"))):
            path = os.path.join(split_dir, SCHEMA_DIFF_FILE)
            if not fileio.exists(path):
                continue
            anomalies = anomalies_pb2.Anomalies()
            with fileio.open(path, "rb") as f:
                anomalies.ParseFromString(f.read())
            problems = describe(anomalies)
            if problems:
                split = os.path.basename(split_dir.rstrip("/"))[len(SPLIT_PREFIX) :]
                found.setdefault(split, []).extend(problems)
    return found
