"""METEOR: the METEOR 1.5 jar over its stdio protocol, or nltk's `meteor_score` with offline WordNet.

Java path. The jar bundled with pycocoevalcap (`meteor/meteor-1.5.jar` + `data/paraphrase-en.gz`) is
run as `java -Xmx2G -jar meteor-1.5.jar - - -stdio <options>` and spoken to the way coco-caption's
`meteor.py` does: one `SCORE ||| ref1 ||| ... ||| hyp` line per item returns that item's sufficient
statistics, then one `EVAL ||| stats1 ||| ... ||| statsN` line returns N segment scores and the
corpus score (computed from the summed statistics, not a mean of segments). Options by profile:
`-l en -norm` (coco-caption) or `-t hter` (VIST challenge, AREL).

coco-caption's wrapper hangs in known ways, which this one avoids: a newline inside a caption
desynchronises the line protocol (we replace line breaks and `|||`); Java's stderr pipe is never
read, so a chatty JVM blocks (we drain it); a dead or stuck JVM makes `readline` block forever (every
read has a deadline and EOF is an error naming the JVM's last stderr lines); an exception leaves its
lock held and `__del__` then deadlocks (we hold no global lock and always close stdin, terminate and
reap the process). Lines are pipelined — written by a thread while we read — instead of one round
trip per caption.
"""

from __future__ import annotations

import collections
import importlib.util
import logging
import os
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vistflow.errors import VistflowError

log = logging.getLogger(__name__)

JAR_ENV = "VISTFLOW_METEOR_JAR"
COCO_OPTIONS = ("-l", "en", "-norm")  # pycocoevalcap/meteor/meteor.py
HTER_OPTIONS = ("-t", "hter")  # VIST challenge scorer (config.setTask("hter")), AREL's vist_eval


class MeteorError(RuntimeError):
    """The METEOR JVM failed, died or stopped answering."""


def find_meteor_jar() -> Path:
    """meteor-1.5.jar: $VISTFLOW_METEOR_JAR, else the copy bundled with pycocoevalcap."""
    env = os.environ.get(JAR_ENV)
    if env:
        jar = Path(env)
        if not jar.is_file():
            raise VistflowError(f"{JAR_ENV}={env}: no such file (expected meteor-1.5.jar)")
        return jar
    spec = importlib.util.find_spec("pycocoevalcap")
    for root in (spec.submodule_search_locations or []) if spec else []:
        jar = Path(root) / "meteor" / "meteor-1.5.jar"
        if jar.is_file():
            return jar
    raise VistflowError(
        "METEOR 1.5 needs meteor-1.5.jar and data/paraphrase-en.gz: `pip install pycocoevalcap` "
        f"(which bundles them) or set {JAR_ENV}; or use --meteor nltk or --meteor none"
    )


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise VistflowError(
            "METEOR 1.5 needs a Java runtime on PATH (Debian: apt-get install openjdk-17-jre-headless); "
            "or use --meteor nltk or --meteor none"
        )
    return java


def _one_line(text: str) -> str:
    return " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text


def sanitize_hypothesis(text: str) -> str:
    """coco-caption's cleanup of a hypothesis (drop `|||`, one double space), on one line."""
    return _one_line(text).replace("|||", "").replace("  ", " ")


def sanitize_reference(text: str) -> str:
    """A reference on one line and without the field separator (coco-caption sends them as is)."""
    return _one_line(text).replace("|||", "")


class _LineReader:
    """Lines from a pipe with a deadline per line (select + os.read, no blocking readline)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.eof = False

    def readline(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[:nl])
                del self.buf[: nl + 1]
                return line
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 1 << 16)
                if chunk:
                    self.buf += chunk
                else:
                    self.eof = True


class MeteorJava:
    """One METEOR 1.5 JVM. Use as a context manager; every exit path terminates the process.

    Args:
      options: METEOR command-line options after `-stdio` (`COCO_OPTIONS` or `HTER_OPTIONS`).
      startup_timeout: seconds allowed for the first answer (the JVM loads a 60 MB paraphrase table;
        on a busy 2-core machine this takes tens of seconds).
      line_timeout: seconds allowed for each later answer.
    """

    def __init__(
        self,
        options: Sequence[str] = COCO_OPTIONS,
        *,
        jar: str | os.PathLike | None = None,
        max_heap: str = "2G",
        startup_timeout: float = 600.0,
        line_timeout: float = 300.0,
    ) -> None:
        self.options = tuple(options)
        self.jar = Path(jar) if jar else find_meteor_jar()
        self.cmd = [
            _java(),
            f"-Xmx{max_heap}",
            "-jar",
            str(self.jar),
            "-",
            "-",
            "-stdio",
            *self.options,
        ]
        self.startup_timeout = startup_timeout
        self.line_timeout = line_timeout
        self._lock = threading.Lock()  # one conversation at a time on this JVM
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._answered = False
        log.info("starting METEOR: %s", " ".join(self.cmd))
        self._proc = subprocess.Popen(
            self.cmd,
            cwd=str(self.jar.parent),  # the jar finds data/paraphrase-en.gz next to it
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._reader = _LineReader(self._proc.stdout.fileno())
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()

    def __enter__(self) -> MeteorJava:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close stdin, give the JVM a moment to exit, then kill it; always reaps the process."""
        proc = self._proc
        if proc.poll() is None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def _drain_stderr(self) -> None:
        for raw in iter(self._proc.stderr.readline, b""):
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    def _fail(self, what: str) -> MeteorError:
        self._proc.kill()
        tail = " | ".join(list(self._stderr)[-5:]) or "(no stderr)"
        return MeteorError(f"METEOR ({' '.join(self.options)}) {what}; JVM stderr: {tail}")

    def _converse(self, lines: Sequence[str], n_answers: int) -> list[str]:
        """Send lines (from a writer thread) and read n_answers lines back."""
        errors: list[BaseException] = []

        def write() -> None:
            try:
                data = "".join(line + "\n" for line in lines).encode("utf-8")
                self._proc.stdin.write(data)
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as e:  # the JVM died: the reader reports
                errors.append(e)

        writer = threading.Thread(target=write, daemon=True)
        answers: list[str] = []
        with self._lock:
            if self._proc.poll() is not None:
                raise self._fail(f"is not running (exit code {self._proc.returncode})")
            writer.start()
            try:
                for _ in range(n_answers):
                    timeout = self.line_timeout if self._answered else self.startup_timeout
                    try:
                        line = self._reader.readline(timeout)
                    except TimeoutError:
                        raise self._fail(f"gave no answer within {timeout:.0f} s") from None
                    if line is None:
                        raise self._fail(
                            f"exited (code {self._proc.poll()}) after {len(answers)} answers"
                        )
                    self._answered = True
                    answers.append(line.decode("utf-8", "replace").strip())
            finally:
                writer.join(timeout=1)
        return answers

    def stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[str]:
        """Sufficient statistics of each (hypothesis, its references) pair (`SCORE` lines)."""
        lines = []
        for hyp, refs in zip(hypotheses, references, strict=True):
            if not refs:
                raise ValueError("METEOR needs at least one reference per hypothesis")
            fields = [sanitize_reference(r) for r in refs]
            lines.append(" ||| ".join(("SCORE", " ||| ".join(fields), sanitize_hypothesis(hyp))))
        return self._converse(lines, len(lines))

    def evaluate(self, stats: Sequence[str]) -> tuple[float, list[float]]:
        """Corpus score from summed statistics and the segment scores (one `EVAL` line)."""
        if not stats:
            return float("nan"), []
        answers = self._converse(["EVAL ||| " + " ||| ".join(stats)], len(stats) + 1)
        try:
            values = [float(a) for a in answers]
        except ValueError as e:
            raise self._fail(f"answered something that is not a score ({e})") from None
        return values[-1], values[:-1]

    def score(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]
    ) -> tuple[float, list[float]]:
        """coco-caption's `Meteor.compute_score`: (corpus score, per-item scores)."""
        return self.evaluate(self.stats(hypotheses, references))

    def best_single_reference(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]
    ) -> tuple[float, list[float]]:
        """VIST challenge: per item the best METEOR against any one reference, then the mean."""
        flat_h, flat_r, owner = [], [], []
        for i, (hyp, refs) in enumerate(zip(hypotheses, references, strict=True)):
            for ref in refs:
                flat_h.append(hyp)
                flat_r.append([ref])
                owner.append(i)
        _, pair_scores = self.evaluate(self.stats(flat_h, flat_r))
        best = np.full(len(hypotheses), -np.inf)
        np.maximum.at(best, np.asarray(owner, dtype=np.int64), np.asarray(pair_scores))
        per_item = [float(b) for b in best]
        return (float(np.mean(per_item)) if per_item else float("nan")), per_item


def meteor_nltk(
    hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]], wordnet
) -> tuple[float, list[float]]:
    """nltk's METEOR (max over references per item), averaged over items; tokens in, WordNet given."""
    from nltk.translate.meteor_score import meteor_score

    per_item = [
        float(meteor_score([list(r) for r in refs], list(hyp), wordnet=wordnet))
        for hyp, refs in zip(hypotheses, references, strict=True)
    ]
    return (float(np.mean(per_item)) if per_item else float("nan")), per_item
