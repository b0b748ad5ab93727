"""Wall time of the demo (`python -m commands.demo`) against its goal of 10 minutes on 2 cores.

Runs the whole demo (synthetic data, the Airflow retraining DAG, serving) in a temporary
directory and reports its wall time and the stage lines' timestamps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

GOAL_S = 600.0


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "commands.demo", "--workdir", os.path.join(work, "demo")],
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - start
    stages = [ln.strip() for ln in proc.stdout.splitlines() if ln.startswith("==>")]
    print(
        json.dumps(
            {
                "ok": proc.returncode == 0,
                "wall_s": round(wall, 1),
                "goal_s": GOAL_S,
                "within_goal": proc.returncode == 0 and wall <= GOAL_S,
                "cpus": os.cpu_count(),
                "stages": stages,
                "error": proc.stderr[-1500:] if proc.returncode else "",
            }
        )
    )


if __name__ == "__main__":
    main()
