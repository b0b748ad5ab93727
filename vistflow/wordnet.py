"""WordNet 3.0 for nltk, offline: what nltk's METEOR needs, without `nltk.download`.

nltk's `meteor_score` looks synonyms up in WordNet, which nltk normally downloads at run time
(its downloader fetches the `wordnet` corpus) — impossible here and unwelcome in a pipeline. We read the original
Princeton WordNet 3.0 database files instead, from the first of:

1. `$VISTFLOW_WORDNET_DIR` — any directory holding the WordNet 3.0 `dict` files;
2. nltk's own data path, if a `corpora/wordnet` is already installed there (found, never fetched);
3. `$WNSEARCHDIR`, `/usr/share/wordnet` (Debian/Ubuntu package `wordnet-base`) and
   `/usr/local/WordNet-3.0/dict` (Princeton's source install).

Why Debian's `wordnet-base`: it is the unmodified Princeton WordNet 3.0 database (same files, same
sizes as the corpus nltk downloads), installs from the distribution's signed archive with
`apt-get install wordnet-base`, and lives outside the Python environment, so no pip package of
unknown provenance is needed. The METEOR jar's synonym table is also WordNet-derived, but it is a
flattened export, not the database nltk's reader understands; PyPI repackagings of nltk_data are
third-party uploads.

Two files nltk's reader expects are not in the Debian package: `lexnames` (the fixed list of the 45
lexicographer files, defined by WordNet 3.0's documentation, lexnames(5WN)) is served from the
table below, and `index.sense` is only used to map between WordNet versions, which a 3.0 database
never needs (nltk would otherwise look for a second, downloaded "wordnet" corpus to map to).
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from functools import lru_cache
from pathlib import Path

from vistflow.errors import VistflowError

log = logging.getLogger(__name__)

ENV_VAR = "VISTFLOW_WORDNET_DIR"
SYSTEM_DIRS = ("/usr/share/wordnet", "/usr/local/WordNet-3.0/dict")
REQUIRED_FILES = tuple(
    [f"index.{p}" for p in ("noun", "verb", "adj", "adv")]
    + [f"data.{p}" for p in ("noun", "verb", "adj", "adv")]
    + [f"{p}.exc" for p in ("noun", "verb", "adj", "adv")]
)

# WordNet 3.0 lexicographer files: number, name, syntactic category (lexnames(5WN)).
_LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
]  # fmt: skip
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
LEXNAMES = "".join(
    f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES)
)

INSTALL_HINT = (
    "nltk's METEOR needs WordNet 3.0 offline: install Debian/Ubuntu's `wordnet-base` "
    "(apt-get install wordnet-base, files in /usr/share/wordnet), or point "
    f"{ENV_VAR} at a WordNet 3.0 dict directory; or use --meteor java or --meteor none"
)


def _has_database(path: Path) -> bool:
    return all((path / name).is_file() for name in REQUIRED_FILES)


def find_wordnet_dir() -> Path | None:
    """The WordNet 3.0 database directory to use, or None when none is installed."""
    env = os.environ.get(ENV_VAR)
    if env:
        if not _has_database(Path(env)):
            raise VistflowError(
                f"{ENV_VAR}={env}: not a WordNet 3.0 dict directory (missing index/data files)"
            )
        return Path(env)
    nltk_dir = _nltk_data_wordnet()
    if nltk_dir is not None:
        return nltk_dir
    candidates = [os.environ.get("WNSEARCHDIR", ""), *SYSTEM_DIRS]
    for cand in candidates:
        if cand and _has_database(Path(cand)):
            return Path(cand)
    return None


def _nltk_data_wordnet() -> Path | None:
    try:
        import nltk.data

        found = nltk.data.find("corpora/wordnet")
    except LookupError:
        return None
    path = Path(str(found))
    return path if path.is_dir() and _has_database(path) else None


@lru_cache(maxsize=4)
def load_wordnet(path: str | None = None):
    """An nltk `WordNetCorpusReader` over a local WordNet 3.0 database (never downloads).

    Raises VistflowError naming what to install when no database is found.
    """
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = Path(path) if path else find_wordnet_dir()
    if root is None:
        raise VistflowError(INSTALL_HINT)

    class _OfflineWordNetReader(WordNetCorpusReader):
        def open(self, file):  # noqa: A003 - nltk's CorpusReader API
            if file == "lexnames" and not (root / "lexnames").is_file():
                return io.StringIO(LEXNAMES)
            return super().open(file)

        def map_wn(self, version="wordnet"):
            # Only the OMW (multilingual) lookups use this mapping; we read 3.0 itself.
            return None

    with warnings.catch_warnings():
        # "The multilingual functions are not available": we pass no Open Multilingual Wordnet.
        warnings.simplefilter("ignore", UserWarning)
        reader = _OfflineWordNetReader(str(root), None)
    version = reader.get_version()
    if version != "3.0":
        log.warning("WordNet at %s is version %s; nltk's METEOR scores assume 3.0", root, version)
    log.info("WordNet %s loaded from %s", version, root)
    return reader


def wordnet_signature(reader) -> str:
    """A short provenance tag for score signatures, e.g. 'wn3.0'."""
    return f"wn{reader.get_version()}"
