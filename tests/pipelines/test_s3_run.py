"""`vistflow run` with every root on a real S3 API (moto's server, tests/fixtures/moto_server.py):
ingest -> validate -> features -> train -> evaluate -> push, artifacts and the pushed version on
the bucket, ML Metadata in a local SQLite file. Small: 12 synthetic stories, the tiny backbone,
no concept pretraining (--no-concepts, for time), test_local_run's small model trained 2 steps.
Serving and batch-caption from a bucket are in tests/vistflow/test_object_store.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

from moto_server import moto_server
from test_local_run import TRAINER  # the small pipeline-test trainer, one copy


def test_vistflow_run_with_every_root_on_the_bucket(tmp_path):
    from vistflow.synth import generate

    data = tmp_path / "data"
    generate(data, stories=12, seed=1, fault_rate=0.0, image_size=32)
    with moto_server() as s3:
        s3.create_bucket("vist")
        s3.upload_tree(data, "vist", "data")
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from commands.main import main; sys.exit(main())"]
            + ["run", "--data-root", "s3://vist/data", "--pipeline-root", "s3://vist/pr"]
            + ["--serving-root", "s3://vist/serving", "--metadata-path", str(tmp_path / "m.db")]
            + ["--backbone", "tiny", "--no-concepts", "--train-steps", "2"]
            # A small model: every epoch's checkpoint goes to the bucket and the best one comes
            # back (the default model's weights made that most of the test's two minutes).
            + ["--trainer-config", json.dumps(TRAINER)],
            env=s3.env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        assert "blessed and pushed to s3://vist/serving/vist_captioner/1" in done.stdout
        keys = s3.keys("vist", "serving/vist_captioner/")
        assert "serving/vist_captioner/1/_COMMITTED" in keys
        assert "serving/vist_captioner/1/variables/variables.index" in keys
        assert not [k for k in keys if "/." in k]  # no staging prefix left
        record = json.loads(
            s3.get("vist", "serving/vist_captioner/1/assets.extra/vistflow_publish.json")
        )
        assert record["version"] == 1
        assert any(k.endswith("_COMMITTED") for k in s3.keys("vist", "pr/FeatureExtractor/"))
