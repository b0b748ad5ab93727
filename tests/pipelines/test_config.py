"""PipelineConfig paths: local ones made absolute, URIs kept as given, metadata always local."""

from __future__ import annotations

import os

import pytest

from pipelines.config import PipelineConfig


def test_local_roots_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = PipelineConfig(data_root="data", pipeline_root="root", serving_root="serving")
    assert config.data_root == str(tmp_path / "data")
    assert config.pipeline_root == str(tmp_path / "root")
    assert config.serving_root == str(tmp_path / "serving")
    assert config.metadata_path == str(tmp_path / "root" / "metadata.sqlite")


def test_uri_roots_stay_as_given_and_metadata_stays_local(tmp_path, monkeypatch):
    monkeypatch.setenv("VISTFLOW_HOME", str(tmp_path / "home"))
    config = PipelineConfig(
        data_root="gs://b/x", pipeline_root="s3://b/root", serving_root="gs://b/serving"
    )
    assert config.data_root == "gs://b/x"
    assert config.pipeline_root == "s3://b/root"
    assert config.serving_root == "gs://b/serving"
    assert config.metadata_path == str(tmp_path / "home" / "metadata" / "vistflow.sqlite")
    again = PipelineConfig.from_json(config.to_json())  # Airflow hands configs over as JSON
    assert again.data_root == "gs://b/x" and again.metadata_path == config.metadata_path


def test_metadata_default_without_vistflow_home(monkeypatch):
    monkeypatch.delenv("VISTFLOW_HOME", raising=False)
    config = PipelineConfig(
        data_root="gs://b/x", pipeline_root="gs://b/r", serving_root="gs://b/s", pipeline_name="p"
    )
    expected = os.path.join(os.path.expanduser("~"), ".vistflow", "metadata", "p.sqlite")
    assert config.metadata_path == expected


def test_metadata_on_a_bucket_is_refused():
    with pytest.raises(ValueError, match="gs://b/m.sqlite"):
        PipelineConfig(
            data_root="d", pipeline_root="r", serving_root="s", metadata_path="gs://b/m.sqlite"
        )
