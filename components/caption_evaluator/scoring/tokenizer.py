"""Caption tokenisation: a pure-Python equivalent of coco-caption's PTB tokenizer step, and whitespace.

coco-caption (`pycocoevalcap/tokenizer/ptbtokenizer.py`) pipes every caption, one per line, through
Stanford CoreNLP 3.4.1's `edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase` and then
drops the tokens in its `PUNCTUATIONS` list. `ptb_tokenize` reproduces that output without Java: a
longest-match lexer over the PTBLexer rule set as it behaves in 3.4.1 with its default (PTB3 escaping)
options — contractions split (`is n't`, `ca n't`, `do n't`, `it 's`), `cannot`/`gonna`/`'tis` split,
hyphenated words, numbers, times, fractions and phone numbers kept whole, `"` turned into `` `` ``/`''`,
brackets into `-LRB-`/`-RRB-` (which `-lowerCase` then turns into `-lrb-`/`-rrb-`, so coco-caption's
punctuation filter keeps them — we do the same), dots into `...`, dashes into `--`, known
abbreviations and acronyms (`mr.`, `jan.`, `u.s.`) keeping their period, and characters outside the
Basic Multilingual Plane (emoji) deleted as "untokenizable". The tests compare it with the Java
tokenizer on several hundred varied captions.

Two deliberate differences from coco-caption's wrapper, both fixes of its bugs: line separators
inside a caption other than `\\n` (`\\r`, U+2028, ...) become spaces — coco-caption passes them to Java,
which starts a new output line and silently misaligns every later caption — and each caption is
tokenised as if a newline followed it (coco-caption's last caption is followed by end-of-file, which
changes a handful of trailing-context rules for that one caption only).

Speed: a caption is split into space-separated chunks; a letters-only chunk is a token as it stands
(bar `cannot`, `gonna`...), every other chunk is lexed once per (chunk, right context) and cached,
so a 25k-caption corpus costs about a dictionary lookup per word. Only chunks that a token may
continue from across a space (a digit or period follows) are lexed in place on the whole line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import regex

from .ptb_lexer import DIGIT, PUNCTUATIONS, SKIP, SPACE, _lexer  # noqa: F401 - PUNCTUATIONS: API

_LINE_BREAKS = re.compile("\r\n|[\r\n\u2028\u2029\u000b\u000c]")
_SPACE_RUN = regex.compile(f"{SPACE}+")
_HAS_DIGIT = regex.compile(DIGIT)
_ASSIMILATIONS = {"cannot": 3, "gonna": 2, "gotta": 2, "lemme": 2, "gimme": 2, "wanna": 2}


def _to_utf16_units(s: str) -> str:
    """Split non-BMP characters into surrogate pairs, as Java's 16-bit chars see them."""
    if s.isascii() or all(ord(c) < 0x10000 for c in s):
        return s
    out = []
    for c in s:
        cp = ord(c)
        if cp < 0x10000:
            out.append(c)
        else:
            cp -= 0x10000
            out.append(chr(0xD800 + (cp >> 10)))
            out.append(chr(0xDC00 + (cp & 0x3FF)))
    return "".join(out)


def _from_utf16_units(s: str) -> str:
    if s.isascii() or not any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        return s
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class PTBTokenizer:
    """coco-caption's PTB tokenisation (PTBTokenizer -preserveLines -lowerCase, minus PUNCTUATIONS).

    Holds a cache of lexed chunks, so one instance should tokenise a whole corpus.
    """

    def __init__(self, cache_size: int = 500_000) -> None:
        self._lexer = _lexer()
        self._word_cache: dict[str, tuple[str, ...]] = {
            "": ()
        }  # context-free chunks (letters only)
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}  # (chunk, right context)
        self._cache_size = cache_size

    def __call__(self, caption: str) -> str:
        """The caption as coco-caption's tokenizer returns it: tokens joined by single spaces."""
        return " ".join(self.tokens(caption))

    def tokens(self, caption: str) -> list[str]:
        """Lower-cased PTB tokens of one caption, coco-caption's punctuation removed."""
        return [t for t in self.raw_tokens(caption) if t not in PUNCTUATIONS]

    def raw_tokens(self, caption: str) -> list[str]:
        """Lower-cased PTB tokens of one caption (PTBTokenizer -lowerCase output, punctuation kept)."""
        if (
            caption.isascii()
            and caption.isprintable()  # ASCII printable: no tabs, line breaks or control characters
            and "  " not in caption
            and "<" not in caption
            and "&" not in caption
        ):
            return self._fast(caption)
        line = _to_utf16_units(_LINE_BREAKS.sub(" ", caption)) + "\n"
        if "<" in line or "&" in line:
            # SGML tags and character entities may span spaces: lex the line as a whole.
            toks, _ = self._lexer.lex(line, 0, len(line))
            return [_from_utf16_units(t).lower() for t in toks]
        return self._chunked(line)

    def _word(self, chunk: str) -> tuple[str, ...]:
        hit = self._word_cache.get(chunk)
        if hit is None:
            low = chunk.lower()
            split = _ASSIMILATIONS.get(low)
            hit = (low[:-split], low[-split:]) if split else (low,)
            if len(self._word_cache) >= self._cache_size:
                self._word_cache = {"": ()}
            self._word_cache[chunk] = hit
        return hit

    def _fast(self, caption: str) -> list[str]:
        # Printable ASCII separated by single spaces: chunk boundaries are known without regexes.
        chunks = caption.split(" ")
        parts = list(map(self._word_cache.get, chunks))
        if None in parts:
            self._fill_fast(caption, chunks, parts)
        return [t for part in parts for t in part]

    def _fill_fast(self, caption: str, chunks: list[str], parts: list) -> None:
        """Tokens of the chunks that are not known words, from the (chunk, right context) cache."""
        last = len(chunks) - 1
        for i in [i for i, part in enumerate(parts) if part is None]:
            chunk = chunks[i]
            if chunk.isalpha():
                parts[i] = self._word(chunk)
                continue
            nxt = chunks[i + 1] if i < last else None
            if nxt and (nxt[0] == "." or nxt[0].isdigit()):
                # Fractions, phone numbers and spaced dots can cross this space.
                self._fill_in_place(caption, chunks, parts)
                return
            # No token crosses into the next chunk; only a few characters of right context
            # matter (the whole next word after a period: abbreviation and acronym rules).
            if chunk[-1] == ".":
                ctx = "\n" if nxt is None else " " + nxt + (" " if i + 1 < last else "\n")
            else:
                ctx = "\n" if nxt is None else " " + nxt[:1]
            key = (chunk, ctx)
            toks = self._cache.get(key)
            if toks is None:
                lexed, _ = self._lexer.lex(chunk + ctx, 0, len(chunk))
                toks = tuple(t.lower() for t in lexed)
                self._store(key, toks)
            parts[i] = toks

    def _fill_in_place(self, caption: str, chunks: list[str], parts: list) -> None:
        """Lex the unknown chunks on the whole line, letting tokens cross spaces."""
        line = caption + "\n"
        offset = 0
        resume = 0  # a token crossed a space: everything before this offset is already lexed
        for i, chunk in enumerate(chunks):
            start = offset
            cend = start + len(chunk)
            offset = cend + 1
            if cend <= resume:  # wholly inside a token that crossed a space
                parts[i] = ()
            elif start < resume:  # the rest of a chunk that a crossing token entered
                toks, resume = self._lexer.lex(line, resume, cend)
                parts[i] = tuple(t.lower() for t in toks)
            elif parts[i] is None:
                if chunk.isalpha():
                    parts[i] = self._word(chunk)
                else:
                    toks, end = self._lexer.lex(line, start, cend)
                    parts[i] = tuple(t.lower() for t in toks)
                    resume = max(resume, end)

    def _store(self, key: tuple[str, str], toks: tuple[str, ...]) -> None:
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[key] = toks

    def _chunked(self, line: str) -> list[str]:
        # General path (tabs, runs of spaces, non-ASCII): chunks found with the lexer's SPACE class.
        out: list[str] = []
        n = len(line) - 1  # the newline we appended
        pos = 0
        while pos < n:
            m = _SPACE_RUN.match(line, pos)
            if m:
                pos = m.end()
                if pos >= n:
                    break
            sm = _SPACE_RUN.search(line, pos, n)
            end = sm.start() if sm else n
            chunk = line[pos:end]
            if chunk.isascii() and chunk.isalpha():
                out += self._word(chunk)
                pos = end
                continue
            toks, pos = self._complex(line, pos, end)
            out += toks
        return out

    def _complex(self, line: str, pos: int, end: int) -> tuple[Sequence[str], int]:
        chunk = line[pos:end]
        nxt = _SPACE_RUN.match(line, end)
        after = nxt.end() if nxt else end
        # Tokens crossing spaces (fractions, phone numbers, spaced ellipses) continue into a chunk
        # that starts with a digit or a period: those chunks are lexed in place, never cached.
        cacheable = after >= len(line) - 1 or not (
            line[after] == "." or _HAS_DIGIT.match(line, after)
        )
        key = None
        if cacheable:
            if chunk.endswith("."):
                # An abbreviation's period depends on the next word (sentence end, acronym rule).
                sm = _SPACE_RUN.search(line, after)
                ctx_end = min(len(line), (sm.start() if sm else len(line)) + 1)
            else:
                ctx_end = min(len(line), end + 2)
            key = (chunk, line[end:ctx_end])
            hit = self._cache.get(key)
            if hit is not None:
                return hit, end
        toks, new_pos = self._lexer.lex(line, pos, end)
        result = tuple(_from_utf16_units(t).lower() for t in toks)
        if key is not None and new_pos == end:
            self._store(key, result)
        return result, new_pos


class WhitespaceTokenizer:
    """Plain whitespace tokenisation: `str.split()`, optionally lower-cased (for pre-tokenised text)."""

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = lowercase

    def tokens(self, caption: str) -> list[str]:
        """The caption's whitespace-separated tokens."""
        return (caption.lower() if self.lowercase else caption).split()

    def __call__(self, caption: str) -> str:
        return " ".join(self.tokens(caption))


def ptb_tokenize(caption: str) -> str:
    """One caption through coco-caption's PTB tokenisation (use a `PTBTokenizer` for many)."""
    return _default_tokenizer()(caption)


@lru_cache(maxsize=1)
def _default_tokenizer() -> PTBTokenizer:
    return PTBTokenizer()
