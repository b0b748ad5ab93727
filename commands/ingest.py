"""Ingest VIST or Karpathy data: check every image, write SequenceExamples, rejects and a report.

Reads the official VIST layout (sis/, dii/, images/) or a Karpathy caption JSON plus an image
folder, checks each referenced image once (exists, inside the data root with symlinks resolved,
at most --max-image-bytes before it is read, an image, within the pixel limits, decodes fully),
and writes to --out:

  examples/Split-<split>/data_tfrecord-*.gz   one tf.train.SequenceExample per story, for each
                                              split the input holds (a root may hold only
                                              some: report.json lists the others in
                                              splits_absent)
  rejects.jsonl                               every rejected story and bad image file
  report.json, report.html                    the data-quality report

Output appears only when complete (rerunning after a crash is safe). Unrecognised options go
to Beam, e.g. --runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing.

examples:
  vistflow ingest --data-root data/vist --out work/ingest
  vistflow ingest --format karpathy --karpathy-json dataset_flickr8k.json \\
      --image-root Flicker8k_Dataset --out work/flickr8k
"""

from __future__ import annotations

import argparse

from components.vist_example_gen import options

ACCEPTS_BEAM_ARGS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_arguments(parser)
    parser.add_argument("--out", required=True, help="output directory (replaced when rerun)")


def main(args: argparse.Namespace) -> int:
    config = options.config_from_args(args)
    from components.vist_example_gen.pipeline import ingest  # Beam: imported only when run

    report = ingest(config, args.out, list(getattr(args, "beam_args", []) or []))
    print(f"{'split':<8}{'input':>8}{'accepted':>10}{'rejected':>10}  reasons")
    for split, section in report.items():
        if not isinstance(section, dict) or "invariant_ok" not in section:
            continue
        if section.get("absent"):
            print(f"{split:<8}{'absent (no input for this split)':>28}")
            continue
        reasons = ", ".join(f"{r}={n}" for r, n in section["by_reason"].items()) or "-"
        print(
            f"{split:<8}{section['input']:>8}{section['accepted']:>10}{section['rejected']:>10}"
            f"  {reasons}"
        )
    images = report["images"]
    print(
        f"images: {images['checked']} checked, {images['rejected']} rejected, "
        f"{sum(images['converted'].values())} to convert to RGB"
    )
    print(f"wrote {args.out} (report.html, report.json, rejects.jsonl, examples/)")
    return 0
