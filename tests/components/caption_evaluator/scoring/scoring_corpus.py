"""Seeded caption generators for the scoring tests (imported by the test modules)."""

from __future__ import annotations

import random

SUBJECTS = [
    "a man", "A woman", "the dog", "Two kids", "an old lady", "The cat", "people", "A group of friends",
    "my family", "[female]", "[male]", "the [organization] team", "we", "I", "Mr. Smith", "mrs. jones",
    "Dr. Who", "St. Louis fans", "the U.S. army", "John's mom", "the boys' dad", "a 3-year-old girl",
    "twenty-one people", "a well-known chef", "the co-workers", "A YOUNG BOY",
]  # fmt: skip
VERBS = [
    "is riding", "was sitting on", "isn't eating", "can't find", "won't leave", "don't like",
    "are playing with", "'re watching", "cannot see", "gonna visit", "wanna try", "'s holding",
    "has been to", "'ll fly over", "'d love", "went to", "is standing next to", "lemme see",
]  # fmt: skip
OBJECTS = [
    "a red bike", "the black-and-white photo", "a t-shirt", "an x-ray", "the two-story house",
    "some pizza", "the park", "[location]", "the beach", "a café", "the naïve artist's résumé",
    "the 1990s", "the '90s", "rock 'n' roll", "5 o'clock tea", "the colour grey", "an e-mail",
    "www.example.com", "http://example.org/a?b=c", "john.doe@example.com", "the #1 spot",
    "3 1/2 cups", "1/2 of it", "$20", "$5.50", "€3", "50% off", "1,000 people", "3.5 miles",
    "5:30 p.m.", "12/25/2015", "(555) 123-4567", "555-123-4567", "a B&B", "AT&T", "C++ code",
    "½ a cup", "30°", "jan. 5", "no. 5", "Mt. Everest", "vs. them", "e.g. apples", "etc.", "U.K.",
    "NASA", "an F-16", "y'all", "'em all", "ol' blue", "c'mon", "'tis the season", "it's", "its bone",
]  # fmt: skip
ENDS = [
    ".",
    "",
    " .",
    "!",
    "!!",
    "?",
    "?!",
    "...",
    " ...",
    ". . .",
    "…",
    ":)",
    ";",
    ",",
    " -- really",
    " — nice",
    '."',
    "'",
    ")",
]
PREFIXES = [
    "",
    "",
    "",
    '"',
    "'",
    "(",
    "[",
    "``",
    "“",
    "‘",
    "-- ",
    "* ",
    "Wow, ",
    "Oh! ",
    "Hmm... ",
    "So: ",
]
SEPARATORS = [
    " ",
    " ",
    " ",
    " ",
    "  ",
    "\t",
    " , ",
    "; ",
    " (and ",
    ") ",
    ' "',
    '" ',
    " “curly” ",
    " / ",
    " & ",
    " -- ",
    " - ",
    " {",
    "} ",
]


def varied_sentence(rng: random.Random) -> str:
    """A caption-like sentence exercising the PTB tokenizer's rules."""
    parts = [rng.choice(PREFIXES), rng.choice(SUBJECTS)]
    for _ in range(rng.randint(0, 2)):
        parts += [rng.choice(SEPARATORS), rng.choice(VERBS), " ", rng.choice(OBJECTS)]
    parts += [" ", rng.choice(VERBS), " ", rng.choice(OBJECTS), rng.choice(ENDS)]
    s = "".join(parts)
    r = rng.random()
    if r < 0.15:
        s = s.upper()
    elif r < 0.35:
        s = s.lower()
    return s


WORDS = (
    "a man woman dog cat riding bike street red blue the of on in with is are two people standing next "
    "to large small white black table plate food pizza sitting train bus sign clock tree field grass"
).split()


def token_sentence(rng: random.Random) -> str:
    """A pre-tokenised caption, including the edge cases the metrics must agree on."""
    r = rng.random()
    if r < 0.04:
        return ""  # empty candidate
    if r < 0.08:
        return rng.choice(WORDS)  # single word
    if r < 0.12:
        return " ".join([rng.choice(WORDS)] * rng.randint(2, 7))  # repeated word
    if r < 0.16:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 70)))  # long
    if r < 0.20:
        return " ".join(
            rng.choice(["zebra", "xylophone", "quux", "kayak"]) for _ in range(rng.randint(1, 9))
        )  # no overlap
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 16)))


def pair_corpus(seed: int, n: int) -> tuple[dict[int, str], dict[int, list[str]]]:
    """n (candidate, 1..6 references) items of tokenised text, seeded.

    Some candidates are perturbed copies of a reference (like a decent model's output), so higher
    n-gram orders match too; the rest are independent draws, including every edge case above.
    """
    rng = random.Random(seed)
    preds: dict[int, str] = {}
    refs: dict[int, list[str]] = {}
    for i in range(n):
        refs[i] = [token_sentence(rng) or "a" for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.4:
            words = rng.choice(refs[i]).split()
            for _ in range(rng.randint(0, 3)):
                if words:
                    words[rng.randrange(len(words))] = rng.choice(WORDS)
            preds[i] = " ".join(words)
        else:
            preds[i] = token_sentence(rng)
    return preds, refs
