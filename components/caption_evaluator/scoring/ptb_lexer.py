"""The PTB lexer of `tokenizer.py`: CoreNLP 3.4.1's PTBLexer rule set (JFlex macros and rule
actions, default PTB3-escaping options) as a longest-match lexer over `regex` patterns.

Split from the tokenizer so the lexicon (what a token is) and the tokenizer (how captions are
chunked, cached and filtered as coco-caption does) are each one file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import regex

# coco-caption's list, verbatim (tokens are lower-cased first, so "-LRB-" never matches: kept as is).
PUNCTUATIONS = frozenset("'' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;".split())

# --------------------------------------------------------------------------------------------
# Character classes: Java's Character.isLetter / isDigit / isUpperCase as Unicode properties
# (`regex` syntax). JFlex 1.4 (CoreNLP 3.4.1) sees UTF-16 code units, so non-BMP characters are
# split into surrogates before lexing; they then match no letter/digit class, like in Java.
_L = r"\p{L}"
_D = r"\p{Nd}"
_UPPER = r"\p{Lu}"
LETTER = f"[{_L}]"
DIGIT = f"[{_D}\u07c0-\u07c9]"
LETTER_OR_DIGIT = f"[{_L}{_D}]"

# Letters JFlex's [:letter:] missed in 2014 that PTBLexer adds by hand (combining marks etc.).
_WORD_EXTRA = (
    "\u00ad\u0237-\u024f\u02c2-\u02c5\u02d2-\u02df\u02e5-\u02ff\u0300-\u036f\u0370-\u037d\u0384\u0385"
    "\u03cf\u03f6\u03fc-\u03ff\u0483-\u0487\u04cf\u04f6-\u04ff\u0510-\u0525\u055a-\u055f\u0591-\u05bd"
    "\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u0615-\u061a\u063b-\u063f\u064b-\u065e\u0670\u06d6-\u06ef"
    "\u06fa-\u06ff\u070f\u0711\u0730-\u074f\u0750-\u077f\u07a6-\u07b1\u07ca-\u07f5\u07fa\u0900-\u0903"
    "\u093c\u093e-\u094e\u0951-\u0955\u0962-\u0963\u0981-\u0983\u09bc-\u09c4\u09c7\u09c8\u09cb-\u09cd"
    "\u09d7\u09e2\u09e3\u0a01-\u0a03\u0a3c\u0a3e-\u0a4f\u0a81-\u0a83\u0abc-\u0acf\u0b82\u0bbe-\u0bc2"
    "\u0bc6-\u0bc8\u0bca-\u0bcd\u0c01-\u0c03\u0c3e-\u0c56\u0d3e-\u0d44\u0d46-\u0d48\u0e30-\u0e3a"
    "\u0e47-\u0e4e\u0eb1-\u0ebc\u0ec8-\u0ecd"
)

SPACE_CHARS = " \t\u00a0\u2000-\u200a\u3000"
SPACE = f"[{SPACE_CHARS}]"
SPACES = f"{SPACE}+"
NEWLINE = r"(?:\r\n|[\r\n\u2028\u2029\u000b\u000c\u0085])"
SPACENL = f"(?:{SPACE}|{NEWLINE})"
_SGML_NAME = r"[A-Za-z][A-Za-z0-9_:.\-]*"
SGML = (
    r"<(?:[!?][A-Za-z\-][^>\r\n]*"
    rf"|{_SGML_NAME}(?:[ ]+(?:{_SGML_NAME}|{_SGML_NAME}[ ]*=[ ]*(?:'[^']*'|\"[^\"]*\"|{_SGML_NAME})))*[ ]*/?"
    rf"|/{_SGML_NAME})[ ]*>"
)
SENTEND = f"{SPACENL}(?:{SPACENL}|[{_UPPER}]|{SGML})"
SPLET = r"&[aeiouAEIOU](?i:acute|grave|uml);"
_WORDCH = f"(?:[{_L}{_WORD_EXTRA}]|{SPLET})"
_WORDCH_OR_DIGIT = f"(?:[{_L}{_D}{_WORD_EXTRA}]|{SPLET})"
# A word may continue after an inner . ! or ? if a letter follows ("mr.smith", "report.pdf").
WORD = f"{_WORDCH}{_WORDCH_OR_DIGIT}*(?:[.!?]{_WORDCH}{_WORDCH_OR_DIGIT}*)*"
NUM = f"(?:{DIGIT}*(?:[.:,\u00ad\u066b\u066c]{DIGIT}+)+|{DIGIT}+)"
NUMBER = rf"[\-+]?{NUM}"
APOS = r"(?:['\u0092\u2019]|&apos;)"
APOSETCETERA = rf"(?:{APOS}|[`\u0091\u2018\u201b])"
HYPHEN = r"[-_\u058a\u2010\u2011]"
ACRO = r"(?:[A-Za-z](?:\.[A-Za-z])+|(?i:canada|sino|korean|eu|japan|non)-(?i:u)\.(?i:s)|(?i:u\.s\.-(?:u\.k|u\.s\.s\.r)))"

_CI = "(?i:{})".format  # JFlex %caseless applies to literals, not to character classes.
ABMONTH = _CI("jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
ABDAYS = _CI("mon|tue|tues|wed|thu|thurs|fri")
# "[A]z" in PTBLexer: an upper-case first letter (a character class), the rest caseless.
ABSTATE = (
    "(?:"
    + _CI("ala|ariz")
    + "|A"
    + _CI("z")
    + "|A"
    + _CI("rk")
    + "|"
    + _CI("calif|colo|conn|ct|dak")
    + "|D"
    + _CI("el")
    + "|"
    + _CI("fla|ga")
    + "|I"
    + _CI("ll")
    + "|"
    + _CI("ind|kans?|ky")
    + "|L"
    + _CI("a")
    + "|M"
    + _CI("ass")
    + "|"
    + _CI("md|mich|minn")
    + "|M"
    + _CI("iss")
    + "|"
    + _CI("mo|mont|neb|nev|okla")
    + "|O"
    + _CI("re")
    + "|P"
    + _CI("a")
    + "|"
    + _CI("penn|tenn")
    + "|T"
    + _CI("ex")
    + "|"
    + _CI("va|vt")
    + "|W"
    + _CI("ash")
    + "|"
    + _CI("wisc?|wyo")
    + ")"
)
ABCOMP = _CI("inc|cos?|corp|pp?tys?|ltd|plc|bancorp|dept|bhd|assn|univ|intl|sys")
ABCOMP2 = _CI("invt|elec|natl|m[ft]g")
ABNUM = _CI("tel|est|ext|sq")
# Only before a number ("fig. 3", "no. 5"); elsewhere the period is split off.
ABBREV3 = _CI("ca|figs?|prop|nos?|art|bldg|pp|op") + "\\."
ABPTIT = _CI("jr|sr|bros|(?:ed|ph)\\.d|blvd|rd|esq")
ABTITLE = (
    "(?:"
    + _CI("mr|mrs|ms")
    + "|M"
    + _CI("iss")
    + "|"
    + _CI(
        "drs?|profs?|sens?|reps?|attys?|lt|col|gen|messrs|govs?|adm|rev|maj|sgt|cpl|pvt|mt|capt"
        "|ste?|ave|pres|lieut|hon|brig|co?mdr|pfc|spc|supts?|det|ft"
    )
    + ")"
)
_ABBREV1_WORDS = _CI("etc|al|seq|bldg")
ABBREV1 = f"(?:{ABMONTH}|{ABDAYS}|{ABSTATE}|{ABCOMP}|{ABNUM}|{ABPTIT}|{_ABBREV1_WORDS})\\."
_ABBREV4_WORDS = _CI(r"vs|alex|wm|jos|cie|a\.k\.a|cf|treas|ph")
ABBREV4 = f"(?:[A-Za-z]|{ABTITLE}|{_ABBREV4_WORDS}|{ACRO}|{ABCOMP2})"
ACRONYM_FOLLOWERS = (
    "About|According|Additionally|After|An|A|As|At|But|Earlier|He|Her|Here|However|If|In|It|Last|"
    "Many|More|Mr\\.|Ms\\.|Now|Once|One|Other|Our|She|Since|So|Some|Such|That|The|Then|There|These|"
    "They|This|We|When|While|What|Yet|You"
)


def _followers() -> str:
    # "[A]bout": the first letter is a (case-sensitive) character class, the rest is caseless.
    alts = []
    for word in ACRONYM_FOLLOWERS.split("|"):
        alts.append(word[0] + (_CI(word[1:]) if len(word) > 1 else ""))
    return "(?:" + "|".join(alts) + f"|{SGML})"


# --------------------------------------------------------------------------------------------
# Token actions (what PTBLexer's rule bodies do with the matched text under default options).


def _remove_soft_hyphens(s: str) -> str:
    return s.replace("\u00ad", "")


_SINGLE_Q = re.compile(r"&apos;|'")
_DOUBLE_Q = re.compile(r'"|&quot;')


def latex_quotes(tok: str, probably_left: bool) -> str:
    """PTBLexer.latexQuotes: straight quotes by position, curly and CP1252 quotes by shape."""
    if probably_left:
        tok = _SINGLE_Q.sub("`", tok)
        tok = _DOUBLE_Q.sub("``", tok)
    else:
        tok = _SINGLE_Q.sub("'", tok)
        tok = _DOUBLE_Q.sub("''", tok)
    tok = re.sub("[\u0091\u2018\u201b\u2039]", "`", tok)
    tok = re.sub("[\u0092\u2019\u203a]", "'", tok)
    tok = re.sub("[\u0093\u201c\u00ab]", "``", tok)
    tok = re.sub("[\u0094\u201d\u00bb]", "''", tok)
    return tok


def _currency(tok: str) -> str:
    tok = tok.replace("\u00a2", "cents").replace("\u00a3", "#")
    return re.sub("[\u0080\u00a4\u20a0\u20ac]", "$", tok)


_FRACTIONS = {"\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4", "\u2153": "1/3", "\u2154": "2/3"}


def _fraction2(tok: str) -> str:
    return "".join(_FRACTIONS.get(c, c) for c in tok)


def _nbsp(tok: str) -> str:
    return tok.replace(" ", "\u00a0")


def _phone(tok: str) -> str:
    return _nbsp(tok).replace("(", "-LRB-").replace(")", "-RRB-")


SKIP = None  # the action of rules that produce no token (spaces, deleted characters)


@dataclass(frozen=True)
class _Rule:
    name: str
    pattern: regex.Pattern  # group "m" = token text; the rest of the match is trailing context
    action: Callable[[str], str] | None
    pushback: int = 0  # characters of the main text returned to the input (JFlex yypushback)
    duplicate_period: bool = False  # "etc." before a sentence end: token "etc." then "." again
    strip_trailing_space: bool = False  # PTBLexer's workaround for a JFlex trailing-context bug


def _keep(s: str) -> str:
    return s


def _expand_caseless(pattern: str) -> str:
    """Rewrite `(?i:...)` groups as explicit `[xX]` letters.

    `regex` leaks a scoped `(?i:...)` flag into sibling alternatives (so a class like `[^,-_]` would
    suddenly exclude lower-case letters too); spelling the cases out avoids inline flags altogether.
    Character classes inside the group keep their case, as in JFlex's %caseless.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    depth_stack: list[bool] = []  # per open group: is it a caseless group?
    caseless = 0
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            out.append(pattern[i : j + 1])
            i = j + 1
        elif pattern.startswith("(?i:", i):
            depth_stack.append(True)
            caseless += 1
            out.append("(?:")
            i += 4
        elif c == "(":
            depth_stack.append(False)
            out.append(c)
            i += 1
        elif c == ")":
            if depth_stack and depth_stack.pop():
                caseless -= 1
            out.append(c)
            i += 1
        elif caseless and c.isascii() and c.isalpha():
            out.append(f"[{c.lower()}{c.upper()}]")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _rule(name, main, trail=None, action=_keep, **kw) -> _Rule:
    pattern = _expand_caseless(f"(?P<m>{main})" + (f"(?:{trail})" if trail else ""))
    # POSIX (leftmost-longest) matching, as a JFlex DFA does; Python's re takes the first alternative.
    return _Rule(name, regex.compile(pattern, regex.POSIX | regex.V0), action, **kw)


def _const(value: str) -> Callable[[str], str]:
    return lambda _s: value


def _build_rules() -> list[_Rule]:
    apoword = (
        f"{APOS}{_CI('n')}{APOS}?|[lLdDjJ]{APOS}|{_CI('dunkin')}{APOS}|{_CI('somethin')}{APOS}|{_CI('ol')}{APOS}"
        f"|{APOS}{_CI('em')}|[A-HJ-XZn]{APOSETCETERA}{LETTER}{{2}}{LETTER}*|{APOS}[2-9]0{_CI('s')}"
        f"|{APOS}{_CI('till?')}|{LETTER}{LETTER}*[aeiouyAEIOUY]{APOSETCETERA}[aeiouA-Z]{LETTER}*"
        f"|{APOS}{_CI('cause')}|{_CI(chr(39).join(['cont', 'd']))}\\.?|{_CI(chr(39).join(['nor', 'easter']))}"
        f"|{_CI(chr(39).join(['c', 'mon']))}|{_CI(chr(39).join(['e', 'er']))}"
        f"|{_CI(chr(39).join(['s', 'mores']))}|{_CI(chr(39).join(['ev', 'ry']))}"
        f"|{_CI(chr(39).join(['li', 'l']))}|{_CI(chr(39).join(['nat', 'l']))}"
    )
    redaux = f"{APOS}(?:[msdMSD]|{_CI('re|ve|ll')})"
    sredaux = f"{_CI('n')}{APOSETCETERA}{_CI('t')}"
    sword = "[A-Za-z\u00ad]*[A-MO-Za-mo-z]\u00ad*"
    fullurl = r"(?i:https?)://[^ \t\n\f\r\"<>|(){}]+[^ \t\n\f\r\"<>|.!?(){},-]"
    likelyurl = (
        r"(?:(?:(?i:www)\.(?:[^ \t\n\f\r\"<>|.!?(){},]+\.)+[a-zA-Z]{2,4})"
        # ",-_" is a character range in PTBLexer.flex (no digits, capitals, ":" or "/"): kept as is.
        r"|(?:(?:[^ \t\n\f\r\"`'<>|.!?(){},-_$]+\.)+(?i:com|net|org|edu)))"
        r"(?:/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-])?"
    )
    email = (
        r"(?:&(?i:lt);|<)?[a-zA-Z0-9][^ \t\n\f\r\"<>|()\u00a0{}]*@(?:[^ \t\n\f\r\"<>|(){}.\u00a0]+\.)*"
        r"[^ \t\n\f\r\"<>|(){}.\u00a0]+(?:&(?i:gt);|>)?"
    )
    thing_piece = f"(?:[dDoOlL]{APOSETCETERA}{LETTER_OR_DIGIT})?{LETTER_OR_DIGIT}+"
    thing = f"{thing_piece}(?:{HYPHEN}{thing_piece})*"
    thinga = r"[A-Z]+(?:(?:[+&]|&(?i:amp);)[A-Z]+)+"
    thing3 = r"[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}"
    hthing = rf"[A-Za-z0-9][A-Za-z0-9.,\u00ad]*(?:-(?:[A-Za-z0-9\u00ad]+|{ACRO}\.))+"
    frac = rf"(?:{DIGIT}{{1,4}}[- \u00a0])?{DIGIT}{{1,4}}(?:\\?/|\u2044){DIGIT}{{1,4}}"
    phone = (
        r"(?:\([0-9]{2,3}\)[ \u00a0]?|(?:\+\+?)?(?:[0-9]{2,4}[\- \u00a0])?[0-9]{2,4}[\- \u00a0])"
        r"[0-9]{3,4}[\- \u00a0]?[0-9]{3,5}"
        r"|(?:(?:\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}"
    )
    ldots = r"\.{3,5}|(?:\.[ \u00a0]){2,4}\.|[\u0085\u2026]"
    quotes = (
        f"{APOS}|''|[`\u2018\u2019\u201a\u201b\u201c\u201d\u0091\u0092\u0093\u0094\u201e\u201f"
        f"\u2039\u203a\u00ab\u00bb]{{1,2}}"
    )
    dblquot = r'"|&(?i:quot);'
    insentp = "[,;:]"
    tbspec = (
        r"-(?i:rrb|lrb|rcb|lcb|rsb|lsb)-|(?i:c\.d\.s)|(?i:pro)-|(?i:anti)-|(?i:s)(?:&|&(?i:amp);)(?i:p)-500"
        rf"|(?i:s)(?:&|&(?i:amp);)(?i:ls)|(?i:cap){APOS}(?i:n)|(?i:c){APOS}(?i:est)"
    )
    miscsymbol = (
        "[\u00a6\u00a7\u00a8\u00a9\u00ac\u00ae\u00af\u00b0-\u00b3\u00b4-\u00ba\u00d7\u00f7\u0387\u05be"
        "\u05c0\u05c3\u05c6\u05f3\u05f4\u0600-\u0603\u0606-\u060a\u060c\u0614\u061b\u061e\u066a\u066d"
        "\u0703-\u070d\u07f6\u07f7\u07f8\u0964\u0965\u0e4f\u2020-\u2023\u2032-\u2038\u2044\u207a-\u207f"
        "\u208a-\u208e\u2100-\u214f\u2116\u2190-\u21ff\u2200-\u22ff\u2300-\u23ff\u2600-\u26ff\u3012"
        "\u30fb\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]"
    )
    filename_ext = _CI(
        "bat|bmp|c|class|cgi|cpp|dll|doc|docx|exe|gif|gz|h|htm|html|jar|java|jpeg|jpg|mov|mp3|pdf"
        "|php|pl|png|ppt|ps|py|sql|tar|txt|wav|x|xml|zip"
    )
    filename = f"{LETTER_OR_DIGIT}+(?:\\.{LETTER_OR_DIGIT}+)*\\.{filename_ext}"
    smiley = r"[<>]?[:;=][\-o\*']?[\(\)DPdpO\\{@\|\[\]]"
    asian_smiley = (
        r"[\^x=~<>]\.\[\^x=~<>]|[\-\^x=~<>']_[\-\^x=~<>']|\([\-\^x=~<>'][_.]?[\-\^x=~<>']\)"
        r"|\([\^x=~<>']-[\^x=~<>'`]\)"
    )

    def parens(s: str) -> str:
        return s.replace("(", "-LRB-").replace(")", "-RRB-")

    return [
        _rule("PROG_LANGS", r"(?i:c\+\+|(?:c|f)#)"),
        # "cannot" -> "can" "not", "gonna" -> "gon" "na", "'tis" -> "'t" "is" (splitAssimilations).
        _rule("ASSIMILATIONS3", _CI("cannot|'twas"), pushback=3),
        _rule("ASSIMILATIONS2", _CI("'tis|gonna|gotta|lemme|gimme|wanna"), pushback=2),
        _rule("SGML", SGML, action=_nbsp),
        _rule(
            "SPMDASH",
            "&(?:MD|mdash|ndash);|[\u0096\u0097\u2013\u2014\u2015]".replace(
                "MD|mdash|ndash", "(?i:md|mdash|ndash)"
            ),
            action=_const("--"),
        ),
        _rule("SPAMP", "&(?i:amp);", action=_const("&")),
        _rule("SPPUNC", "&(?:(?i:ht|tl|ur|lr|qc|ql|qr|odq|cdq)|#[0-9]+);"),
        _rule("WORD_REDAUX", WORD, redaux, action=_remove_soft_hyphens),
        _rule("SWORD_SREDAUX", sword, sredaux, action=_remove_soft_hyphens),
        _rule("WORD", WORD, action=_remove_soft_hyphens),
        _rule("APOWORD", apoword),
        _rule("APOWORD2", f"{_CI('y')}{APOS}", LETTER),
        _rule("FULLURL", fullurl),
        _rule("LIKELYURL", likelyurl),
        _rule("EMAIL", email),
        _rule("TWITTER", f"@[a-zA-Z_][a-zA-Z_0-9]*|#{LETTER}+"),
        _rule("REDAUX_NONLETTER", redaux, "[^A-Za-z]", action=lambda s: latex_quotes(s, False)),
        _rule("SREDAUX", sredaux, action=lambda s: latex_quotes(s, False)),
        _rule("DATE", rf"{DIGIT}{{1,2}}[\-/]{DIGIT}{{1,2}}[\-/]{DIGIT}{{2,4}}"),
        _rule("NUMBER", NUMBER, action=_remove_soft_hyphens),
        _rule(
            "SUBSUPNUM",
            "[\u207a\u207b\u208a\u208b]?(?:[\u2070\u00b9\u00b2\u00b3\u2074-\u2079]+|[\u2080-\u2089]+)",
        ),
        _rule("FRAC", frac, action=_nbsp),
        _rule("FRAC2", "[\u00bc\u00bd\u00be\u2153-\u215e]", action=_fraction2),
        _rule("TBSPEC", tbspec, action=lambda s: re.sub("&(?i:amp);", "&", s)),
        _rule("THING3", thing3),
        _rule("DOLSIGN", r"(?:[A-Z]*\$|#)"),
        _rule(
            "DOLSIGN2",
            "[\u00a2\u00a3\u00a4\u00a5\u0080\u20a0\u20ac\u060b\u0e3f\u20a4\uffe0\uffe1\uffe5\uffe6]",
            action=_currency,
        ),
        _rule(
            "ACRONYM_SENTEND",
            rf"(?:[A-Za-z]|{ACRO})\.",
            f"{SPACES}{_followers()}{SPACE}",
            duplicate_period=True,
            strip_trailing_space=True,
        ),
        _rule("ABBREV1_SENTEND", ABBREV1, SENTEND, duplicate_period=True),
        _rule("ABBREV1_ANY", ABBREV1, "(?s:..)"),
        _rule("ABBREV1", ABBREV1),
        _rule("ABBREV2", f"{ABBREV4}\\."),
        _rule("ABBREV4", ABBREV4, SPACE),
        _rule("ABBREV3", ABBREV3, f"{SPACENL}?{DIGIT}"),
        _rule("ACRO", ACRO, SPACENL),
        _rule("TBSPEC2", f"{APOS}[0-9][0-9]", SPACENL),
        _rule("FILENAME", filename, f"(?:{SPACENL}|[.?!,])"),
        _rule("WORD_PERIOD", f"{WORD}\\.", insentp, action=_remove_soft_hyphens),
        _rule("PHONE", phone, action=_phone),
        _rule("DBLQUOT_LEFT", dblquot, "[A-Za-z0-9$]", action=lambda s: latex_quotes(s, True)),
        _rule("DBLQUOT", dblquot, action=lambda s: latex_quotes(s, False)),
        _rule("PLUS", r"\+"),
        _rule("PERCENT", "[%&\u2030\u2031]"),
        _rule("TILDE", r"[~^]"),
        _rule("BAR", r"[|\\]"),
        _rule("DEL", r"\x7f", action=SKIP),
        _rule("FAKEDUCKFEET", "<<|>>"),
        _rule("LESSTHAN", "<|&(?i:lt);", action=_const("<")),
        _rule("GREATERTHAN", ">|&(?i:gt);", action=_const(">")),
        _rule("SMILEY", smiley, f"[^A-Za-z{_D}]", action=parens),
        _rule("ASIANSMILEY", asian_smiley, action=parens),
        _rule("LSB", r"\[", action=_const("-LSB-")),
        _rule("RSB", r"\]", action=_const("-RSB-")),
        _rule("LBRACE", r"\{", action=_const("-LCB-")),
        _rule("RBRACE", r"\}", action=_const("-RCB-")),
        _rule("LPAREN", r"\(", action=_const("-LRB-")),
        _rule("RPAREN", r"\)", action=_const("-RRB-")),
        _rule("HYPHENS", r"-+", action=lambda s: "--" if 3 <= len(s) <= 4 else s),
        _rule("LDOTS", ldots, action=_const("...")),
        _rule("FNMARKS", "@+|#+|_+"),
        _rule("ASTS", r"\*+|(?:\\\*){1,3}"),
        _rule("INSENTP", insentp),
        _rule("QMARKS", "[?!]+"),
        _rule("PERIODS", "[.\u00a1\u00bf\u037e\u0589\u061f\u06d4\u0700-\u0702\u07fa]"),
        _rule("EQUALS", "="),
        _rule("SLASH", "/"),
        _rule("HTHING_PERIOD", f"{hthing}\\.", insentp, action=_remove_soft_hyphens),
        _rule("HTHING", hthing, action=_remove_soft_hyphens),
        _rule("THING_PERIOD", f"{thing}\\.", insentp),
        _rule("THING", thing),
        _rule(
            "THINGA_PERIOD", f"{thinga}\\.", insentp, action=lambda s: re.sub("&(?i:amp);", "&", s)
        ),
        _rule("THINGA", thinga, action=lambda s: re.sub("&(?i:amp);", "&", s)),
        _rule(
            "QUOTE_LEFT", "'", "[A-Za-z][^ \t\n\r\u00a0]", action=lambda s: latex_quotes(s, True)
        ),
        _rule("REDAUX", redaux, action=lambda s: latex_quotes(s, False)),
        _rule("QUOTES", quotes, action=lambda s: latex_quotes(s, False)),
        _rule("MISCSYMBOL", miscsymbol),
        _rule("SPACES", f"\x00|{SPACES}|[\u200b\u200e\u200f\ufeff]", action=SKIP),
        _rule("NEWLINE", NEWLINE, action=SKIP),
        _rule("NBSP_ENTITY", "&(?i:nbsp);", action=SKIP),
        _rule("UNTOKENIZABLE", "(?s:.)", action=SKIP),
    ]


class _Lexer:
    """JFlex semantics: the longest match wins (trailing context counts), ties go to the earlier rule."""

    def __init__(self) -> None:
        self.rules = _build_rules()
        # Rules that can start with a given character (found with partial matching), so a position
        # tries a handful of rules instead of all of them.
        self._by_first: dict[str, tuple[_Rule, ...]] = {}

    def _candidates(self, ch: str) -> tuple[_Rule, ...]:
        rules = self._by_first.get(ch)
        if rules is None:
            rules = tuple(r for r in self.rules if r.pattern.match(ch, partial=True) is not None)
            self._by_first[ch] = rules
        return rules

    def lex(self, text: str, pos: int, stop: int) -> tuple[list[str], int]:
        """Tokens from `text[pos:]` until a token ends at or after `stop`; returns (tokens, end)."""
        out: list[str] = []
        n = len(text)
        while pos < stop and pos < n:
            best: _Rule | None = None
            best_total = 0
            best_main = ""
            for rule in self._candidates(text[pos]):
                m = rule.pattern.match(text, pos)
                if m is not None and m.end() - pos > best_total:
                    best, best_total, best_main = rule, m.end() - pos, m.group("m")
            assert best is not None  # UNTOKENIZABLE matches any character
            main = best_main
            if best.strip_trailing_space:
                main = main.rstrip(" \t\n\r\u000b\u000c\u0085")
            if best.pushback:
                main = main[: -best.pushback]
            if best.duplicate_period and len(main) == 2:
                # A one-letter "acronym" ("I.") before a sentence start: the letter, then the period.
                main = main[:1]
                consumed = 1
            elif best.duplicate_period:
                # The token keeps its period and the period is lexed again (PTBLexer's yypushback(1)).
                consumed = len(main) - 1
            else:
                consumed = len(main)
            if best.action is not SKIP:
                out.append(best.action(main))
            pos += max(consumed, 1)
        return out, pos


@lru_cache(maxsize=1)
def _lexer() -> _Lexer:
    return _Lexer()
