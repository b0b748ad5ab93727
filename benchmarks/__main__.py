"""`make bench`: run every benchmark module in its own process and print one JSON document.

`python -m benchmarks [name ...]` runs a subset. Each benchmark prints JSON on its last stdout line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

BENCHMARKS = (
    "evaluate",
    "features",
    "decode",
    "serve",
    "reader_memory",
    "dag_parse",
    "alignment",
    "quality",
    "retraining",
    "story_repetition",
    "event_ceiling",
    "distributed",
    "demo",
)


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    results: dict[str, object] = {}
    failed = False
    for name in names:
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}"], capture_output=True, text=True
        )
        elapsed = round(time.monotonic() - start, 1)
        lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
        try:
            results[name] = {"result": json.loads(lines[-1]), "wall_s": elapsed}
        except (IndexError, json.JSONDecodeError):
            failed = True
            results[name] = {"error": (proc.stderr or proc.stdout)[-2000:], "wall_s": elapsed}
        print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
