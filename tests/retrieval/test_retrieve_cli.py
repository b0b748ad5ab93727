"""`vistflow retrieve` end to end on the tiny exported model."""

from __future__ import annotations

import json
import os

from commands.main import main


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["retrieve", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_text_query_returns_top_k_images(exported_alignment, trained_alignment, capsys):
    _, _, splits = trained_alignment
    sentence = splits["test"].sentences[0]
    code, out, _ = _run(
        capsys, "--model", exported_alignment, "--text", sentence, "-k", "3", "--json"
    )
    assert code == 0
    doc = json.loads(out)
    results = doc["results"]
    assert [r["rank"] for r in results] == [1, 2, 3]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(os.path.isfile(r["image"]) for r in results)
    assert {r["split"] for r in results} <= {"test", "train"}
    assert doc["query"]["tokens"][:2] == sentence.lower().split()[:2]

    code, out, _ = _run(
        capsys, "--model", exported_alignment, "--text", sentence, "-k", "2", "--splits", "test"
    )
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 0 and len(lines) == 2 and all("(test)" in line for line in lines)


def test_image_query_returns_sentences_with_their_alignment(
    exported_alignment, synth_features, capsys
):
    _, photos = synth_features
    image = photos["test"][0]["path"]
    code, out, _ = _run(
        capsys, "--model", exported_alignment, "--image", image, "-k", "4", "--explain", "--json"
    )
    assert code == 0
    results = json.loads(out)["results"]
    assert len(results) == 4
    for r in results:
        segments = r["alignment"]
        # Snippets cover the sentence's words contiguously, each on one region box.
        assert segments[0]["start"] == 0
        assert all(a["end"] == b["start"] for a, b in zip(segments, segments[1:], strict=False))
        assert " ".join(w for s in segments for w in s["words"]) in r["sentence"].lower()
        assert all(len(s["box"]) == 4 and 0 <= s["box"][0] < s["box"][2] <= 1 for s in segments)


def test_user_errors_are_one_line(exported_alignment, tmp_path, capsys):
    code, _, err = _run(capsys, "--model", str(tmp_path), "--text", "a dog")
    assert code == 2 and "export.json" in err and "Traceback" not in err
    code, _, err = _run(capsys, "--model", exported_alignment, "--image", str(tmp_path / "no.jpg"))
    assert code == 2 and "no.jpg" in err
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    code, _, err = _run(capsys, "--model", exported_alignment, "--image", str(bad))
    assert code == 2 and "bad.jpg" in err
    code, _, err = _run(
        capsys, "--model", exported_alignment, "--text", "a dog", "--splits", "nope"
    )
    assert code == 2 and "nope" in err
