"""A local production-shaped deployment from the repository's own files (`make deploy-local`).

PostgreSQL from the Debian package (`initdb`, `pg_ctl` on PATH) holds both stores: database
`airflow` (Airflow's metadata DB, SQLAlchemy `postgresql+psycopg2://`) and database `mlmd` (ML
Metadata, `VISTFLOW_METADATA_CONNECTION=postgresql://.../mlmd`). Airflow runs the real scheduler
with the LocalExecutor (each task in its own process) over `dags/`, and optionally the webserver.

    python -m pipelines.deployment [--dir demo_output/deploy] up [--webserver-port 8080] [--schedule]
    python -m pipelines.deployment land 2026-11-02 [--from DIR | --synth-stories 16]
    python -m pipelines.deployment trigger vist_retraining 2026-11-02 [--wait]
    python -m pipelines.deployment status
    python -m pipelines.deployment down [--purge]
    source demo_output/deploy/env.sh   # then any `airflow ...` command talks to this deployment

Layout under --dir: `postgres/` (data dir, socket, server.log), `airflow/` (AIRFLOW_HOME, logs,
scheduler.log), `vistflow/` (VISTFLOW_HOME: landing/, pipeline/, serving/, runs/...),
`deployment.json` (port, pids, settings), `env.sh`. `down` stops everything it started; the
data stays for the next `up` unless `--purge`.

Without `--schedule` the scheduler creates no interval runs (`use_job_schedule=False`): only
triggered runs run, so a fresh deployment does not start with a run for the current week waiting
on a partition that was never landed. `tests/fixtures/postgres_server.py` starts its throwaway
servers through `start_postgres` here.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.postgres import (  # noqa: F401 - postgres_available: part of this module's API
    USER,
    PostgresServer,
    _free_port,
    _pg_user,
    postgres_available,
    start_postgres,
)

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DATABASES = ("airflow", "mlmd")
DEFAULT_DIR = "demo_output/deploy"  # git-ignored; `make deploy-local DEPLOY_DIR=...` moves it


# --- Airflow ---------------------------------------------------------------------------------


@dataclass
class Deployment:
    """Paths and settings of one local deployment (persisted as <dir>/deployment.json)."""

    dir: Path
    pg_port: int = 0
    parallelism: int = 2
    schedule: bool = False
    webserver_port: int = 0
    secret_key: str = ""
    log_server_port: int = 0
    extra_env: dict | None = None

    @property
    def state_path(self) -> Path:
        return self.dir / "deployment.json"

    @property
    def airflow_home(self) -> Path:
        return self.dir / "airflow"

    @property
    def vistflow_home(self) -> Path:
        return self.dir / "vistflow"

    @property
    def pg_root(self) -> Path:
        return self.dir / "postgres"

    @property
    def scheduler_log(self) -> Path:
        return self.airflow_home / "scheduler.log"

    @property
    def webserver_log(self) -> Path:
        return self.airflow_home / "webserver.log"

    def postgres(self) -> PostgresServer:
        return PostgresServer(str(self.pg_root), self.pg_port, _pg_user())

    def save(self) -> None:
        fields = {k: v for k, v in vars(self).items() if k != "dir"}
        self.state_path.write_text(json.dumps(fields, indent=1))

    @classmethod
    def load(cls, directory: Path | str) -> Deployment:
        directory = Path(directory).resolve()
        path = directory / "deployment.json"
        if not path.is_file():
            raise SystemExit(f"no deployment in {directory} (run `up` first)")
        return cls(dir=directory, **json.loads(path.read_text()))

    def env(self) -> dict[str, str]:
        """The environment of every Airflow process of this deployment (and of its CLI)."""
        pg = self.postgres()
        env = dict(os.environ)
        env.update(
            AIRFLOW_HOME=str(self.airflow_home),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=pg.url("airflow", "postgresql+psycopg2"),
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__PARALLELISM=str(self.parallelism),
            AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=str(self.parallelism),
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=str(self.schedule),
            AIRFLOW__WEBSERVER__SECRET_KEY=self.secret_key,
            # The task-log server of the scheduler's host: not the default 8793, which another
            # Airflow on the machine may hold.
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(self.log_server_port),
            VISTFLOW_HOME=str(self.vistflow_home),
            VISTFLOW_METADATA_CONNECTION=pg.url("mlmd"),
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
        )
        env.update(self.extra_env or {})
        return env

    def write_env_sh(self) -> None:
        keys = [k for k in self.env() if k.startswith(("AIRFLOW", "VISTFLOW_"))]
        env = self.env()
        lines = [f"export {k}={_shell_quote(env[k])}" for k in sorted(keys)]
        lines.append(f'export PATH={_shell_quote(str(Path(AIRFLOW).parent))}:"$PATH"')
        (self.dir / "env.sh").write_text("\n".join(lines) + "\n")

    def airflow(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        """Runs `airflow <args>` against this deployment; returns stdout."""
        proc = subprocess.run(
            [AIRFLOW, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=timeout,
        )
        if check and proc.returncode:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
            )
        return proc.stdout


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pid_file(d: Deployment, name: str) -> Path:
    return d.airflow_home / f"{name}.vistflow.pid"


def _start_process(d: Deployment, name: str, args: list[str], log: Path) -> int:
    """Starts `airflow <args>` in its own session, output to `log`; records its pid."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [AIRFLOW, *args],
            env=d.env(),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _pid_file(d, name).write_text(str(proc.pid))
    return proc.pid


def _children() -> dict[int, list[int]]:
    """parent pid -> child pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _started_pids(d: Deployment) -> list[int]:
    """The live processes `up` started (scheduler, webserver)."""
    pids = []
    for name in ("webserver", "scheduler"):
        path = _pid_file(d, name)
        if path.is_file() and _pid_alive(int(path.read_text())):
            pids.append(int(path.read_text()))
    return pids


def _deployment_pids(d: Deployment) -> list[int]:
    """The scheduler and webserver and everything under them (executor workers, task
    processes, the DAG processor, gunicorn): found by parentage, since Airflow's process
    titles overwrite what /proc shows of their command lines and environments."""
    tree, found = _children(), []
    todo = _started_pids(d)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def _stop_processes(d: Deployment, grace: float = 30.0) -> None:
    pids = _deployment_pids(d)  # before they die: orphans would be re-parented
    for pid in _started_pids(d):
        try:
            os.killpg(pid, signal.SIGTERM)  # the session each one leads
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
        time.sleep(0.5)
    for pid in pids:  # what outlived the grace period (task processes mid-stage)
        if _pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for name in ("webserver", "scheduler"):
        _pid_file(d, name).unlink(missing_ok=True)


def up(
    directory: Path | str,
    *,
    parallelism: int = 2,
    schedule: bool = False,
    webserver_port: int = 0,
    pg_port: int = 0,
    extra_env: dict[str, str] | None = None,
) -> Deployment:
    """PostgreSQL (both databases), `airflow db migrate`, the DAGs registered, the scheduler
    (and webserver) started. Reuses the data of an earlier `up` in the same directory."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    old = Deployment.load(directory) if (directory / "deployment.json").is_file() else None
    d = Deployment(
        dir=directory,
        pg_port=pg_port or (old.pg_port if old else 0),
        parallelism=parallelism,
        schedule=schedule,
        webserver_port=webserver_port,
        secret_key=(old.secret_key if old else "") or secrets.token_hex(16),
        log_server_port=_free_port(),
        extra_env=extra_env or {},
    )
    if old is not None and _started_pids(old):
        print(f"the deployment in {directory} is up already (`down` restarts it with new settings)")
        return old
    d.airflow_home.mkdir(exist_ok=True)
    d.vistflow_home.mkdir(exist_ok=True)
    try:
        if old is not None and old.postgres().running():  # left up by an interrupted `up`
            pg = old.postgres()
        else:
            pg = start_postgres(str(d.pg_root), d.pg_port or None)
    except RuntimeError:
        if not d.pg_port:
            raise
        pg = start_postgres(str(d.pg_root))  # the earlier port is taken now: a new one
    d.pg_port = pg.port
    d.save()
    try:
        for name in DATABASES:
            pg.create_database(name)
        d.write_env_sh()
        d.airflow("db", "migrate")
        # Registers the DAGs (DagModel + serialized DAGs, unpaused) so they can be triggered
        # before the scheduler's first parse.
        d.airflow("dags", "reserialize")
        _start_process(d, "scheduler", ["scheduler"], d.scheduler_log)
        if webserver_port:
            _start_process(
                d,
                "webserver",
                ["webserver", "--port", str(webserver_port), "--workers", "1"],
                d.webserver_log,
            )
    except BaseException:
        down(d)
        raise
    return d


def down(d: Deployment | Path | str, purge: bool = False) -> None:
    """Stops the scheduler, webserver, their task processes and PostgreSQL."""
    if not isinstance(d, Deployment):
        d = Deployment.load(d)
    _stop_processes(d)
    d.postgres().stop(remove=False)
    if purge:
        shutil.rmtree(d.dir, ignore_errors=True)


def land(d: Deployment, ds: str, source: Path | None = None, synth_stories: int = 16) -> Path:
    """Lands a partition for date `ds`: a copy of `source` (official VIST layout) or a small
    synthetic one, completed by its `_SUCCESS` marker (written last)."""
    part = d.vistflow_home / "landing" / ds
    if (part / "_SUCCESS").is_file():
        return part
    shutil.rmtree(part, ignore_errors=True)
    if source is not None:
        shutil.copytree(source, part)
    else:
        from vistflow.synth import generate

        generate(part, stories=synth_stories, seed=int(ds.replace("-", "")) % 1000, fault_rate=0)
    (part / "_SUCCESS").write_text("")
    return part


def trigger(d: Deployment, dag_id: str, ds: str, conf: dict | None = None) -> str:
    """`airflow dags trigger` for logical date `ds`; returns the run id."""
    run_id = f"manual__{ds}"
    args = ["dags", "trigger", dag_id, "-e", ds, "-r", run_id]
    if conf:
        args += ["-c", json.dumps(conf)]
    d.airflow(*args)
    return run_id


def _query(d: Deployment, sql: str, params: tuple) -> list[tuple]:
    """A read of Airflow's metadata DB (cheaper than an `airflow` CLI process per poll)."""
    import psycopg2

    conn = psycopg2.connect(d.postgres().url("airflow"))
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def run_states(d: Deployment, dag_id: str) -> dict[str, str]:
    """run id -> state of the DAG's runs."""
    rows = _query(d, "SELECT run_id, state FROM dag_run WHERE dag_id = %s", (dag_id,))
    return {run_id: state for run_id, state in rows}


def task_states(d: Deployment, dag_id: str, run_id: str) -> dict[str, str | None]:
    """task id -> state of one run's task instances."""
    rows = _query(
        d,
        "SELECT task_id, state FROM task_instance WHERE dag_id = %s AND run_id = %s",
        (dag_id, run_id),
    )
    return {task_id: state for task_id, state in rows}


def wait_for_runs(
    d: Deployment, runs: dict[str, list[str]], timeout: float = 1800, poll: float = 5.0
) -> dict[tuple[str, str], str]:
    """Waits until every run ({dag_id: [run ids]}) is success or failed; their states.
    On timeout: RuntimeError with the states and the end of the scheduler log."""
    deadline = time.monotonic() + timeout
    while True:
        states = {
            (dag_id, r): run_states(d, dag_id).get(r, "absent")
            for dag_id, ids in runs.items()
            for r in ids
        }
        if all(s in ("success", "failed") for s in states.values()):
            return states
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"runs not finished after {timeout:.0f} s: {states}\n"
                f"--- scheduler log ---\n{tail(d.scheduler_log)}"
            )
        if not _started_pids(d):
            raise RuntimeError(f"the scheduler is gone: {states}\n{tail(d.scheduler_log)}")
        time.sleep(poll)


def tail(path: Path, chars: int = 6000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def status(d: Deployment) -> dict:
    pids = {
        name: int(_pid_file(d, name).read_text())
        for name in ("scheduler", "webserver")
        if _pid_file(d, name).is_file()
    }
    return {
        "dir": str(d.dir),
        "postgres": d.postgres().url("") if d.postgres().running() else None,
        "processes": {n: p for n, p in pids.items() if _pid_alive(p)},
        "vistflow_home": str(d.vistflow_home),
        "metadata_connection": d.postgres().url("mlmd"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipelines.deployment", description=__doc__)
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"deployment directory ({DEFAULT_DIR})")
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start PostgreSQL, migrate, start the scheduler")
    u.add_argument("--parallelism", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    u.add_argument("--schedule", action="store_true", help="also create the DAGs' interval runs")
    u.add_argument("--webserver-port", type=int, default=0, help="also start the webserver")
    u.add_argument("--pg-port", type=int, default=0)
    la = sub.add_parser("land", help="land a data partition for a date")
    la.add_argument("ds")
    la.add_argument("--from", dest="source", type=Path, help="a VIST dir (official layout)")
    la.add_argument("--synth-stories", type=int, default=16)
    t = sub.add_parser("trigger", help="trigger a DAG for a logical date")
    t.add_argument("dag_id")
    t.add_argument("ds")
    t.add_argument("--conf", default="", help="JSON, e.g. pipeline_overrides")
    t.add_argument("--wait", action="store_true", help="wait for the run to finish")
    t.add_argument("--timeout", type=float, default=3600)
    sub.add_parser("status")
    dn = sub.add_parser("down", help="stop everything (data kept unless --purge)")
    dn.add_argument("--purge", action="store_true")
    args = p.parse_args(argv)

    if args.cmd == "up":
        d = up(
            args.dir,
            parallelism=args.parallelism,
            schedule=args.schedule,
            webserver_port=args.webserver_port,
            pg_port=args.pg_port,
        )
        print(json.dumps(status(d), indent=1))
        print(f"source {d.dir / 'env.sh'}  # then: airflow dags list-runs -d vist_retraining")
        return 0
    d = Deployment.load(args.dir)
    if args.cmd == "land":
        print(land(d, args.ds, args.source, args.synth_stories))
    elif args.cmd == "trigger":
        run_id = trigger(d, args.dag_id, args.ds, json.loads(args.conf) if args.conf else None)
        print(f"{args.dag_id} {run_id}")
        if args.wait:
            states = wait_for_runs(d, {args.dag_id: [run_id]}, timeout=args.timeout)
            print(json.dumps(task_states(d, args.dag_id, run_id), indent=1))
            state = states[(args.dag_id, run_id)]
            print(f"{args.dag_id} {run_id}: {state}")
            return 0 if state == "success" else 1
    elif args.cmd == "status":
        print(json.dumps(status(d), indent=1))
    elif args.cmd == "down":
        down(d, purge=args.purge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
