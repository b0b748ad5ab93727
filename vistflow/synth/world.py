"""The synthetic world: colours, objects, settings and events, and the scene model images show.

Everything a sentence may say about a photo is a field of its `Scene`, so the descriptions follow
from what is drawn and tests can check them against it. Settings are shared between events (a park
hosts birthdays, picnics, weddings, graduations, concerts and tours), so the event of an album is
visible only in the photos that show one of its key objects: a story's other sentences name it
from context that a per-image model cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass

POSITIONS = ("left", "centre", "right")

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (210, 35, 40),
    "blue": (40, 80, 215),
    "green": (40, 160, 60),
    "yellow": (245, 215, 40),
    "orange": (245, 135, 30),
    "purple": (135, 55, 175),
    "pink": (245, 140, 190),
    "white": (245, 245, 245),
    "black": (25, 25, 28),
    "brown": (125, 80, 40),
    "gray": (130, 130, 135),
}


@dataclass(frozen=True)
class ObjectKind:
    """A drawable kind of object and the nouns that name it (singular, plural); the first is canonical."""

    name: str
    nouns: tuple[tuple[str, str], ...]
    colours: tuple[str, ...]
    max_count: int
    in_sky: bool = False  # drawn in the upper half (balloons, birds, kites)
    person: bool = False  # described by what it wears: "a man in a red shirt"
    garment: str = ""  # person kinds: what the colour applies to

    @property
    def noun(self) -> str:
        return self.nouns[0][0]

    def words(self) -> set[str]:
        """Every noun (singular and plural) that may name this kind, as single tokens or phrases."""
        return {n for pair in self.nouns for n in pair}


def _k(name, nouns, colours, max_count, **kw) -> ObjectKind:
    return ObjectKind(name, tuple(nouns), tuple(colours.split()), max_count, **kw)


OBJECTS: dict[str, ObjectKind] = {
    k.name: k
    for k in (
        _k(
            "man",
            [("man", "men"), ("guy", "guys")],
            "red blue green yellow black white gray orange",
            4,
            person=True,
            garment="shirt",
        ),
        _k(
            "woman",
            [("woman", "women"), ("lady", "ladies")],
            "red blue green yellow purple pink black orange",
            4,
            person=True,
            garment="dress",
        ),
        _k(
            "child",
            [("child", "children"), ("kid", "kids")],
            "red blue green yellow orange purple pink",
            4,
            person=True,
            garment="shirt",
        ),
        _k("bride", [("bride", "brides")], "white", 1, person=True, garment="dress"),
        _k("dog", [("dog", "dogs"), ("puppy", "puppies")], "brown black white gray yellow", 2),
        _k("cat", [("cat", "cats"), ("kitten", "kittens")], "black white gray orange", 2),
        _k("ball", [("ball", "balls")], "red blue yellow green orange", 3),
        _k(
            "balloon",
            [("balloon", "balloons")],
            "red blue yellow green pink purple",
            4,
            in_sky=True,
        ),
        _k("cake", [("cake", "cakes")], "white pink brown yellow", 1),
        _k("tree", [("tree", "trees")], "green orange yellow", 3),
        _k("christmas_tree", [("christmas tree", "christmas trees")], "green", 1),
        _k("car", [("car", "cars")], "red blue black white yellow gray", 2),
        _k("boat", [("boat", "boats"), ("sailboat", "sailboats")], "white red blue yellow", 2),
        _k(
            "house",
            [("house", "houses"), ("cottage", "cottages")],
            "red white yellow blue brown",
            2,
        ),
        _k("guitar", [("guitar", "guitars")], "brown red black", 2),
        _k("flower", [("flower", "flowers")], "red pink yellow purple white", 4),
        _k("tent", [("tent", "tents")], "orange green blue yellow", 2),
        _k("campfire", [("campfire", "campfires"), ("fire", "fires")], "orange", 1),
        _k("gift", [("gift", "gifts"), ("present", "presents")], "red blue green yellow purple", 4),
        _k("snowman", [("snowman", "snowmen")], "white", 1),
        _k("bicycle", [("bicycle", "bicycles"), ("bike", "bikes")], "red blue black green", 2),
        _k("kite", [("kite", "kites")], "red yellow blue green", 2, in_sky=True),
        _k(
            "umbrella",
            [("umbrella", "umbrellas"), ("parasol", "parasols")],
            "red blue yellow green",
            2,
        ),
        _k("microphone", [("microphone", "microphones"), ("mic", "mics")], "black gray", 1),
        _k("drum", [("drum", "drums")], "red blue white", 2),
        _k(
            "cap",
            [("graduation cap", "graduation caps"), ("cap", "caps")],
            "black blue red",
            4,
            in_sky=True,
        ),
        _k("pumpkin", [("pumpkin", "pumpkins")], "orange white", 3),
        _k("bench", [("bench", "benches")], "brown green", 1),
        _k("bird", [("bird", "birds")], "red blue black yellow", 4, in_sky=True),
        _k("blanket", [("blanket", "blankets")], "red blue green", 1),
        _k(
            "backpack",
            [("backpack", "backpacks"), ("bag", "bags")],
            "red blue green orange black",
            2,
        ),
    )
}

WEATHERS = ("sunny", "cloudy", "night", "indoor")


@dataclass(frozen=True)
class Setting:
    """A place drawn as the background; `phrases` are (noun phrase, preposition) pairs."""

    name: str
    phrases: tuple[tuple[str, str], ...]
    indoor: bool
    typical: tuple[str, ...]  # objects that may appear here regardless of the event


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "beach",
            (("beach", "at"), ("shore", "on"), ("seaside", "at")),
            False,
            ("ball", "bird", "umbrella", "dog", "boat"),
        ),
        Setting(
            "park",
            (("park", "in"), ("city park", "in")),
            False,
            ("tree", "bench", "dog", "ball", "bird", "flower", "bicycle"),
        ),
        Setting(
            "city_street",
            (("street", "on"), ("city street", "on"), ("downtown street", "on")),
            False,
            ("car", "bicycle", "house", "bird", "dog"),
        ),
        Setting("kitchen", (("kitchen", "in"),), True, ("cat", "flower", "dog")),
        Setting(
            "living_room",
            (("living room", "in"), ("lounge", "in")),
            True,
            ("cat", "dog", "flower", "guitar"),
        ),
        Setting(
            "snow_field",
            (("snowy field", "in"), ("snow field", "in"), ("field of snow", "in")),
            False,
            ("tree", "dog", "bird"),
        ),
        Setting("stage", (("stage", "on"),), True, ("microphone", "guitar", "flower")),
        Setting("forest", (("forest", "in"), ("woods", "in")), False, ("tree", "bird", "dog")),
        Setting(
            "lake",
            (("lake", "by"), ("lake shore", "on"), ("pond", "by")),
            False,
            ("boat", "bird", "tree", "dog"),
        ),
        Setting(
            "mountain_trail",
            (("mountain trail", "on"), ("trail", "on"), ("mountain path", "on")),
            False,
            ("tree", "bird", "dog"),
        ),
        Setting(
            "backyard",
            (("backyard", "in"), ("yard", "in"), ("garden", "in")),
            False,
            ("tree", "dog", "cat", "ball", "bench", "flower"),
        ),
        Setting(
            "hall",
            (("hall", "in"), ("auditorium", "in"), ("ballroom", "in")),
            True,
            ("flower", "bench"),
        ),
    )
}


@dataclass(frozen=True)
class Event:
    """An album's event. Every phrase contains `keyword`, which every story sentence names."""

    name: str
    keyword: str
    phrases: tuple[str, ...]
    settings: tuple[str, ...]
    key_objects: tuple[str, ...]  # the first is the primary: shown in 1-2 photos of each album
    possessive: bool  # "[female] 's birthday party" rather than "our picnic"
    activities: tuple[str, ...]  # what people do at it, for story sentences
    night_ending: float  # probability that an outdoor album ends after dark
    titles: tuple[str, ...]


EVENTS: dict[str, Event] = {
    e.name: e
    for e in (
        Event(
            "birthday",
            "birthday",
            ("birthday party", "birthday", "birthday celebration"),
            ("backyard", "living_room", "park", "kitchen"),
            ("cake", "balloon", "gift"),
            True,
            ("sang happy birthday", "opened the presents", "blew out the candles", "played games"),
            0.1,
            ("Birthday party", "Happy birthday!", "Birthday bash"),
        ),
        Event(
            "wedding",
            "wedding",
            ("wedding", "wedding day", "wedding party"),
            ("hall", "park", "beach", "backyard"),
            ("bride", "cake", "flower"),
            True,
            ("danced all night", "made a toast", "cut the cake", "said their vows"),
            0.3,
            ("The wedding", "Wedding day", "Our wedding"),
        ),
        Event(
            "concert",
            "concert",
            ("concert", "rock concert", "concert night"),
            ("stage", "park", "city_street"),
            ("guitar", "microphone", "drum"),
            False,
            ("sang along", "danced to the music", "cheered for the band", "listened to the songs"),
            0.6,
            ("Concert", "Live music", "Show night"),
        ),
        Event(
            "graduation",
            "graduation",
            ("graduation", "graduation ceremony", "graduation day"),
            ("hall", "stage", "park"),
            ("cap", "balloon", "flower"),
            True,
            ("got the diploma", "threw the caps in the air", "gave a speech", "took pictures"),
            0.1,
            ("Graduation", "Class of the year", "Graduation day"),
        ),
        Event(
            "christmas",
            "christmas",
            ("christmas party", "christmas celebration", "christmas dinner"),
            ("living_room", "snow_field", "kitchen"),
            ("christmas_tree", "gift", "snowman"),
            False,
            ("opened the presents", "sang carols", "decorated the tree", "had a big dinner"),
            0.4,
            ("Christmas", "Merry christmas", "Holidays"),
        ),
        Event(
            "camping",
            "camping",
            ("camping trip", "camping weekend", "camping adventure"),
            ("forest", "lake", "mountain_trail"),
            ("tent", "campfire", "backpack"),
            False,
            ("set up camp", "roasted marshmallows", "told stories", "went for a swim"),
            0.5,
            ("Camping", "Camping trip", "Weekend in the woods"),
        ),
        Event(
            "hiking",
            "hiking",
            ("hiking trip", "hiking day", "hiking adventure"),
            ("mountain_trail", "forest", "lake", "snow_field"),
            ("backpack", "bird"),
            False,
            ("climbed the hill", "took a break", "enjoyed the view", "walked for hours"),
            0.1,
            ("Hike", "Hiking", "On the trail"),
        ),
        Event(
            "vacation",
            "vacation",
            ("vacation", "beach vacation", "summer vacation"),
            ("beach", "lake", "city_street"),
            ("boat", "umbrella", "ball"),
            False,
            ("went swimming", "relaxed in the sun", "built a sand castle", "went sailing"),
            0.3,
            ("Vacation", "Summer vacation", "Beach days"),
        ),
        Event(
            "tour",
            "tour",
            ("city tour", "tour", "walking tour"),
            ("city_street", "park", "hall"),
            ("car", "bicycle", "house"),
            False,
            ("took many pictures", "saw the old buildings", "walked around", "visited the museum"),
            0.4,
            ("City tour", "Sightseeing", "Around town"),
        ),
        Event(
            "picnic",
            "picnic",
            ("picnic", "family picnic", "picnic lunch"),
            ("park", "lake", "backyard"),
            ("blanket", "kite", "ball"),
            False,
            ("ate sandwiches", "flew kites", "played catch", "took a nap"),
            0.0,
            ("Picnic", "Picnic day", "Lunch outside"),
        ),
        Event(
            "halloween",
            "halloween",
            ("halloween party", "halloween night", "halloween parade"),
            ("living_room", "city_street", "backyard"),
            ("pumpkin", "cat"),
            False,
            ("carved pumpkins", "went trick or treating", "wore costumes", "ate candy"),
            0.7,
            ("Halloween", "Spooky night", "Trick or treat"),
        ),
    )
}


@dataclass(frozen=True)
class Placement:
    """`count` objects of one kind and colour, drawn in one third of the image."""

    kind: str
    colour: str
    count: int
    position: str  # one of POSITIONS


@dataclass(frozen=True)
class Scene:
    """What one photo shows. `placements[0]` is the main subject (the largest, described first)."""

    setting: str
    weather: str  # one of WEATHERS; "indoor" for indoor settings
    placements: tuple[Placement, ...]

    def kinds(self) -> set[str]:
        return {p.kind for p in self.placements}
