"""Search images by text and sentences by image with a trained visual-semantic alignment model.

Loads a model directory written by retrieval (its SavedModel encoders and the index of
embedded images and sentences) and ranks by the image-sentence score of Karpathy & Fei-Fei
(S = sum over the words of each word's best region score):

  --text "..."   the top-k indexed images (score, image path, photo id, split)
  --image PATH   the top-k indexed sentences (score, sentence, the image it describes)

--explain adds, per result, the MRF alignment of the sentence's snippets to image regions
(boxes as y0,x0,y1,x1 fractions of the image). --json prints one JSON document instead.

  vistflow retrieve --model work/alignment/model --text "a red car on the left" -k 5
  vistflow retrieve --model work/alignment/model --image photo.jpg --explain
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from vistflow.errors import VistflowError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="alignment model directory (export.json)")
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument("--text", help="sentence to find images for")
    query.add_argument("--image", help="image file to find sentences for")
    parser.add_argument("-k", type=int, default=5, help="results to show (default 5)")
    parser.add_argument(
        "--splits",
        default="",
        help="comma-separated index splits to search (default: all the index holds)",
    )
    parser.add_argument(
        "--explain", action="store_true", help="show the MRF snippet-to-region alignment"
    )
    parser.add_argument(
        "--beta", type=float, default=None, help="MRF beta for --explain (default: the model's)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _load(model_dir: str):
    import tensorflow as tf

    from retrieval.export import INDEX_DIR, SAVED_MODEL_DIR, read_export
    from retrieval.index import RetrievalIndex

    doc = read_export(model_dir)
    saved = tf.saved_model.load(os.path.join(model_dir, SAVED_MODEL_DIR))
    return doc, saved, RetrievalIndex.load(os.path.join(model_dir, INDEX_DIR))


def main(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise VistflowError(f"-k must be >= 1, got {args.k}")
    if args.text is not None and not args.text.strip():
        raise VistflowError("--text is empty")
    image_bytes = None
    if args.image is not None:
        try:
            with open(args.image, "rb") as f:
                image_bytes = f.read()
        except OSError as e:
            raise VistflowError(f"{args.image}: cannot read the image: {e.strerror}") from None
    doc, saved, index = _load(args.model)
    splits = [s for s in args.splits.split(",") if s] or None
    beta = (
        (args.beta if args.beta is not None else float(doc.get("beta", 1.0)))
        if args.explain
        else None
    )

    import tensorflow as tf

    if args.text is not None:
        out = saved.signatures["embed_sentences"](sentences=tf.constant([args.text]))
        n = int(out["mask"][0].numpy().sum())
        words = out["words"][0, :n].numpy()
        tokens = [t.decode() for t in out["tokens"][0, :n].numpy()]
        hits = index.search_text(words, args.k, splits=splits, beta=beta, tokens=tokens)
        results = [
            {
                "rank": h.rank,
                "score": round(h.score, 4),
                "image": index.image_uris[h.image],
                "photo_id": index.photo_ids[h.image],
                "split": index.image_splits[h.image],
                **({"alignment": h.alignment} if args.explain else {}),
            }
            for h in hits
        ]
        query = {"text": args.text, "tokens": tokens}
    else:
        if "embed_images" not in saved.signatures:
            raise VistflowError(
                f"{args.model}: exported without the feature extractor's backbone, so it cannot "
                "embed image files (re-export with backbone_dir)"
            )
        try:
            out = saved.signatures["embed_images"](images=tf.constant([image_bytes]))
        except tf.errors.InvalidArgumentError as e:
            raise VistflowError(f"{args.image}: not a decodable image: {e.message}") from None
        regions = out["regions"][0].numpy()
        hits = index.search_image(regions, args.k, splits=splits, beta=beta)
        results = [
            {
                "rank": h.rank,
                "score": round(h.score, 4),
                "sentence": index.sentences[h.sentence],
                "image": index.image_uris[h.image],
                "photo_id": index.photo_ids[h.image],
                "split": index.image_splits[h.image],
                **({"alignment": h.alignment} if args.explain else {}),
            }
            for h in hits
        ]
        query = {"image": os.path.abspath(args.image)}
    if args.json:
        json.dump({"query": query, "results": results}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    _print_table(results, text_query=args.text is not None)
    return 0


def _print_table(results: list[dict], *, text_query: bool) -> None:
    if not results:
        print("no results (the searched splits are empty)")
        return
    for r in results:
        where = f"{r['photo_id']} ({r['split']})"
        if text_query:
            print(f"{r['rank']:>3}  {r['score']:>9.3f}  {r['image']}  {where}")
        else:
            print(f"{r['rank']:>3}  {r['score']:>9.3f}  {r['sentence']}  [{where}]")
        for a in r.get("alignment", []):
            box = ",".join(f"{v:.2f}" for v in a["box"])
            print(f"{'':>16}{' '.join(a['words']) or '?':<40} -> region {a['region']} [{box}]")
