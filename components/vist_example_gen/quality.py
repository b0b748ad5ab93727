"""Data-quality statistics: the counter events each stage emits and the report they add up to.

Every statistic is a sum of small integer counters keyed by tuples (order-independent, so Beam
can combine them in any order and the report is byte-identical across runs), plus exact value
counts (widths, heights, sentence lengths) that stay small because they count distinct values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping

from components.vist_example_gen import reasons
from components.vist_example_gen.image_check import ImageCheck
from components.vist_example_gen.items import IngestItem
from vistflow.records import SPLITS

Counter = tuple[tuple, int]

# VIST text is lower-cased and tokenised with placeholders ("[female] went to the beach ."),
# Karpathy `raw` is not: this regex gives one vocabulary for both, like reference 002's
# preprocessing (lower case, alphanumeric) while keeping VIST's [placeholder] tokens whole.
_TOKEN = re.compile(r"\[[a-z_]+\]|[a-z0-9]+(?:'[a-z]+)?")
# Reference 002 (and most captioners) keep words seen at least 5 times in training.
VOCAB_MIN_COUNT = 5
TOP_WORDS = 25


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


# --- counter events -------------------------------------------------------------------------


def input_events(split: str, task: str) -> Iterator[Counter]:
    yield ("split", split, "input", task), 1


def story_reject_events(reject: Mapping) -> Iterator[Counter]:
    yield ("split", reject["split"], "rejected", reject["task"], reject["reason"]), 1
    for reason in reject.get("reasons", [reject["reason"]]):
        # Every fault a story has, not only the one that named it: "how many stories have an
        # empty sentence" stays answerable when those stories also miss an image.
        yield ("split", reject["split"], "fault", reject["task"], reason), 1


def accepted_events(item: IngestItem) -> Iterator[Counter]:
    split = item.split
    yield ("split", split, "accepted", item.task), 1
    yield ("text", split, "items"), 1
    yield ("text", split, "photos"), len(item.photo_ids)
    for texts in item.texts:
        for sentence in texts:
            tokens = tokenize(sentence)
            yield ("text", split, "sentences"), 1
            yield ("text", split, "tokens"), len(tokens)
            yield ("text", split, "length", len(tokens)), 1
            if not sentence.isascii():
                yield ("text", split, "non_ascii"), 1


def image_events(check: ImageCheck) -> Iterator[Counter]:
    status = "ok" if check.ok else "rejected"
    yield ("images", "checked"), 1
    yield ("images", status), 1
    yield ("images", "split", check.split, status), 1
    if not check.ok:
        yield ("images", "reason", check.reason), 1
    if check.mode:
        yield ("images", "mode", check.mode, status), 1
        if check.ok and check.mode != "RGB":
            # The feature extractor converts these to RGB; counted, not rejected.
            yield ("images", "converted", check.mode), 1
    if check.format:
        yield ("images", "format", check.format, status), 1
    if check.ok:
        yield ("images", "width", check.width), 1
        yield ("images", "height", check.height), 1
        aspect = round(check.width / check.height, 2)
        yield ("images", "aspect", aspect), 1
        yield ("images", "megapixels", round(check.width * check.height / 1e6, 2)), 1
        # File size in KiB, rounded to powers of 2^(1/4) so the count of distinct values stays
        # small on 200k real photos.
        yield ("images", "kib", _log_bucket(check.n_bytes / 1024)), 1


def _log_bucket(x: float) -> float:
    if x <= 0:
        return 0.0
    return round(2 ** (round(4 * math.log2(x)) / 4), 2)


def token_events(item: IngestItem) -> Iterator[tuple[tuple[str, str], int]]:
    """((split, token), count) for the vocabulary statistics of accepted items."""
    for texts in item.texts:
        for sentence in texts:
            for token in tokenize(sentence):
                yield (item.split, token), 1


def vocabulary_events(
    token: str, counts_by_split: Mapping[str, int]
) -> Iterator[tuple[str, tuple] | Counter]:
    """Per token (all splits' counts): vocabulary sizes and <unk> occurrences against train.

    Yields counters `(key, n)`; an `<unk>` occurrence is a val/test token whose train count is
    below VOCAB_MIN_COUNT, i.e. one a trainer with reference 002's vocabulary rule cannot emit.
    """
    in_train = counts_by_split.get("train", 0) >= VOCAB_MIN_COUNT
    total = 0
    for split, n in counts_by_split.items():
        total += n
        yield ("text", split, "vocab"), 1
        if n >= VOCAB_MIN_COUNT:
            yield ("text", split, "vocab_min_count"), 1
        if split != "train" and not in_train:
            yield ("text", split, "unk_tokens"), n
    yield ("text", "all", "vocab"), 1
    if total >= VOCAB_MIN_COUNT:
        yield ("text", "all", "vocab_min_count"), 1


# --- assembling the report ------------------------------------------------------------------


def value_summary(values: Mapping[float, int], bins: int = 20) -> dict:
    """min / percentiles / mean / max and an equal-width histogram of exact value counts.

    Integer values (pixels, tokens) get integer-aligned bins, so a bar never straddles two
    lengths.
    """
    total = sum(values.values())
    if not total:
        return {"count": 0}
    xs = sorted(values)
    lo, hi = xs[0], xs[-1]
    mean = sum(x * n for x, n in values.items()) / total
    if all(float(x).is_integer() for x in xs):
        width = max(1, math.ceil((hi - lo + 1) / bins))
        n_bins = math.ceil((hi - lo + 1) / width)
    else:
        width = (hi - lo) / bins if hi > lo else 1.0
        n_bins = bins
    counts = [0] * n_bins
    for x, n in values.items():
        counts[min(int((x - lo) / width), n_bins - 1)] += n
    return {
        "count": total,
        "min": lo,
        "p05": _quantile(xs, values, total, 0.05),
        "median": _quantile(xs, values, total, 0.5),
        "p95": _quantile(xs, values, total, 0.95),
        "max": hi,
        "mean": round(mean, 3),
        "hist": {"edges": [round(lo + i * width, 4) for i in range(n_bins + 1)], "counts": counts},
    }


def _quantile(xs: list, values: Mapping, total: int, q: float):
    target = q * (total - 1)
    seen = 0
    for x in xs:
        seen += values[x]
        if seen > target:
            return x
    return xs[-1]


def _split_order(split: str) -> tuple[int, str]:
    return (SPLITS.index(split) if split in SPLITS else len(SPLITS), split)


def _splits_present(counters: Mapping[tuple, int]) -> list[str]:
    extra = sorted({k[1] for k in counters if k[0] == "split"} - set(SPLITS))
    return [*SPLITS, *extra]


def assemble_report(
    counters: Mapping[tuple, int],
    *,
    top_words: Mapping[str, list],
    shards: Iterable[tuple[str, int, int]],
    config: Mapping,
    n_image_rejects: int,
    inventory: Mapping | None = None,
) -> dict:
    """The report.json dict: `{split: {input, accepted, rejected, by_reason, by_task}}` + sections.

    `splits_present` / `splits_absent` say which of train/val/test the input holds: from
    `inventory` (pipeline.split_inventory: which annotation files exist) when it knows, else
    (Karpathy) the splits with at least one input record. Every split keeps its section (zeros
    and `"absent": true` when absent), so readers of report.json need no special case.

    Raises:
      RuntimeError: the invariant input = accepted + rejected fails for a split (a record was
        lost or counted twice: the outputs must not be published).
    """
    report: dict = {}
    totals = {"input": 0, "accepted": 0, "rejected": 0, "by_reason": {}}
    splits = _splits_present(counters)
    for split in splits:
        by_task: dict[str, dict] = {}
        for key, n in counters.items():
            if key[0] != "split" or key[1] != split:
                continue
            kind, task = key[2], key[3]
            entry = by_task.setdefault(
                task, {"input": 0, "accepted": 0, "rejected": 0, "by_reason": {}, "faults": {}}
            )
            if kind in ("input", "accepted"):
                entry[kind] += n
            elif kind == "rejected":
                entry["rejected"] += n
                entry["by_reason"][key[4]] = entry["by_reason"].get(key[4], 0) + n
            elif kind == "fault":
                entry["faults"][key[4]] = entry["faults"].get(key[4], 0) + n
        section = {"input": 0, "accepted": 0, "rejected": 0, "by_reason": {}, "faults": {}}
        for task in sorted(by_task):
            entry = by_task[task]
            entry["by_reason"] = _ordered_reasons(entry["by_reason"])
            entry["faults"] = _ordered_reasons(entry["faults"])
            for field in ("input", "accepted", "rejected"):
                section[field] += entry[field]
            for field in ("by_reason", "faults"):
                for reason, n in entry[field].items():
                    section[field][reason] = section[field].get(reason, 0) + n
        section["by_reason"] = _ordered_reasons(section["by_reason"])
        section["faults"] = _ordered_reasons(section["faults"])
        section["by_task"] = {t: by_task[t] for t in sorted(by_task)}
        for where, entry in [(split, section), *((f"{split}/{t}", e) for t, e in by_task.items())]:
            if entry["input"] != entry["accepted"] + entry["rejected"]:
                raise RuntimeError(
                    f"invariant violated for {where}: input {entry['input']} != accepted "
                    f"{entry['accepted']} + rejected {entry['rejected']}"
                )
        section["invariant_ok"] = True
        report[split] = section
        for field in ("input", "accepted", "rejected"):
            totals[field] += section[field]
        for reason, n in section["by_reason"].items():
            totals["by_reason"][reason] = totals["by_reason"].get(reason, 0) + n
    totals["by_reason"] = _ordered_reasons(totals["by_reason"])
    report["totals"] = totals
    report.update(_split_inventory(report, inventory or {}))
    report["images"] = _image_section(counters, n_image_rejects)
    report["text"] = _text_section(counters, top_words, splits)
    report["outputs"] = _outputs_section(shards)
    for split in splits:
        written = report["outputs"].get(split, {}).get("examples", 0)
        if written != report[split]["accepted"]:
            raise RuntimeError(
                f"{split}: {report[split]['accepted']} accepted but {written} examples written"
            )
    report["config"] = dict(config)
    # The legend: every code, in reject priority order, with what it means.
    report["reason_codes"] = {r: reasons.DESCRIPTIONS[r] for r in reasons.ALL_REASONS}
    return report


def _split_inventory(report: dict, inventory: Mapping) -> dict:
    present = inventory.get("splits_present")
    if present is None:
        present = [s for s in SPLITS if report[s]["input"] > 0]
    absent = [s for s in SPLITS if s not in present]
    for split in SPLITS:
        if split in absent and report[split]["input"]:
            raise RuntimeError(f"{split}: absent from the input but {report[split]['input']} read")
        report[split]["absent"] = split in absent
    return {
        "splits_present": list(present),
        "splits_absent": absent,
        "files_absent": list(inventory.get("files_absent", [])),
    }


def _ordered_reasons(by_reason: Mapping[str, int]) -> dict[str, int]:
    order = {r: i for i, r in enumerate(reasons.ALL_REASONS)}
    return {r: by_reason[r] for r in sorted(by_reason, key=lambda r: (order.get(r, 99), r))}


def _values(counters: Mapping[tuple, int], *prefix) -> dict:
    n = len(prefix)
    return {k[n]: v for k, v in counters.items() if k[:n] == prefix and len(k) == n + 1}


def _image_section(counters: Mapping[tuple, int], n_image_rejects: int) -> dict:
    modes: dict[str, dict[str, int]] = {}
    formats: dict[str, dict[str, int]] = {}
    by_split: dict[str, dict[str, int]] = {}
    for key, n in counters.items():
        if key[0] != "images" or len(key) != 4:
            continue
        target = {"mode": modes, "format": formats, "split": by_split}.get(key[1])
        if target is not None:
            target.setdefault(key[2], {"ok": 0, "rejected": 0})[key[3]] += n
    checked = counters.get(("images", "checked"), 0)
    rejected = counters.get(("images", "rejected"), 0)
    if rejected != n_image_rejects:
        raise RuntimeError(f"{rejected} images failed their check but {n_image_rejects} logged")
    return {
        "checked": checked,
        "ok": counters.get(("images", "ok"), 0),
        "rejected": rejected,
        "by_reason": _ordered_reasons(_values(counters, "images", "reason")),
        "by_split": {s: by_split[s] for s in sorted(by_split, key=_split_order)},
        "modes": {m: modes[m] for m in sorted(modes)},
        "converted": dict(sorted(_values(counters, "images", "converted").items())),
        "formats": {f: formats[f] for f in sorted(formats)},
        "width": value_summary(_values(counters, "images", "width")),
        "height": value_summary(_values(counters, "images", "height")),
        "aspect": value_summary(_values(counters, "images", "aspect")),
        "megapixels": value_summary(_values(counters, "images", "megapixels")),
        "file_kib": value_summary(_values(counters, "images", "kib")),
    }


def _text_section(
    counters: Mapping[tuple, int], top_words: Mapping[str, list], splits: list[str]
) -> dict:
    out = {}
    for split in [*splits, "all"]:
        get = lambda name, s=split: counters.get(("text", s, name), 0)  # noqa: E731
        entry: dict = {}
        if split != "all":
            entry = {
                "items": get("items"),
                "photos": get("photos"),
                "sentences": get("sentences"),
                "tokens": get("tokens"),
                "non_ascii_sentences": get("non_ascii"),
                "sentence_length": value_summary(_values(counters, "text", split, "length")),
            }
        entry["vocab"] = get("vocab")
        entry[f"vocab_min_count_{VOCAB_MIN_COUNT}"] = get("vocab_min_count")
        if split not in ("train", "all"):
            # Occurrences a vocabulary built on train (min count 5) maps to <unk>.
            entry["unk_tokens"] = get("unk_tokens")
            entry["unk_rate"] = (
                round(get("unk_tokens") / get("tokens"), 4) if get("tokens") else 0.0
            )
        entry["top_words"] = [[w, -neg] for neg, w in top_words.get(split, [])]
        out[split] = entry
    return out


def _outputs_section(shards: Iterable[tuple[str, int, int]]) -> dict:
    out: dict[str, dict] = {}
    for split, _shard, count in sorted(shards, key=lambda s: (_split_order(s[0]), s[1])):
        entry = out.setdefault(split, {"shards": 0, "examples": 0})
        entry["shards"] += 1
        entry["examples"] += count
    return out
