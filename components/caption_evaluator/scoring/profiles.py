"""Named evaluation protocols: how a caption/story score was computed, pinned and printed.

Numbers in this field are only comparable under the same protocol: METEOR 1.5 with `-t hter` and
with `-l en -norm` differ ~2.5x on the same VIST output, PTB tokenisation moves BLEU-1 by ~5 points,
and several VIST codebases drop BLEU's brevity penalty. Each profile names its source:

- `coco` — coco-caption / pycocoevalcap 1.2 (`pycocoevalcap/eval.py`): PTB tokenisation (Stanford
  PTBTokenizer 3.4.1, `-preserveLines -lowerCase`, punctuation removed), BLEU-1..4 corpus-level with
  the closest reference length, METEOR 1.5 `-l en -norm` (corpus score from summed statistics),
  ROUGE-L (beta 1.2), CIDEr-D (sigma 6, idf from the evaluated set's references).
- `vist-challenge` — the official VIST challenge scorer (github.com/windx0303/VIST-Challenge-NAACL-2018,
  EvalVISTSharedTask.java): a story is its five sentences joined by spaces, as written (no
  tokenisation, no lower-casing); references are the human stories of the same photo sequence;
  METEOR 1.5 with `-t hter`, for each story the best score against any single reference, averaged
  over stories. The challenge reports METEOR only; BLEU/ROUGE-L/CIDEr-D are added with coco-caption's
  scorers over the same reference sets (multi-reference, whitespace tokens).
- `vist-album` — AREL (github.com/eric-xw/AREL, vist_eval/album_eval.py), followed by most VIST papers
  since: every story of an album is a reference for each predicted story of that album; coco-caption's
  BLEU/ROUGE-L/CIDEr-D and METEOR 1.5 `-t hter` (corpus score) on whitespace tokens. AREL scores one
  predicted story per album (the first it decodes): pass one prediction per album to reproduce its
  numbers exactly; with several, each is an item against the same album references.

Known gap: the challenge's README says non-ASCII characters are ignored; its scorer code passes text
through unchanged, and so do we.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.caption_evaluator.scoring.meteor import COCO_OPTIONS, HTER_OPTIONS

METRIC_KEYS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")
METEOR_BACKENDS = ("java", "nltk", "none")


@dataclass(frozen=True)
class Profile:
    """One named protocol."""

    name: str
    tokenization: str  # "ptb" (coco-caption's PTB step) or "space" (pre-tokenised text as written)
    meteor_options: tuple[str, ...]  # METEOR 1.5 command-line options
    meteor_tag: str  # e.g. "1.5-en-norm"
    meteor_best_single_reference: bool  # VIST challenge: max over single references, then mean
    references: str  # what the references of an item are: "item", "photo-sequence" or "album"
    source: str

    def signature(self, *, n_refs: Sequence[int], meteor: str) -> str:
        """The signature string printed with every number computed under this profile."""
        lo, hi = (min(n_refs), max(n_refs)) if len(n_refs) else (0, 0)
        refs = str(lo) if lo == hi else f"{lo}-{hi}"
        if self.references != "item":
            refs = f"{self.references}:{refs}"
        agg = "corpus"
        if self.meteor_best_single_reference and meteor.startswith("1.5"):
            agg = "corpus,meteor=mean-of-max-ref"
        elif meteor.startswith("nltk"):
            agg = "corpus,meteor=mean"
        return "|".join(
            [
                f"profile:{self.name}",
                f"tok:{self.tokenization}",
                f"refs:{refs}",
                "bleu:coco",
                "rouge:coco",
                "cider:coco-d",
                f"meteor:{meteor}",
                f"agg:{agg}",
            ]
        )


PROFILES: dict[str, Profile] = {
    "coco": Profile(
        name="coco",
        tokenization="ptb",
        meteor_options=COCO_OPTIONS,
        meteor_tag="1.5-en-norm",
        meteor_best_single_reference=False,
        references="item",
        source="coco-caption / pycocoevalcap 1.2",
    ),
    "vist-challenge": Profile(
        name="vist-challenge",
        tokenization="space",
        meteor_options=HTER_OPTIONS,
        meteor_tag="1.5-hter",
        meteor_best_single_reference=True,
        references="photo-sequence",
        source="VIST Challenge NAACL 2018 scorer (EvalVISTSharedTask.java)",
    ),
    "vist-album": Profile(
        name="vist-album",
        tokenization="space",
        meteor_options=HTER_OPTIONS,
        meteor_tag="1.5-hter",
        meteor_best_single_reference=False,
        references="album",
        source="AREL vist_eval (album_eval.py)",
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called `name`; ValueError listing the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown scoring profile {name!r} (known: {', '.join(PROFILES)})"
        ) from None
