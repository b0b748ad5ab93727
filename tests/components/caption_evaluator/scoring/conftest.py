"""Shared fixtures for the scoring tests: long-lived METEOR JVMs.

A METEOR 1.5 JVM spends ~10 CPU-seconds loading its paraphrase table, so the two we need (coco's
`-l en -norm` and the VIST `-t hter`) start together, once per session, and are shared.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def meteor_jvms():
    """Running METEOR 1.5 JVMs: {"coco": -l en -norm, "hter": -t hter}, started concurrently."""
    from components.caption_evaluator.scoring.meteor import COCO_OPTIONS, HTER_OPTIONS, MeteorJava

    jvms = {"coco": MeteorJava(COCO_OPTIONS), "hter": MeteorJava(HTER_OPTIONS)}
    yield jvms
    for jvm in jvms.values():
        jvm.close()


@pytest.fixture(scope="session", autouse=True)
def _start_meteor_early(request):
    """Start the JVMs with the first scoring test, so their loading overlaps the other tests."""
    if any("meteor_jvms" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("meteor_jvms")
