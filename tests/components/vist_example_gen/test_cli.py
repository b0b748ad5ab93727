"""`vistflow ingest`: a killed run publishes nothing and a rerun gives the same bytes."""

from __future__ import annotations

import subprocess
import sys
import time

from commands import main as cli


def tree(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_killed_rerun_keeps_the_old_output_and_the_next_run_matches(
    synth_faulty, faulty_ingest, tmp_path, capsys
):
    """Kill `vistflow ingest` mid-run over an earlier output, rerun, compare byte-for-byte.

    The reference is the uninterrupted in-process run of the `faulty_ingest` fixture.
    """
    reference, report = faulty_ingest
    out, staging = tmp_path / "out", tmp_path / "out.incomplete"
    out.mkdir()  # an earlier (here: stale) ingest output that the rerun replaces
    (out / "report.json").write_text('{"old": true}')
    (out / "rejects.jsonl").write_text("old\n")
    earlier = tree(out)
    argv = ["ingest", "--data-root", str(synth_faulty), "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "commands", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not staging.exists():  # created just before the Beam pipeline is built
            assert proc.poll() is None, f"exited with {proc.returncode} before it could be killed"
            assert time.monotonic() < deadline, "ingest never started"
            time.sleep(0.02)
        time.sleep(0.3)  # into the pipeline run
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -9  # killed, not finished
    assert tree(out) == earlier  # nothing half-written is visible

    # The rerun also goes through Beam options: bundle order must not leak into the bytes.
    beam_args = ["--direct_num_workers=2", "--direct_running_mode=multi_threading"]
    assert cli.main(argv + beam_args) == 0
    assert not staging.exists() and not (tmp_path / "out.replaced").exists()
    assert tree(out) == tree(reference)
    assert len(tree(out)) == 3 + 3 * 4  # rejects, report.json/.html, 4 shards per split
    printed = capsys.readouterr().out
    train = report["train"]
    assert f"train{train['input']:>11}{train['accepted']:>10}{train['rejected']:>10}" in printed
    assert "images: 107 checked, 5 rejected" in printed


def test_bad_input_exits_2_with_one_line_naming_the_file(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert cli.main(["ingest", "--data-root", str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == f"vistflow ingest: error: {missing}: data root does not exist or is not a directory"
    )
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.incomplete").exists()
