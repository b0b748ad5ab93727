"""Every Beam job on the portable runner, workers in their own processes, gives the DirectRunner's
output: ingest, feature extraction and batch captioning (the path Flink/Spark/Dataflow take).

The job server is embedded in this process; the SDK workers are children of a worker pool
process (tests/fixtures/beam_job_server.py), so no driver-side state reaches them. The jobs are
chained on one small synthetic dataset: ingest -> features of its examples; captions of its
images.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import apache_beam as beam
import beam_job_server
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from beam_job_server import worker_pids

beam_worker_pool = beam_job_server.beam_worker_pool  # the module-scoped pool fixture

pytestmark = pytest.mark.timeout(300)


def _dir_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _same_tree(direct: Path, portable: Path) -> None:
    a, b = _dir_bytes(direct), _dir_bytes(portable)
    assert sorted(a) == sorted(b)
    # The output dir's own path may appear in reports: compare with it factored out.
    differ = [name for name in a if a[name] != b[name].replace(bytes(portable), bytes(direct))]
    assert not differ, f"portable output differs from the DirectRunner's in {differ}"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """8 synthetic stories with faults (rejects, broken images): every output is non-trivial."""
    from vistflow.synth import generate

    root = tmp_path_factory.mktemp("portable_synth")
    generate(root, stories=8, seed=7, fault_rate=0.3)
    return root


def test_work_runs_in_the_pools_worker_processes(beam_worker_pool, tmp_path):
    pool = beam_worker_pool
    before = pool.workers_started()
    with beam.Pipeline(options=PipelineOptions(pool.beam_args)) as p:
        _ = (
            p
            | beam.Create(range(4))
            | beam.Map(worker_pids)
            | beam.Map(repr)
            | beam.io.WriteToText(str(tmp_path / "pids"), shard_name_template="")
        )
    pids = {ast.literal_eval(line) for line in (tmp_path / "pids").read_text().splitlines()}
    assert pids and all(pid != os.getpid() for pid, _ in pids)
    assert {parent for _, parent in pids} == {pool.process.pid}  # children of the pool
    assert pool.workers_started() > before


@pytest.fixture(scope="module")
def ingested(dataset, beam_worker_pool, tmp_path_factory) -> dict[str, Path]:
    """The ingest job's output on each runner."""
    from components.vist_example_gen import pipeline

    out = tmp_path_factory.mktemp("portable_ingest")
    argv = ["--data-root", str(dataset), "--num-shards", "2"]
    pipeline.run([*argv, "--out", str(out / "direct")], save_main_session=False)
    before = beam_worker_pool.workers_started()
    pipeline.run(
        [*argv, "--out", str(out / "portable"), *beam_worker_pool.beam_args],
        save_main_session=False,
    )
    assert beam_worker_pool.workers_started() > before
    return {"direct": out / "direct", "portable": out / "portable"}


def test_ingest(ingested):
    report = json.loads((ingested["portable"] / "report.json").read_text())
    assert report["totals"]["accepted"] > 0 and report["totals"]["rejected"] > 0
    _same_tree(ingested["direct"], ingested["portable"])


def test_features(ingested, beam_worker_pool, tmp_path):
    from components.feature_extractor import pipeline

    examples = str(ingested["direct"] / "examples")
    argv = ["--examples", examples, "--backbone", "tiny", "--seed", "0", "--num-shards", "2"]
    direct = pipeline.run([*argv, "--out", str(tmp_path / "direct")], save_main_session=False)
    before = beam_worker_pool.workers_started()
    portable = pipeline.run(
        [*argv, "--out", str(tmp_path / "portable"), *beam_worker_pool.beam_args],
        save_main_session=False,
    )
    assert beam_worker_pool.workers_started() > before
    assert portable == direct
    assert portable["images"]["extracted"] > 0
    _same_tree(tmp_path / "direct", tmp_path / "portable")


def test_batch_caption(dataset, beam_worker_pool, tmp_path):
    from toy_serving import export_toy_captioner

    from serving import batch_caption

    model = export_toy_captioner(tmp_path / "toy" / "1")
    argv = ["--model", model, "--input", str(dataset / "images" / "*" / "*"), "--batch-size", "3"]
    direct = batch_caption.run(
        [*argv, "--output", str(tmp_path / "direct")], save_main_session=False
    )
    before = beam_worker_pool.workers_started()
    portable = batch_caption.run(
        [*argv, "--output", str(tmp_path / "portable"), *beam_worker_pool.beam_args],
        save_main_session=False,
    )
    assert beam_worker_pool.workers_started() > before
    assert portable.pop("output") == str(tmp_path / "portable")
    assert direct.pop("output") == str(tmp_path / "direct")
    assert portable == direct
    assert direct["captions"] > 0 and direct["rejects"] > 0
    _same_tree(tmp_path / "direct", tmp_path / "portable")
