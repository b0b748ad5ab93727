"""Plan a dataset: albums (events of 8-12 photos), their scenes, stories, descriptions, ids, splits.

The plan is pure data, computed from the seed alone (never from the clock or hash order), so the
files written from it are byte-identical across runs, and tests can compare what the text says
with what the images show.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property

from vistflow.errors import VistflowError
from vistflow.records import SPLITS
from vistflow.synth import language
from vistflow.synth.world import EVENTS, OBJECTS, POSITIONS, SETTINGS, Placement, Scene

PHOTOS_PER_STORY = 5
MAX_STORIES_PER_ALBUM = 5
# AMT task settings that appear in the real annotation files.
AMT_SETTINGS = ("first-2-pick-and-tell", "last-3-pick-old-and-tell")
# Real VIST is mostly JPEG with some PNG and a few GIF/BMP files.
EXTENSIONS = (("jpg", 85), ("png", 9), ("gif", 3), ("bmp", 3))
FEMALE_NAMES = ("Lisa", "Anna", "Maria", "Sarah", "Emma", "Kate", "Julia", "Laura", "Amy", "Rose")
MALE_NAMES = ("Tom", "John", "Mike", "David", "Peter", "Mark", "Jim", "Paul", "Sam", "Nick")
PHOTO_TITLES = ("", "", "IMG_{n:04d}", "DSC_{n:04d}", "DSCN{n:04d}", "P{n:07d}")
ALBUM_DESCRIPTIONS = ("", "", "Some pictures from the {event}.", "Photos from our {event}.")


@dataclass(frozen=True)
class Photo:
    photo_id: str
    index: int  # position in the album (the order DII annotators saw)
    scene: Scene
    ext: str  # file extension without the dot
    width: int
    height: int
    datetaken: str
    secret: str
    title: str
    tags: str
    license: str
    latitude: str
    longitude: str


@dataclass(frozen=True)
class Album:
    album_id: str
    split: str
    event: str
    photos: tuple[Photo, ...]
    cast: language.Cast
    title: str
    description: str
    owner: str
    secret: str
    farm: str
    server: str
    date_create: str
    date_update: str


@dataclass(frozen=True)
class Sentence:
    text: str
    original_text: str


@dataclass(frozen=True)
class Story:
    story_id: str
    album_id: str
    split: str
    photo_indices: tuple[int, ...]  # into the album's photos, in story order
    worker_id: str
    setting: str
    sentences: tuple[Sentence, ...]


@dataclass(frozen=True)
class Description:
    """One DII annotation. Real DII annotations have no AMT `setting` (only SIS ones do)."""

    album_id: str
    photo_index: int  # the photo's position in the album
    worker_id: str
    sentence: Sentence
    order: int = 0  # `photo_order_in_story`: its position (0-4) in the album's DII sequence


@dataclass(frozen=True)
class DatasetPlan:
    seed: int
    image_size: int
    albums: tuple[Album, ...]  # ordered by split, then album id
    stories: tuple[Story, ...]  # in file order
    descriptions: tuple[Description, ...]  # in file order

    def album(self, album_id: str) -> Album:
        return self._albums_by_id[album_id]

    @cached_property
    def _albums_by_id(self) -> dict[str, Album]:
        return {a.album_id: a for a in self.albums}

    def story_photos(self, story: Story) -> list[Photo]:
        photos = self.album(story.album_id).photos
        return [photos[i] for i in story.photo_indices]


class _Ids:
    """Flickr-like numeric ids, increasing and unique within the dataset."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.photo = rng.randrange(1_000_000_000, 3_000_000_000)
        self.album = 72157600000000000 + rng.randrange(10**9)
        self.story = rng.randrange(30_000, 40_000)

    def next_photo(self) -> str:
        self.photo += self.rng.randrange(1, 5000)
        return str(self.photo)

    def next_album(self) -> str:
        self.album += self.rng.randrange(1, 10**7)
        return str(self.album)

    def next_story(self) -> str:
        self.story += 1
        return str(self.story)

    def hex(self, n: int = 10) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))


def _worker_id(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(14))


def split_counts(n_albums: int) -> dict[str, int]:
    """≈80/10/10 by album, every split non-empty."""
    val = max(1, round(0.1 * n_albums))
    test = max(1, round(0.1 * n_albums))
    return {"train": n_albums - val - test, "val": val, "test": test}


def _count(rng: random.Random, kind: str) -> int:
    # Small counts are commoner, as in photos; 1-4 for people and balloons.
    top = OBJECTS[kind].max_count
    return rng.choices(range(1, top + 1), weights=[4, 3, 2, 1][:top])[0]


def _plan_scenes(rng: random.Random, event_name: str, n: int, cast: language.Cast) -> list[Scene]:
    event = EVENTS[event_name]
    first = rng.choice(event.settings)
    settings = [first] * n
    if rng.random() < 0.4:
        second = rng.choice([s for s in event.settings if s != first])
        for i in range(rng.randrange(n // 2, n - 1), n):
            settings[i] = second
    weather = rng.choice(("sunny", "sunny", "cloudy"))
    night_from = n - rng.randrange(2, 4) if rng.random() < event.night_ending else n

    # Key objects: the primary in 1-2 photos, each other in 0-2; one colour per album so stories
    # can refer back to "the pink cake".
    order = list(range(n))
    rng.shuffle(order)
    key_at: dict[int, Placement] = {}
    for j, kind in enumerate(event.key_objects):
        k = rng.randrange(1, 3) if j == 0 else rng.randrange(0, 3)
        colour = rng.choice(OBJECTS[kind].colours)
        for i in order[len(key_at) : len(key_at) + k]:
            key_at[i] = Placement(kind, colour, _count(rng, kind), "centre")
    others = [
        k
        for k in {*SETTINGS[first].typical, *SETTINGS[settings[-1]].typical}
        if k not in event.key_objects
    ]
    others.sort()
    scenes = []
    for i in range(n):
        positions = list(POSITIONS)
        rng.shuffle(positions)
        chosen: list[Placement] = []
        if i in key_at:
            chosen.append(key_at[i])
        candidates: list[Placement] = [cast.protagonist]
        if cast.pet is not None:
            candidates += [cast.pet, cast.pet]  # the pet turns up often
        friend = rng.choice(("man", "woman", "child"))
        candidates.append(
            Placement(friend, rng.choice(OBJECTS[friend].colours), rng.randrange(2, 5), "centre")
        )
        typical = [k for k in SETTINGS[settings[i]].typical if k not in event.key_objects] or others
        kind = rng.choice(typical)
        candidates.append(
            Placement(kind, rng.choice(OBJECTS[kind].colours), _count(rng, kind), "centre")
        )
        rng.shuffle(candidates)
        want = rng.choice((1, 2, 2, 3))
        for c in candidates:
            if len(chosen) >= want:
                break
            if c.kind in {p.kind for p in chosen}:
                continue
            chosen.append(c)
        placed = tuple(
            Placement(p.kind, p.colour, p.count, positions[j]) for j, p in enumerate(chosen)
        )
        indoor = SETTINGS[settings[i]].indoor
        w = "indoor" if indoor else ("night" if i >= night_from else weather)
        scenes.append(Scene(settings[i], w, placed))
    return scenes


def _plan_album(rng: random.Random, ids: _Ids, split: str, image_size: int) -> Album:
    event = rng.choice(sorted(EVENTS))
    gender = "female" if event == "wedding" else rng.choice(("female", "male"))
    name = rng.choice(FEMALE_NAMES if gender == "female" else MALE_NAMES)
    if event == "wedding":
        protagonist = Placement("bride", "white", 1, "centre")
    else:
        kind = (
            rng.choice(("woman", "child")) if gender == "female" else rng.choice(("man", "child"))
        )
        protagonist = Placement(kind, rng.choice(OBJECTS[kind].colours), 1, "centre")
    pet = None
    if rng.random() < 0.5:
        pk = rng.choice(("dog", "cat"))
        pet = Placement(pk, rng.choice(OBJECTS[pk].colours), 1, "centre")
    cast = language.Cast(name, gender, protagonist, pet)
    n = rng.randrange(8, 13)
    scenes = _plan_scenes(rng, event, n, cast)
    year, month, day = rng.randrange(2008, 2017), rng.randrange(1, 13), rng.randrange(1, 29)
    minute = rng.randrange(8 * 60, 11 * 60)
    lat, lon = (
        (f"{rng.uniform(-60, 60):.6f}", f"{rng.uniform(-150, 150):.6f}")
        if rng.random() < 0.4
        else ("0", "0")
    )
    photos = []
    for i, scene in enumerate(scenes):
        if scene.weather == "night":
            minute = max(minute, 20 * 60)
        minute += rng.randrange(4, 40)
        ext = rng.choices([e for e, _ in EXTENSIONS], weights=[w for _, w in EXTENSIONS])[0]
        shape = rng.choices(("landscape", "square", "portrait"), weights=(70, 15, 15))[0]
        short = max(8, round(image_size * 3 / 4))
        width, height = {
            "landscape": (image_size, short),
            "square": (image_size, image_size),
            "portrait": (short, image_size),
        }[shape]
        tags = " ".join(
            sorted(
                {
                    EVENTS[event].keyword,
                    SETTINGS[scene.setting].phrases[0][0].split()[-1],
                    str(year),
                }
            )
        )
        photos.append(
            Photo(
                photo_id=ids.next_photo(),
                index=i,
                scene=scene,
                ext=ext,
                width=width,
                height=height,
                datetaken=f"{year:04d}-{month:02d}-{day:02d} {min(minute // 60, 23):02d}:{minute % 60:02d}:{rng.randrange(60):02d}",
                secret=ids.hex(),
                title=rng.choice(PHOTO_TITLES).format(n=rng.randrange(10**7)),
                tags=tags,
                license=str(rng.randrange(1, 8)),
                latitude=lat,
                longitude=lon,
            )
        )
    created = 1_200_000_000 + (year - 2008) * 31_536_000 + rng.randrange(31_536_000)
    return Album(
        album_id=ids.next_album(),
        split=split,
        event=event,
        photos=tuple(photos),
        cast=cast,
        title=rng.choice(EVENTS[event].titles),
        description=rng.choice(ALBUM_DESCRIPTIONS).format(event=EVENTS[event].phrases[0]),
        owner=f"{rng.randrange(10**7, 10**8)}@N0{rng.randrange(9)}",
        secret=ids.hex(),
        farm=str(rng.randrange(1, 10)),
        server=str(rng.randrange(1000, 10000)),
        date_create=str(created),
        date_update=str(created + rng.randrange(10**8)),
    )


def _pick_story_photos(rng: random.Random, album: Album) -> tuple[int, ...]:
    """Five photos in album order, at least one showing a key object of the event."""
    key_kinds = set(EVENTS[album.event].key_objects)
    keyed = [p.index for p in album.photos if p.scene.kinds() & key_kinds]
    picked = rng.sample(range(len(album.photos)), PHOTOS_PER_STORY)
    if not set(picked) & set(keyed):
        picked[rng.randrange(PHOTOS_PER_STORY)] = rng.choice(keyed)
        while len(set(picked)) < PHOTOS_PER_STORY:  # the replacement may duplicate another pick
            spare = [i for i in range(len(album.photos)) if i not in picked]
            picked = list(dict.fromkeys(picked)) + [rng.choice(spare)]
    return tuple(sorted(picked))


def _describe_in_isolation(
    rng: random.Random, album: Album, story: Story, workers: list[str]
) -> list[Description]:
    """The album's DII annotations, shaped as the released files are: one 5-photo sequence (the
    photos of the album's first story) described by 3 workers, each describing every photo, in
    3 passes with `photo_order_in_story` 0..4 (lichengunc/vist_api: 150,600 DII annotations =
    3 x 5 per sequence; tests/fixtures/README.md). Drawn last from the album's own stream, so
    the albums, stories and images do not depend on it."""
    dii_workers = rng.sample(workers, 3)
    out = []
    for worker in dii_workers:
        for order, index in enumerate(story.photo_indices):
            original = language.describe_photo(album.photos[index].scene, rng)
            sentence = Sentence(language.vist_text(original, {}), original)
            out.append(Description(album.album_id, index, worker, sentence, order))
    return out


def _sentences(originals: list[str], cast: language.Cast) -> tuple[Sentence, ...]:
    names = {cast.name: cast.gender}
    return tuple(Sentence(language.vist_text(o, names), o) for o in originals)


def plan_dataset(*, stories: int, seed: int, image_size: int = 64) -> DatasetPlan:
    """The deterministic plan of a synthetic VIST dataset with `stories` stories in total."""
    if stories < len(SPLITS):
        raise VistflowError(
            f"--stories must be at least {len(SPLITS)} (one album per split), got {stories}"
        )
    if image_size < 16:
        raise VistflowError(f"--image-size must be at least 16 pixels, got {image_size}")
    rng = random.Random(f"vistflow-synth:{seed}")
    ids = _Ids(random.Random(f"vistflow-synth-ids:{seed}"))
    n_albums = max(len(SPLITS), round(stories / 3))
    per_album = [1] * n_albums
    for _ in range(stories - n_albums):
        open_albums = [i for i, c in enumerate(per_album) if c < MAX_STORIES_PER_ALBUM]
        per_album[rng.choice(open_albums)] += 1
    counts = split_counts(n_albums)
    splits = [s for s in SPLITS for _ in range(counts[s])]
    rng.shuffle(splits)  # which album goes where; files list albums by split then id
    workers = [_worker_id(rng) for _ in range(max(6, stories // 3))]

    planned = []
    for i in range(n_albums):
        album_rng = random.Random(f"vistflow-synth:{seed}:album:{i}")
        planned.append((splits[i], per_album[i], album_rng))
    albums: list[Album] = []
    stories_out: list[Story] = []
    descriptions: list[Description] = []
    for split in SPLITS:
        for split_name, n_stories, album_rng in planned:
            if split_name != split:
                continue
            album = _plan_album(album_rng, ids, split, image_size)
            albums.append(album)
            first_story = len(stories_out)
            for _ in range(n_stories):
                indices = _pick_story_photos(album_rng, album)
                originals = language.tell_story(
                    album.event, album.cast, [album.photos[i].scene for i in indices], album_rng
                )
                stories_out.append(
                    Story(
                        story_id=ids.next_story(),
                        album_id=album.album_id,
                        split=split,
                        photo_indices=indices,
                        worker_id=album_rng.choice(workers),
                        setting=album_rng.choice(AMT_SETTINGS),
                        sentences=_sentences(originals, album.cast),
                    )
                )
            descriptions += _describe_in_isolation(
                album_rng, album, stories_out[first_story], workers
            )
    return DatasetPlan(seed, image_size, tuple(albums), tuple(stories_out), tuple(descriptions))
