"""One list of reason codes: every stage names its rejects from `vistflow.reasons`."""

from __future__ import annotations

from vistflow import reasons

CODES = {v for k, v in vars(reasons).items() if k.isupper() and isinstance(v, str)}


def test_the_strings_reports_and_counters_key_on():
    from components.vist_example_gen import reasons as ingest
    from serving import batch_caption

    assert ingest.ALL_REASONS == (
        "malformed_record", "duplicate_id", "incomplete_story", "empty_text", "missing_image",
        "outside_data_root", "empty_file", "not_an_image", "undecodable", "too_large",
    )  # fmt: skip
    assert batch_caption.REJECT_REASONS == (
        "missing_image", "not_a_file", "empty_file", "undecodable", "not_an_image", "too_large",
        "inference_failed",
    )  # fmt: skip


def test_every_stage_takes_its_codes_from_the_one_list():
    from components.vist_example_gen import reasons as ingest
    from serving import batch_caption, image_files, local
    from vistflow import images

    assert set(ingest.ALL_REASONS) <= CODES and set(batch_caption.REJECT_REASONS) <= CODES
    assert {images.EMPTY_FILE, images.NOT_AN_IMAGE, images.UNDECODABLE, images.TOO_LARGE} <= CODES
    assert {image_files.MISSING_IMAGE, image_files.NOT_A_FILE, local.INFERENCE_FAILED} <= CODES
    assert set(reasons.DESCRIPTIONS) == CODES  # every code has its line in a report's legend
    assert ingest.DESCRIPTIONS is reasons.DESCRIPTIONS
