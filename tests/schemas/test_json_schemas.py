from __future__ import annotations

import copy

import jsonschema
import pytest

from schemas import JSON_SCHEMAS, load_json_schema

# Entries copied from the released VIST files (test split, album 44277).
SIS_ANNOTATION = {
    "original_text": "The local parish holds a craft show each year.",
    "album_id": "44277",
    "photo_flickr_id": "1741642",
    "setting": "first-2-pick-and-tell",
    "worker_id": "FJROI8NWDRIPAM1",
    "story_id": "45530",
    "tier": "story-in-sequence",
    "worker_arranged_photo_order": 0,
    "text": "the local parish holds a craft show each year .",
    "storylet_id": "227650",
}
IMAGE = {
    "datetaken": "2004-11-27 10:40:46",
    "license": "1",
    "title": "The venue.",
    "text": "",
    "album_id": "44277",
    "longitude": "-0.212688",
    "url_o": "https://farm1.staticflickr.com/2/1741642_81837e8e9e_o.jpg",
    "secret": "81837e8e9e",
    "media": "photo",
    "latitude": "51.920449",
    "id": "1741642",
    "tags": "stevenage fairies craftfair xmas 2004",
}
ALBUM = {
    "description": "I left Stevenage over twenty years ago.",
    "title": "A trip to Stevenage",
    "farm": "1",
    "date_update": "1396811566",
    "primary": "1741611",
    "server": "2",
    "date_create": "44277",
    "photos": "23",
    "secret": "3f374c96e5",
    "owner": "37996585435@N01",
    "vist_label": "fair",
    "id": "44277",
}
# The real DII annotation of the same album (lichengunc/vist_api test/vist_test.ipynb): no
# `setting`, `story_id` or `storylet_id`; the tier is plural.
DII_ANNOTATION = {
    "album_id": "44277",
    "original_text": "A man wearing a top hat kneeling on the floor.",
    "photo_flickr_id": "1741587",
    "photo_order_in_story": 4,
    "text": "a man wearing a top hat kneeling on the floor .",
    "tier": "descriptions-in-isolation",
    "worker_id": "UNUY9179WKUI6Y9",
}


def _doc(annotation: dict) -> dict:
    return {
        "info": {"version": "1.0"},
        "type": "story_in_sequence",
        "albums": [ALBUM],
        "images": [IMAGE],
        "annotations": [[annotation]],
    }


def _errors(kind: str, instance: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(load_json_schema(kind))
    return sorted(
        "/".join(map(str, e.absolute_path)) + ": " + e.validator
        for e in validator.iter_errors(instance)
    )


@pytest.mark.parametrize("name", sorted(JSON_SCHEMAS))
def test_schemas_are_valid_draft_2020_12(name):
    schema = load_json_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert load_json_schema(JSON_SCHEMAS[name]) == schema  # by kind or by file name


def test_loader_returns_fresh_copies_and_rejects_unknown_names():
    schema = load_json_schema("sis")
    schema["required"].clear()
    assert "annotations" in load_json_schema("sis")["required"]
    with pytest.raises(KeyError, match="unknown JSON schema"):
        load_json_schema("coco")


def test_sis_and_dii_share_album_and_image_definitions():
    sis, dii = load_json_schema("sis"), load_json_schema("dii")
    for name in ("id", "count", "album", "image", "annotation_item"):
        assert sis["$defs"][name] == dii["$defs"][name]


def test_real_entries_are_valid():
    assert _errors("sis", _doc(SIS_ANNOTATION)) == []
    assert _errors("dii", _doc(DII_ANNOTATION)) == []
    # url_o is absent for some real images; counts may be numbers.
    image = {k: v for k, v in IMAGE.items() if k != "url_o"}
    assert (
        _errors(
            "sis", _doc(SIS_ANNOTATION) | {"images": [image], "albums": [ALBUM | {"photos": 23}]}
        )
        == []
    )


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("story_id", 45530, "annotations/0/0/story_id: type"),
        ("story_id", "", "annotations/0/0/story_id: minLength"),
        ("worker_arranged_photo_order", "0", "annotations/0/0/worker_arranged_photo_order: type"),
        ("worker_arranged_photo_order", True, "annotations/0/0/worker_arranged_photo_order: type"),
        ("worker_arranged_photo_order", -1, "annotations/0/0/worker_arranged_photo_order: minimum"),
        ("text", None, "annotations/0/0/text: type"),
    ],
)
def test_sis_annotation_types(field, value, error):
    assert _errors("sis", _doc(SIS_ANNOTATION | {field: value})) == [error]


@pytest.mark.parametrize("field", sorted(SIS_ANNOTATION))
def test_every_sis_annotation_field_is_required(field):
    annotation = {k: v for k, v in SIS_ANNOTATION.items() if k != field}
    assert _errors("sis", _doc(annotation)) == ["annotations/0/0: required"]


def test_annotations_are_one_element_lists():
    doc = _doc(SIS_ANNOTATION)
    doc["annotations"] = [SIS_ANNOTATION]
    assert _errors("sis", doc) == ["annotations/0: type"]
    doc["annotations"] = [[SIS_ANNOTATION, SIS_ANNOTATION]]
    assert _errors("sis", doc) == ["annotations/0: maxItems"]
    doc["annotations"] = [[]]
    assert _errors("sis", doc) == ["annotations/0: minItems"]


@pytest.mark.parametrize("field", sorted(DII_ANNOTATION))
def test_every_real_dii_annotation_field_is_required(field):
    annotation = {k: v for k, v in DII_ANNOTATION.items() if k != field}
    assert _errors("dii", _doc(annotation)) == ["annotations/0/0: required"]


def test_dii_needs_none_of_the_story_fields():
    assert "setting" not in load_json_schema("dii")["$defs"]["annotation"]["required"]
    # Extra fields stay allowed (a DII file written by an older tool with `setting`).
    assert _errors("dii", _doc(DII_ANNOTATION | {"setting": "first-2-pick-and-tell"})) == []
    assert _errors("dii", _doc(DII_ANNOTATION | {"photo_order_in_story": "4"})) == [
        "annotations/0/0/photo_order_in_story: type"
    ]


def test_dii_rejects_sis_annotations():
    assert _errors("dii", _doc(SIS_ANNOTATION)) == ["annotations/0/0: required"]


COCO = {
    "dataset": "coco",
    "images": [
        {
            "filepath": "val2014",
            "sentids": [770337],
            "filename": "COCO_val2014_000000391895.jpg",
            "imgid": 0,
            "split": "restval",
            "sentences": [{"tokens": ["a", "man"], "raw": "A man.", "imgid": 0, "sentid": 770337}],
            "cocoid": 391895,
        }
    ],
}


def test_karpathy_schema():
    assert _errors("karpathy", COCO) == []
    flickr = copy.deepcopy(COCO)
    image = flickr["images"][0]
    del image["filepath"], image["cocoid"], image["sentids"], image["imgid"]
    del image["sentences"][0]["imgid"], image["sentences"][0]["sentid"]
    assert _errors("karpathy", flickr) == []
    image["split"] = "dev"
    image["sentences"][0]["tokens"] = "a man"
    assert _errors("karpathy", flickr) == [
        "images/0/sentences/0/tokens: type",
        "images/0/split: enum",
    ]
    assert _errors("karpathy", {"images": []}) == [": required"]
