"""Sentence grammar: literal descriptions of one photo (DII) and stories over five photos (SIS).

DII descriptions are functions of the photo's `Scene` alone. SIS sentences also depend on the
album and on the story so far: every sentence names the album's event (which most photos do not
show), the first opens and the last closes the story, and later sentences refer back to things
seen in earlier photos. Synonyms, optional clauses and several templates per slot keep the text
from being a lookup table.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vistflow.synth.world import EVENTS, OBJECTS, SETTINGS, Placement, Scene

NUMBERS = {2: "two", 3: "three", 4: "four"}

POSITION_PHRASES = {
    "left": ("on the left", "on the left side", "to the left"),
    "centre": ("in the middle", "in the center", "in the center of the picture"),
    "right": ("on the right", "on the right side", "to the right"),
}

WEATHER_ADJ = {"sunny": ("sunny", "bright"), "cloudy": ("cloudy", "overcast"), "night": ("dark",)}
WEATHER_TAIL = {
    "sunny": ("on a sunny day", "in the sunshine"),
    "cloudy": ("on a cloudy day", "under a cloudy sky"),
    "night": ("at night", "in the evening"),
}

# What an object is doing, for literal descriptions ("is floating", "are parked").
DII_STATES = {
    "man": ("standing", "smiling", "posing", "walking"),
    "woman": ("standing", "smiling", "posing", "walking"),
    "child": ("playing", "smiling", "standing", "running"),
    "bride": ("smiling", "standing", "posing"),
    "dog": ("running", "sitting", "playing"),
    "cat": ("sitting", "sleeping", "resting"),
    "ball": ("lying on the ground", "resting"),
    "balloon": ("floating", "floating in the air"),
    "cake": ("sitting on a table", "ready to eat"),
    "tree": ("standing", "growing"),
    "christmas_tree": ("standing", "decorated"),
    "car": ("parked", "driving by"),
    "boat": ("floating", "sailing"),
    "house": ("standing",),
    "guitar": ("lying", "leaning"),
    "flower": ("growing", "blooming"),
    "tent": ("pitched", "set up"),
    "campfire": ("burning",),
    "gift": ("wrapped", "stacked"),
    "snowman": ("standing", "smiling"),
    "bicycle": ("parked", "leaning"),
    "kite": ("flying", "flying high"),
    "umbrella": ("open", "standing"),
    "microphone": ("standing", "set up"),
    "drum": ("set up", "waiting"),
    "cap": ("flying in the air", "in the air"),
    "pumpkin": ("sitting", "lying"),
    "bench": ("empty", "standing"),
    "bird": ("flying", "flying by"),
    "blanket": ("spread out", "lying on the ground"),
    "backpack": ("lying", "sitting"),
}

# Past-tense story activities ("the brown dog ran around").
SIS_ACTIVITIES = {
    "person": ("posed for a picture", "smiled at the camera", "had a great time", "walked around"),
    "dog": ("ran around", "played with us", "barked at everyone"),
    "cat": ("sat quietly", "watched us", "took a nap"),
    "bird": ("flew by", "sang for us"),
    "car": ("drove by", "was parked nearby"),
    "bicycle": ("was parked nearby", "was waiting for us"),
}
SIS_ACTIVITY_DEFAULT = ("was there", "caught our eye", "was nearby")

# Verb for a back reference to a key object no longer in view ("we ate the cake we saw earlier").
KEY_USES = {
    "cake": "ate",
    "balloon": "let go of",
    "gift": "opened",
    "bride": "danced with",
    "flower": "gave away",
    "guitar": "listened to",
    "microphone": "passed around",
    "drum": "listened to",
    "cap": "threw",
    "christmas_tree": "decorated",
    "snowman": "said goodbye to",
    "tent": "packed up",
    "campfire": "sat around",
    "backpack": "carried",
    "bird": "followed",
    "tree": "rested under",
    "boat": "sailed",
    "umbrella": "sat under",
    "ball": "played with",
    "car": "rode in",
    "bicycle": "rode",
    "house": "visited",
    "blanket": "sat on",
    "kite": "flew",
    "pumpkin": "carved",
    "cat": "played with",
}

KEY_ADJECTIVES = ("huge", "beautiful", "amazing", "perfect", "so pretty", "the best part")
EARLIER = ("earlier", "before", "the start")  # "the dog from ..."
SAW = ("earlier", "before")  # "the cake we saw ..."
NOISE = (
    ", and it was so much fun",
    ", which made everyone happy",
    " as always",
    ", and we loved it",
)
OPEN_FEELINGS = ("Everyone was excited", "We could not wait", "It was a great day")
CLOSINGS = (
    "At the end of the {event}, everyone was tired but happy",
    "It was the best {event} ever",
    "We all went home after the {event}",
    "What a great {event} it was",
    "The {event} was over, and we could not wait for the next one",
)
NIGHT_CLOSINGS = (
    "By the end of the {event} it was dark outside",
    "The {event} went on late into the night",
)


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun(kind: str, count: int, rng: random.Random) -> str:
    singular, plural = rng.choice(OBJECTS[kind].nouns)
    return singular if count == 1 else plural


def indefinite(p: Placement, rng: random.Random) -> str:
    """'two red balloons', 'a man in a blue shirt', 'an orange campfire'."""
    k = OBJECTS[p.kind]
    n = noun(p.kind, p.count, rng)
    if k.person:
        if p.count == 1:
            return f"{article(n)} {n} in {article(p.colour)} {p.colour} {k.garment}"
        return f"{NUMBERS[p.count]} {n} in {p.colour} {k.garment}s"
    if p.count == 1:
        det = rng.choice((article(p.colour), article(p.colour), "one"))
        return f"{det} {p.colour} {n}"
    return f"{NUMBERS[p.count]} {p.colour} {n}"


def definite(p: Placement, rng: random.Random) -> str:
    """'the red balloons', 'the man in the blue shirt'."""
    k = OBJECTS[p.kind]
    n = noun(p.kind, p.count, rng)
    if k.person:
        garment = k.garment if p.count == 1 else k.garment + "s"
        return (
            f"the {n} in {p.colour} {garment}"
            if p.count > 1
            else f"the {n} in the {p.colour} {garment}"
        )
    return f"the {p.colour} {n}"


def _be(count: int) -> str:
    return "is" if count == 1 else "are"


def setting_phrase(scene: Scene, rng: random.Random) -> str:
    """'in a sunny park', 'at the beach on a cloudy day', 'on a city street at night'."""
    phrase, prep = rng.choice(SETTINGS[scene.setting].phrases)
    if scene.weather == "indoor":
        return f"{prep} {rng.choice(('a', 'the'))} {phrase}"
    if rng.random() < 0.5:
        adj = rng.choice(WEATHER_ADJ[scene.weather])
        return f"{prep} {article(adj)} {adj} {phrase}"
    return f"{prep} the {phrase} {rng.choice(WEATHER_TAIL[scene.weather])}"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def describe_photo(scene: Scene, rng: random.Random) -> str:
    """One literal description (original casing and punctuation) of what the photo shows."""
    main = scene.placements[0]
    second = scene.placements[1] if len(scene.placements) > 1 else None
    where = POSITION_PHRASES[main.position]
    pos = rng.choice(where)
    state = rng.choice(DII_STATES[main.kind])
    place = setting_phrase(scene, rng)
    template = rng.randrange(6 if second else 5)
    if template == 0:
        s = f"{indefinite(main, rng)} {pos} {place}"
    elif template == 1:
        s = f"there {_be(main.count)} {indefinite(main, rng)} {pos} {place}"
    elif template == 2:
        s = f"{indefinite(main, rng)} {_be(main.count)} {state} {pos} {place}"
    elif template == 3:
        lead = (
            ("a photo of", "a picture of", "this is")
            if main.count == 1
            else ("a photo of", "a picture of")
        )
        s = f"{rng.choice(lead)} {indefinite(main, rng)} {pos} {place}"
    elif template == 4:
        phrase, prep = rng.choice(SETTINGS[scene.setting].phrases)
        s = f"{rng.choice(('we can see', 'you can see', 'i see'))} {indefinite(main, rng)} {state} {pos} of the {phrase}"
    else:
        s = f"{indefinite(main, rng)} {pos} and {indefinite(second, rng)} {rng.choice(POSITION_PHRASES[second.position])} {place}"
    return _cap(s) + "."


# --- stories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    """The people and pet an album's stories are about (names appear only in `original_text`)."""

    name: str
    gender: str  # "female" / "male": the VIST placeholder in `text`
    protagonist: Placement  # how the protagonist appears in photos (count 1, fixed clothes)
    pet: Placement | None


def same(a: Placement, b: Placement | None) -> bool:
    """The same thing in two photos: kind, colour and count match (positions may differ)."""
    return b is not None and (a.kind, a.colour, a.count) == (b.kind, b.colour, b.count)


def _event_np(event: str, cast: Cast, rng: random.Random, *, owned: bool = False) -> str:
    e = EVENTS[event]
    phrase = rng.choice(e.phrases)
    if owned and e.possessive:
        return f"{cast.name}'s {phrase}"
    return f"{'our' if owned else 'the'} {phrase}"


def _activity(p: Placement, rng: random.Random) -> str:
    key = "person" if OBJECTS[p.kind].person else p.kind
    return rng.choice(SIS_ACTIVITIES.get(key, SIS_ACTIVITY_DEFAULT))


def _subject(p: Placement, cast: Cast, rng: random.Random) -> str:
    if same(p, cast.protagonist):
        return cast.name
    return indefinite(p, rng) if rng.random() < 0.7 else definite(p, rng)


def tell_story(
    event: str,
    cast: Cast,
    scenes: Sequence[Scene],
    rng: random.Random,
) -> list[str]:
    """The original text of each sentence of a story about `scenes` (in story order)."""
    e = EVENTS[event]
    seen: dict[tuple[str, str], int] = {}  # (kind, colour) -> story position first shown
    key_seen: Placement | None = None
    key_recalled = False  # "we ate the cake we saw earlier" once per story, not every sentence
    sentences: list[str] = []
    last = len(scenes) - 1
    for i, scene in enumerate(scenes):
        keys = [p for p in scene.placements if p.kind in e.key_objects]
        recurring = [
            p
            for p in scene.placements
            if (p.kind, p.colour) in seen
            and not (OBJECTS[p.kind].person and not same(p, cast.protagonist))
        ]
        focus = keys[0] if keys else scene.placements[0]
        setting_np, _ = rng.choice(SETTINGS[scene.setting].phrases)
        if i == 0:
            s = _opening(event, cast, scene, focus, setting_np, rng)
        elif i == last:
            s = _closing(
                event, cast, scene, None if key_recalled else key_seen, keys, recurring, rng
            )
        elif keys and (keys[0].kind, keys[0].colour) in seen and rng.random() < 0.6:
            s = (
                f"{_cap(definite(keys[0], rng))} from {rng.choice(EARLIER)} "
                f"{'was' if keys[0].count == 1 else 'were'} still there at {_event_np(event, cast, rng)}"
            )
        elif keys:
            s = _key_sentence(event, cast, keys[0], rng)
        elif recurring and rng.random() < 0.5:
            s = _recurring_sentence(event, cast, recurring[0], rng)
        elif key_seen is not None and not key_recalled and rng.random() < 0.6:
            k, key_recalled = key_seen, True
            s = (
                f"We {KEY_USES.get(k.kind, 'talked about')} {definite(k, rng)} we saw {rng.choice(SAW)}, "
                f"and {_event_np(event, cast, rng)} went on"
            )
        elif i > 0 and scene.setting != scenes[i - 1].setting:
            s = f"Then we moved to the {setting_np} for the rest of {_event_np(event, cast, rng)}"
        else:
            s = _plain_sentence(event, cast, focus, rng)
        if rng.random() < 0.25:
            s += rng.choice(NOISE)
        sentences.append(s + rng.choice((".", ".", ".", "!")))
        for p in scene.placements:
            seen.setdefault((p.kind, p.colour), i)
        if keys and key_seen is None:
            key_seen = keys[0]
    return sentences


def _opening(event, cast, scene, focus, setting_np, rng) -> str:
    prep = dict(SETTINGS[scene.setting].phrases)[setting_np]
    t = rng.randrange(4)
    if t == 0:
        return f"We went to the {setting_np} for {_event_np(event, cast, rng, owned=True)}"
    if t == 1:
        return f"Today was {_event_np(event, cast, rng, owned=True)} {prep} the {setting_np}"
    if t == 2:
        return f"{rng.choice(OPEN_FEELINGS)} for {_event_np(event, cast, rng, owned=True)}"
    if same(focus, cast.protagonist):
        return f"{cast.name} was ready for {_event_np(event, cast, rng, owned=True)}"
    return f"{_cap(_event_np(event, cast, rng, owned=True))} started with {indefinite(focus, rng)}"


def _key_sentence(event, cast, key: Placement, rng) -> str:
    t = rng.randrange(3)
    if t == 0:
        verb = "was" if key.count == 1 else "were"
        return f"{_cap(definite(key, rng))} {verb} {rng.choice(KEY_ADJECTIVES)} at {_event_np(event, cast, rng)}"
    if t == 1:
        return f"{cast.name} loved {definite(key, rng)} at {_event_np(event, cast, rng)}"
    return f"There {'was' if key.count == 1 else 'were'} {indefinite(key, rng)} for {_event_np(event, cast, rng)}"


def _recurring_sentence(event, cast, p: Placement, rng) -> str:
    if same(p, cast.protagonist):
        return f"{cast.name} was still having fun at {_event_np(event, cast, rng)}"
    verb = "was" if p.count == 1 else "were"
    if rng.random() < 0.5:
        return f"{_cap(definite(p, rng))} from {rng.choice(EARLIER)} came back to {_event_np(event, cast, rng)}"
    return f"Later at {_event_np(event, cast, rng)}, {definite(p, rng)} {verb} back again"


def _plain_sentence(event, cast, focus: Placement, rng) -> str:
    t = rng.randrange(3)
    if t == 0:
        return f"At {_event_np(event, cast, rng)}, {_subject(focus, cast, rng)} {_activity(focus, rng)}"
    if t == 1:
        return f"{cast.name} and friends {rng.choice(EVENTS[event].activities)} at {_event_np(event, cast, rng)}"
    return f"During {_event_np(event, cast, rng)} we saw {indefinite(focus, rng)}"


def _closing(event, cast, scene, key_seen, keys, recurring, rng) -> str:
    t = rng.randrange(3)
    if t == 0 and key_seen is not None and not keys:
        return (
            f"We {KEY_USES.get(key_seen.kind, 'remembered')} {definite(key_seen, rng)} one last time "
            f"before {_event_np(event, cast, rng)} ended"
        )
    if t == 1 and recurring:
        p = recurring[0]
        who = cast.name if same(p, cast.protagonist) else definite(p, rng)
        return f"At the end of {_event_np(event, cast, rng)}, we said goodbye to {who}"
    templates = NIGHT_CLOSINGS if scene.weather == "night" and rng.random() < 0.6 else CLOSINGS
    phrase = rng.choice(EVENTS[event].phrases)
    return rng.choice(templates).format(event=phrase)


# --- VIST text normalisation -----------------------------------------------------------------

_CLITIC = re.compile(r"(n't|'s)\b")
_TOKEN = re.compile(r"\[[a-z]+\]|'s|n't|[a-z0-9]+|[^\sa-z0-9]")


def vist_text(original: str, names: Mapping[str, str]) -> str:
    """VIST's `text`: names replaced by [female]/[male], lower-cased, clitics and punctuation split.

    "Lisa's cake wasn't small." -> "[female] 's cake was n't small ."
    """
    s = original
    for name, placeholder in names.items():
        s = re.sub(rf"\b{re.escape(name)}\b", f"[{placeholder}]", s)
    s = _CLITIC.sub(r" \1", s.lower())
    return " ".join(_TOKEN.findall(s))
