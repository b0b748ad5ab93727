"""Smoke test of `python -m benchmarks.reader_memory` on a small file (the real run uses 110 MB)."""

from __future__ import annotations

from benchmarks import reader_memory


def test_benchmark_runs_and_reports_both_readers(tmp_path):
    result = reader_memory.run(size_mb=1.0, workdir=tmp_path)

    assert result["file_mb"] >= 1.0
    assert result["stories"] * 5 == result["annotations"]
    assert result["read_sis"]["items"] == result["stories"]  # every story read back
    assert result["json_load"]["items"] == result["annotations"]
    for method in ("read_sis", "json_load"):
        m = result[method]
        assert m["peak_rss_mb"] >= m["baseline_rss_mb"] > 0
        expected = (m["peak_rss_mb"] - m["baseline_rss_mb"]) / m["file_mb"]
        assert abs(m["multiple"] - expected) < 0.05  # the inputs are rounded to 0.1 MB
    assert 0 < result["annotations_mb"] < result["file_mb"]
    assert list(tmp_path.iterdir()) == []  # the file is removed unless --keep
