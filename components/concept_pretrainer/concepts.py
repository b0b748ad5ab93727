"""The visual-concept vocabulary: the most frequent content words of the train split's captions.

As in Fang et al. 2015 ("From captions to visual concepts and back"): a photo's concepts are the
words its captions use; the vocabulary keeps the K words that most photos mention. Nouns are
folded to their WordNet base form (dogs -> dog, children -> child) so one concept is one thing;
function words and narrative filler ("we", "went", "fun") are dropped because no pixel shows them.
Pure Python: the executor, tests and benchmarks share it without TensorFlow.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

from vistflow.errors import VistflowError

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z]+")
# Function words and story filler: frequent in every caption, visible in none.
STOPWORDS = frozenset(
    """a an the and or but of to in on at by for with from into onto over under up down out off
    about after before during while then than so as is are was were be been being am has have had
    do does did this that these those there here it its they them their theirs we us our ours i
    me my mine you your he him his she her hers who whom which what when where why how all any
    both each few more most other some such no nor not only own same too very can will just
    should now one two three four five got get gets getting went go goes going came come comes
    made make makes took take takes see saw seen look looks looked looking lot lots really great
    good nice fun time day today first last finally end ended also everyone everybody some
    something things thing way well much many little big best lovely beautiful wonderful amazing
    had having let lets us said say even still back again ready favorite female male""".split()
)


@lru_cache(maxsize=1)
def _wordnet():
    """nltk's WordNet reader over the local database, or None (then plurals fold by rule)."""
    try:
        from vistflow.wordnet import load_wordnet

        return load_wordnet()
    except (VistflowError, ImportError, LookupError, OSError) as e:
        log.warning("concept vocabulary without WordNet (%s): plurals fold by suffix rules", e)
        return None


@lru_cache(maxsize=65536)
def base_form(word: str) -> str:
    """The noun base form of `word` (WordNet's morphy), else the word itself."""
    wn = _wordnet()
    if wn is not None:
        lemma = wn.morphy(word, "n")
        return lemma or word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


@lru_cache(maxsize=65536)
def _concept(token: str) -> str | None:
    """`token`'s concept word, or None for a word no photo can show.

    With WordNet: only words it knows as nouns or adjectives (things, settings, colours, events),
    so verbs and adverbs of the narration ("loved", "always") drop out.
    """
    if len(token) <= 2 or token in STOPWORDS:
        return None
    word = base_form(token)
    wn = _wordnet()
    if wn is not None and not (wn.synsets(word, "n") or wn.synsets(word, "a")):
        return None
    return None if word in STOPWORDS else word


def words_of(texts: Iterable[str]) -> set[str]:
    """The candidate concept words of one photo's captions (lowercased, folded, no stopwords)."""
    found = {_concept(token) for text in texts for token in _WORD.findall(text.lower())}
    found.discard(None)
    return found


class ConceptVocabulary:
    """K concept words with their train frequencies (photos mentioning them), most frequent first."""

    def __init__(self, words: Sequence[str], counts: Sequence[int], photos: int):
        self.words = list(words)
        self.counts = list(counts)
        self.photos = photos
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def labels(self, texts: Iterable[str]) -> list[int]:
        """Indices of the concepts that `texts` (one photo's captions) mention."""
        return sorted(self.index[w] for w in words_of(texts) if w in self.index)

    def to_json(self) -> dict:
        return {"words": self.words, "counts": self.counts, "photos": self.photos}

    @classmethod
    def from_json(cls, data: dict) -> ConceptVocabulary:
        return cls(data["words"], data["counts"], data["photos"])


def build_vocabulary(
    photo_texts: Iterable[Iterable[str]], *, max_concepts: int, min_count: int
) -> ConceptVocabulary:
    """The `max_concepts` words most photos mention (at least `min_count` photos each).

    Ties break alphabetically so the vocabulary is a function of the data alone.
    """
    df: Counter[str] = Counter()
    photos = 0
    for texts in photo_texts:
        photos += 1
        df.update(words_of(texts))
    ranked = sorted(((c, w) for w, c in df.items() if c >= min_count), key=lambda x: (-x[0], x[1]))
    ranked = ranked[:max_concepts]
    if not ranked:
        raise VistflowError(
            f"concept vocabulary: no word is mentioned by {min_count}+ of the {photos} train "
            "photos' captions (lower concept_config.min_count or check the train split's text)"
        )
    return ConceptVocabulary([w for _, w in ranked], [c for c, _ in ranked], photos)
