"""Caption quality of the references' models on the embedded synthetic VIST data, claims side by side.

`python -m benchmarks.quality [--stories N] [--seeds 0,1,2] [--epochs 20] [--meteor none|java]
[--backbone-weights concept|random] [--backbone tiny|small] [--no-fine-tune]`

Pipeline (fixed data seed): synth dataset -> `vistflow ingest` -> concept pretraining of the tiny
backbone (`--backbone small`: the demo's) on the train split (default, issue 13;
benchmarks/concept_backbone.py, the pipeline's ConceptPretrainer code and defaults) ->
`vistflow features --backbone tiny --weights
<concepts>/backbone` (`--backbone-weights random`: the seeded random weights instead) -> train
every model once per training seed with the SAME small hparams and epoch budget -> decode the
test split per story (greedy and beam 7) -> score per-photo sentences (id = "<story>/<position>",
reference = the story's sentence at that position) with the coco profile.

Comparisons (each a reference's claim, judged on CIDEr, paired by seed and story: "held" only
when the 95% interval of the mean difference, from a bootstrap over seeds and test stories,
excludes 0; its half-width is printed, and whether it resolves a difference of 0.05; other
metrics printed):
  000  global_context > show_attend_tell on SIS
  001  joint CNN fine-tuning (show_attend_tell from the same backbone, features with
       --store-images) > frozen features; `--no-fine-tune` skips it
  002  beam 7 > greedy on the same trained model (show_tell)
  003  show_attend_tell (attention) > show_tell (no attention)
  004  seq2seq_story with vs without the previous-sentence encoder (`previous_sentence=False`)
Every trained model is also compared with the nearest-neighbour baseline the same way (issue 13's
goal: each beats it by a margin outside its CI).

Two reference rows show how much the images can tell at all: `nearest_neighbour` (002 Table 2's
baseline: each test photo gets the sentence of the closest train photo, L2 on standardized global
features) and `random_train_sentence` (a train sentence at random, no image). The synthetic data
is small and the tiny backbone never saw ImageNet, so the numbers measure what this budget can
show, not the papers' results. `--models show_tell,show_tell-raw` shows what the
trainer's feature standardization changes (raw = the papers' recipe). Prints a table, then one
JSON document as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from benchmarks import concept_backbone
from benchmarks.quality_claims import RESOLVE, _aggregate, _cmp
from benchmarks.quality_data import (
    METRICS,
    _pattern,
    _score_sentences,
    decode_and_score,
    load_split,
    prepare_data,
)

# Runs by name: (model, hparams overrides). `--models` picks a subset by these names.
RUNS: dict[str, tuple[str, dict]] = {
    "show_tell": ("show_tell", {}),
    # The trainer's feature standardization off: what the papers' recipe gives on weak features.
    "show_tell-raw": ("show_tell", {"standardize_features": False}),
    "show_attend_tell": ("show_attend_tell", {}),
    "global_context": ("global_context", {}),
    "seq2seq_story": ("seq2seq_story", {}),
    "seq2seq_story-noprev": ("seq2seq_story", {"previous_sentence": False}),
}
MODELS = tuple(name for name in RUNS if name != "show_tell-raw")  # the default selection
BEAM = 7
# The default budget (measured, issue 13 item 3): 400 stories and 1 seed took 14 min wall on 2
# loaded cores (prep 2 min, ~1.5 min per frozen-feature model, 4 min for the fine-tuned one) and
# gave CI half-widths of 0.09-0.13 on 47 test stories; 2 seeds roughly double the training time.
# Resolving 0.05 needs ~4-7x the scored stories (printed as `stories_needed`), beyond ~15 min.
STORIES = 400
SEEDS = (0, 1)


def _parse(argv):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.quality", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--stories", type=int, default=STORIES, help=f"synthetic stories (default {STORIES})"
    )
    p.add_argument("--epochs", type=int, default=20, help="epochs per model (default 20)")
    p.add_argument(
        "--seed", type=int, default=0, help="data, backbone and baseline seed (default 0)"
    )
    p.add_argument(
        "--seeds",
        default=",".join(map(str, SEEDS)),
        help="training seeds: every model is trained once per seed (default "
        + ",".join(map(str, SEEDS))
        + ")",
    )
    p.add_argument("--split", default="test", choices=("test", "val"), help="scored split")
    p.add_argument("--meteor", default="none", choices=("none", "java"))
    p.add_argument(
        "--fine-tune",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run reference 001 (joint CNN fine-tuning from the backbone; default on)",
    )
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    concept_backbone.add_argument(p)
    p.add_argument("--work-dir", default="", help="keep artifacts here (default: temp, removed)")
    return p.parse_args(argv)


def hparams_config(model: str, epochs: int, seed: int, **extra) -> dict:
    cfg = dict(
        model=model,
        task="sis",
        embedding_dim=64,
        hidden_dim=128,
        attention_dim=64,
        dropout=0.3,
        min_count=2,
        max_tokens=20,
        batch_size=32,
        epochs=epochs,
        patience=epochs,  # no early stop: every model gets the same epochs (best epoch restored)
        seed=seed,
        optimizer="adam",
        learning_rate=2e-3,
        decoding={"method": "greedy", "max_length": 20},
    )
    cfg.update(extra)
    return cfg


def baseline_rows(train_data, split_data, args) -> dict:
    """Image-only and no-image references for the table (see the module docstring)."""
    g_train, t_train = train_data["global"], train_data["texts"]
    ids, g_test, texts = split_data["ids"], split_data["global"], split_data["texts"]
    x_train = g_train.reshape(-1, g_train.shape[-1]).astype(np.float64)
    sentences = [s[0] for story in t_train for s in story]  # first reference of each train photo
    mean, std = x_train.mean(0), x_train.std(0) + 1e-12
    z_train = (x_train - mean) / std
    z_test = (g_test.reshape(-1, g_test.shape[-1]) - mean) / std
    d = (z_test**2).sum(1)[:, None] - 2 * z_test @ z_train.T + (z_train**2).sum(1)[None, :]
    nearest = [sentences[i] for i in d.argmin(1)]
    rng = np.random.default_rng(args.seed)
    random_pick = [sentences[i] for i in rng.integers(len(sentences), size=len(nearest))]
    p = g_test.shape[1]

    def stories(flat):
        return [flat[i : i + p] for i in range(0, len(flat), p)]

    return {
        "nearest_neighbour (002 baseline)": _score_sentences(
            ids, stories(nearest), texts, args.meteor
        ),
        "random_train_sentence (no image)": _score_sentences(
            ids, stories(random_pick), texts, args.meteor
        ),
    }


def run_model(name, features, epochs, seed, split_data, meteor, work, **extra) -> dict:
    from trainer.hparams import DecodingConfig, HParams
    from trainer.train import train

    model = extra.pop("model", name)
    hp = HParams.from_config(hparams_config(model, epochs, seed, **extra))
    out_dir = os.path.join(work, "runs", name, f"seed-{seed}")
    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.monotonic()
    result = train(_pattern(features, "train"), _pattern(features, "val"), out_dir, hp)
    train_s = time.monotonic() - t0
    row = {
        "model": model,
        "train_s": round(train_s, 1),
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "best_val_token_nll": round(result.best_val_loss, 4),
        "vocab": result.vocab_size,
        "decodings": {},
    }
    for label, dec in (
        ("greedy", DecodingConfig(method="greedy", max_length=20)),
        (f"beam{BEAM}", DecodingConfig(method="beam", beam_size=BEAM, max_length=20)),
    ):
        t1 = time.monotonic()
        row["decodings"][label] = decode_and_score(result.export_dir, dec, split_data, meteor)
        row["decodings"][label]["decode_s"] = round(time.monotonic() - t1, 1)
    row["wall_s"] = round(time.monotonic() - t0, 1)
    return row


def main(argv=None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.monotonic()
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    if not seeds:
        raise SystemExit("--seeds: give at least one seed")
    names = [m for m in args.models.split(",") if m]
    for name in names:
        if name not in RUNS:
            raise SystemExit(f"--models: unknown run {name!r}; choose from {', '.join(RUNS)}")
    work = args.work_dir or tempfile.mkdtemp(prefix="vistflow-quality-")
    os.makedirs(work, exist_ok=True)
    runs: dict[str, dict[int, dict]] = {}  # name -> seed -> run_model row
    try:
        data = prepare_data(
            work, args.stories, args.seed, args.fine_tune, args.backbone_weights, args.backbone
        )
        split_data = load_split(data["features"], args.split)
        baselines = baseline_rows(load_split(data["features"], "train"), split_data, args)
        ft_split = None
        if args.fine_tune:
            ft_split = load_split(data["features_images"], args.split)
            if ft_split["ids"] != split_data["ids"]:
                raise SystemExit("features with and without images hold different test stories")
        for seed in seeds:
            for name in names:
                model, extra = RUNS[name]
                print(f"[quality] training {name} seed {seed} ...", file=sys.stderr, flush=True)
                runs.setdefault(name, {})[seed] = run_model(
                    name,
                    data["features"],
                    args.epochs,
                    seed,
                    split_data,
                    args.meteor,
                    work,
                    model=model,
                    **extra,
                )
            if args.fine_tune:
                print(
                    f"[quality] training show_attend_tell fine_tune_cnn seed {seed} ...",
                    file=sys.stderr,
                    flush=True,
                )
                runs.setdefault("show_attend_tell+ft", {})[seed] = run_model(
                    "show_attend_tell+ft",
                    data["features_images"],
                    args.epochs,
                    seed,
                    ft_split,
                    args.meteor,
                    work,
                    model="show_attend_tell",
                    fine_tune_cnn=True,
                )
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)

    def m(name, dec=f"beam{BEAM}"):
        if name not in runs:
            return None
        return [runs[name][s]["decodings"][dec] for s in seeds]

    comparisons = {
        "000": _cmp(
            "global_context beats show_attend_tell on SIS",
            "global_context",
            m("global_context"),
            "show_attend_tell",
            m("show_attend_tell"),
        ),
        "001": (
            _cmp(
                "joint CNN fine-tuning beats frozen features",
                "show_attend_tell+ft",
                m("show_attend_tell+ft"),
                "show_attend_tell",
                m("show_attend_tell"),
            )
            if args.fine_tune
            else {
                "claim": "joint CNN fine-tuning beats frozen features",
                "status": "not run (--no-fine-tune)",
            }
        ),
        "002": _cmp(
            f"beam {BEAM} beats greedy (show_tell, same weights)",
            f"show_tell beam{BEAM}",
            m("show_tell"),
            "show_tell greedy",
            m("show_tell", "greedy"),
        ),
        "003": _cmp(
            "attention beats none",
            "show_attend_tell",
            m("show_attend_tell"),
            "show_tell",
            m("show_tell"),
        ),
        "004": _cmp(
            "the previous-sentence encoder helps seq2seq_story",
            "seq2seq_story",
            m("seq2seq_story"),
            "seq2seq_story-noprev",
            m("seq2seq_story-noprev"),
        ),
    }
    # Issue 13's goal: every trained model beats the nearest-neighbour baseline outside its CI.
    nn_name = "nearest_neighbour (002 baseline)"
    nn = [baselines[nn_name]] * len(seeds)
    vs_nn = {
        name: _cmp(f"{name} beats the nearest-neighbour baseline", name, m(name), nn_name, nn)
        for name in runs
    }
    rows = {name: _aggregate(per_seed) for name, per_seed in runs.items()}
    wall = round(time.monotonic() - start, 1)

    # ---- table ----------------------------------------------------------------------------------
    n = len(split_data["ids"])
    print(
        f"vistflow quality: {args.stories} synthetic stories (data seed {args.seed}), "
        f"{concept_backbone.describe(data['concept_pretraining'])}; {args.epochs} epochs/model, "
        f"training seeds {','.join(map(str, seeds))} (metrics: mean over seeds), hidden 128 "
        f"emb 64 att 64 min_count 2; scored on {args.split} ({n} stories x 5 sentences), "
        f"METEOR={args.meteor}"
    )
    hdr = (
        f"{'model':<22}{'decoding':<9}"
        + "".join(f"{k:>9}" for k in METRICS)
        + f"{'distinct':>12}{'val_nll':>9}{'wall_s':>8}"
    )
    print(hdr)
    print("-" * len(hdr))
    for name, row in rows.items():
        for dec, d in row["decodings"].items():
            vals = "".join(
                f"{'-' if d['metrics'][k] is None else format(d['metrics'][k], '.4f'):>9}"
                for k in METRICS
            )
            print(
                f"{name:<22}{dec:<9}{vals}"
                f"{str(d['distinct_sentences']) + '/' + str(d['sentences']):>12}"
                f"{row['best_val_token_nll']:>9.3f}{row['wall_s']:>8.1f}"
            )
    for name, d in baselines.items():
        vals = "".join(
            f"{'-' if d['metrics'][k] is None else format(d['metrics'][k], '.4f'):>9}"
            for k in METRICS
        )
        print(f"{name:<31}{vals}{str(d['distinct_sentences']) + '/' + str(d['sentences']):>12}")
    print()

    def line(key, c):
        text = f"  {key} {c['claim']}: {c['status'].upper() if 'a_metrics' in c else c['status']}"
        if "a_metrics" in c:
            low, high = c["cider_diff_ci95"]
            text += (
                f"  [{c['a']} CIDEr {c['a_metrics']['CIDEr']:.4f} vs {c['b']} "
                f"{c['b_metrics']['CIDEr']:.4f}: {c['cider_diff']:+.4f} in [{low:+.4f}, "
                f"{high:+.4f}], half-width {c['ci_half_width']:.4f}; A higher on "
                f"{', '.join(k for k, v in c['a_wins'].items() if v) or 'none'}]"
            )
        return text

    print(
        f"claims, beam {BEAM} unless stated (CIDEr A - B, mean over {len(seeds)} seed(s) x {n} "
        "stories, 95% interval from a bootstrap over seeds and stories: held = interval above 0, "
        "reversed = below 0, else within noise):"
    )
    for ref, c in comparisons.items():
        print(line(ref, c))
    print("every trained model vs the nearest-neighbour baseline (goal: HELD for all, beam):")
    for c in vs_nn.values():
        print(line("   ", c))
    widths = [c["ci_half_width"] for c in comparisons.values() if "ci_half_width" in c]
    resolution = {
        "target": RESOLVE,
        "max_ci_half_width": max(widths) if widths else None,
        "mean_ci_half_width": round(float(np.mean(widths)), 4) if widths else None,
        "resolved": bool(widths) and max(widths) < RESOLVE,
        # Half-widths shrink ~1/sqrt(stories): the scored stories the widest claim would need.
        "stories_needed": int(np.ceil(n * (max(widths) / RESOLVE) ** 2)) if widths else None,
    }
    goal_nn = all(c["status"] == "held" for c in vs_nn.values())
    print(
        f"CI half-width of the claims' CIDEr differences: max {resolution['max_ci_half_width']}, "
        f"mean {resolution['mean_ci_half_width']} -> a difference of {RESOLVE} is "
        f"{'RESOLVED' if resolution['resolved'] else 'NOT resolved'} (~"
        f"{resolution['stories_needed']} scored stories would, at {len(seeds)} seed(s); {n} here)"
        f"; every model beats NN "
        f"outside its CI: {'MET' if goal_nn else 'NOT MET'}"
    )
    for d in baselines.values():
        d.pop("_per_story_CIDEr", None)
    for per_seed in runs.values():
        for r in per_seed.values():
            for d in r["decodings"].values():
                d.pop("_per_story_CIDEr", None)
    print(f"data prep {data['prepare_s']}s; total wall {wall}s")
    doc = {
        "stories": args.stories,
        "epochs": args.epochs,
        "seed": args.seed,
        "seeds": seeds,
        "split": args.split,
        "scored_stories": n,
        "meteor": args.meteor,
        "backbone_weights": args.backbone_weights,
        "backbone": args.backbone,
        "concept_pretraining": data["concept_pretraining"],
        "hparams": hparams_config("<model>", args.epochs, "<seed>"),
        "models": rows,
        "baselines": baselines,
        "comparisons": comparisons,
        "vs_nearest_neighbour": vs_nn,
        "resolution": resolution,
        "goals": {
            "every_model_beats_nn_outside_ci": goal_nn,
            f"cider_difference_{RESOLVE}_resolved": resolution["resolved"],
        },
        "prepare_s": data["prepare_s"],
        "wall_s": wall,
    }
    print(json.dumps(doc, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
