"""`vistflow evaluate`: output, and clear errors (file + entry + reason, exit != 0) on bad input."""

from __future__ import annotations

import json
import math

import pytest

from commands import main as cli


@pytest.fixture(autouse=True)
def only_evaluate(monkeypatch):
    # Build the parser with our subcommand only: other subcommands are other engineers' modules.
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"evaluate": cli.SUBCOMMANDS["evaluate"]})


def _write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    preds = _write(
        tmp_path / "P.json",
        [{"image_id": 1, "caption": "A dog runs."}, {"image_id": 2, "caption": "two cats"}],
    )
    refs = _write(
        tmp_path / "R.json",
        {
            "images": [{"id": 1}, {"id": 2}, {"id": 3}],
            "annotations": [
                {"image_id": 1, "caption": "A dog is running."},
                {"image_id": 1, "caption": "The dog runs!"},
                {"image_id": 2, "caption": "Two cats sleeping."},
                {"image_id": 3, "caption": "unused"},
            ],
        },
    )
    return preds, refs


def test_prints_coco_keys_and_signature(files, capsys, tmp_path):
    preds, refs = files
    per_item = tmp_path / "items.json"
    code = cli.main(
        [
            "evaluate",
            "--predictions",
            str(preds),
            "--references",
            str(refs),
            "--meteor",
            "none",
            "--per-item",
            str(per_item),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr", "signature"]
    assert (
        out["signature"]
        == "profile:coco|tok:ptb|refs:1-2|bleu:coco|rouge:coco|cider:coco-d|meteor:none|agg:corpus"
    )
    # "a dog runs" + "two cats": all 5 unigrams match; closest reference lengths 3 + 3 -> BP exp(1 - 6/5).
    assert out["Bleu_1"] == pytest.approx(math.exp(1 - 6 / 5), abs=1e-6)
    items = json.loads(per_item.read_text())
    assert [row["image_id"] for row in items["items"]] == [1, 2]


def test_meteor_nltk_from_the_cli(files, capsys):
    preds, refs = files
    assert (
        cli.main(
            ["evaluate", "--predictions", str(preds), "--references", str(refs), "--meteor", "nltk"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert 0 < out["METEOR"] < 1 and "meteor:nltk-3.9.1-wn3.0" in out["signature"]


BAD_PREDICTIONS = [
    ("", "P.json: $: empty file"),
    ("[{]", "P.json: $: malformed JSON"),
    ('{"image_id": 1}', "P.json: $: expected a list"),
    ("[]", "P.json: $: no predictions"),
    ('[{"image_id": 1}]', "P.json: $[0]: missing 'caption'"),
    ('[{"caption": "x"}]', "P.json: $[0]: missing 'image_id'"),
    ('[{"image_id": 1, "caption": 5}]', "P.json: $[0].caption: caption must be a string"),
    (
        '[{"image_id": [1], "caption": "x"}]',
        "P.json: $[0].image_id: image_id must be an integer or a string",
    ),
    (
        '[{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}]',
        "P.json: $[1].image_id: duplicate prediction for 1 (first at $[0])",
    ),
    (
        '[{"image_id": 1, "caption": "a"}, {"image_id": 7, "caption": "b"}]',
        "P.json: $[1].image_id: 7 has no reference captions",
    ),
    ('[{"image_id": "1", "caption": "a"}]', "string vs number"),
]


@pytest.mark.parametrize(("content", "message"), BAD_PREDICTIONS)
def test_bad_predictions(files, capsys, content, message):
    preds, refs = files
    _write(preds, content)
    code = cli.main(
        ["evaluate", "--predictions", str(preds), "--references", str(refs), "--meteor", "none"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert (
        err.startswith("vistflow evaluate: error: ") and message in err and str(preds.parent) in err
    )


BAD_REFERENCES = [
    ("", "R.json: $: empty file"),
    ("[1, 2]", 'R.json: $: expected an object with "annotations"'),
    ('{"annotations": {}}', "R.json: $.annotations: expected a list"),
    ('{"annotations": []}', "R.json: $.annotations: no reference captions"),
    ('{"annotations": [{"image_id": 1}]}', "R.json: $.annotations[0]: missing 'caption'"),
    (
        '{"annotations": [{"image_id": 1, "caption": null}]}',
        "R.json: $.annotations[0].caption: caption must be a string",
    ),
]


@pytest.mark.parametrize(("content", "message"), BAD_REFERENCES)
def test_bad_references(files, capsys, content, message):
    preds, refs = files
    _write(refs, content)
    code = cli.main(
        ["evaluate", "--predictions", str(preds), "--references", str(refs), "--meteor", "none"]
    )
    assert code == 2 and message in capsys.readouterr().err


def test_missing_file(files, capsys, tmp_path):
    _, refs = files
    code = cli.main(
        ["evaluate", "--predictions", str(tmp_path / "nope.json"), "--references", str(refs)]
    )
    assert code == 2 and "nope.json: $: no such file" in capsys.readouterr().err


def test_unknown_profile_is_an_argparse_error(files):
    preds, refs = files
    with pytest.raises(SystemExit) as exc:
        cli.main(
            [
                "evaluate",
                "--predictions",
                str(preds),
                "--references",
                str(refs),
                "--profile",
                "bleu-nobp",
            ]
        )
    assert exc.value.code != 0


@pytest.mark.parametrize("flag", ["--predictions", "--references", "--per-item"])
def test_directory_instead_of_a_file_is_one_line_exit_2(files, capsys, tmp_path, flag):
    preds, refs = files
    paths = {"--predictions": str(preds), "--references": str(refs)}
    directory = tmp_path / "a_dir"
    directory.mkdir()
    paths[flag] = str(directory)
    argv = ["evaluate", "--meteor", "none"] + [x for kv in paths.items() for x in kv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert str(directory) in err and "directory" in err


def test_empty_candidate_captions_are_counted_in_a_warning(files, caplog, tmp_path):
    _, refs = files
    preds = _write(
        tmp_path / "P_empty.json",
        [{"image_id": 1, "caption": ""}, {"image_id": 2, "caption": "  "}],
    )
    argv = ["evaluate", "--predictions", str(preds), "--references", str(refs), "--meteor", "none"]
    with caplog.at_level("WARNING"):
        assert cli.main(argv) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("2 of 2 predictions are empty captions" in m for m in warnings), warnings
