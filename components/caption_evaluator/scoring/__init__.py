"""Caption and story metrics with coco-caption semantics, under named, signed protocols.

    from components.caption_evaluator.scoring import score
    result = score({"img1": "a dog runs"}, {"img1": ["a dog is running", "the dog runs"]}, profile="coco")
    result.metrics["CIDEr"], result.per_item["img1"]["Bleu_4"], result.signature

BLEU-1..4, ROUGE-L and CIDEr-D equal pycocoevalcap's on the same tokens (tests check 1e-6) and are
computed in pure Python/numpy; PTB tokenisation is a pure-Python equivalent of coco-caption's Java
step; METEOR runs the METEOR 1.5 jar (`meteor="java"`) or nltk with offline WordNet (`"nltk"`).
Pure library: no TensorFlow, no Beam.
"""

from components.caption_evaluator.scoring.api import ScoreResult, score, score_stories
from components.caption_evaluator.scoring.meteor import MeteorError, MeteorJava
from components.caption_evaluator.scoring.profiles import (
    METRIC_KEYS,
    PROFILES,
    Profile,
    get_profile,
)
from components.caption_evaluator.scoring.tokenizer import (
    PTBTokenizer,
    WhitespaceTokenizer,
    ptb_tokenize,
)

__all__ = [
    "METRIC_KEYS",
    "PROFILES",
    "MeteorError",
    "MeteorJava",
    "PTBTokenizer",
    "Profile",
    "ScoreResult",
    "WhitespaceTokenizer",
    "get_profile",
    "ptb_tokenize",
    "score",
    "score_stories",
]
