"""How long Airflow takes to parse each vistflow DAG file (goal <= 2 s; DagBag timeout is 30 s).

Each file is parsed in a fresh process, as the DAG processor does, with Airflow's default
settings; we report Airflow's own per-file parse duration (DagBag stats) and the process's
import cost of `airflow` itself for comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from airflow.models import DagBag
t1 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
stats = {s.file.lstrip('/'): s.duration.total_seconds() for s in bag.dagbag_stats}
print(json.dumps({"import_airflow_s": t1 - t0, "parse_s": sum(stats.values()),
                  "errors": list(bag.import_errors), "dags": sorted(bag.dag_ids)}))
"""


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False")
        subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
        for path in sorted(DAGS.glob("*.py")):
            out = subprocess.run(
                [sys.executable, "-c", PROBE, str(path)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            results[path.name] = json.loads(out.stdout.strip().splitlines()[-1])
    worst = max(r["parse_s"] for r in results.values())
    print(
        json.dumps(
            {"files": results, "max_parse_s": worst, "goal_s": 2.0, "meets_goal": worst <= 2.0}
        )
    )


if __name__ == "__main__":
    main()
