"""Run one pipeline step as `cosmo step` does, with its write primitives counted and a SIGKILL at the Nth.

    python tests/fault_injection.py STEP DAY [--kill-at N] [--count-to FILE]

or, from a test, :func:`run_forked`: the same in a process forked from a server that imported the heavy
libraries once (Great Expectations alone takes seconds to import, and a crash test runs dozens of steps).

Counted (in this process only: Ray workers compute, the driver writes): ParquetWriter.write_table
and close, os.replace (the atomic renames), Storage.put_bytes (manifests, reports) and the local
filesystem's rm (cleanup of leftovers and staging). The kill comes before the Nth call runs, the
way a crash would: nothing of it happened. ``--count-to`` writes how many calls a run made (a
clean run's total is the range the kill points are drawn from). Test code only: the library has
no fault hooks.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import sys
from pathlib import Path

CALLS = {"n": 0}


def counted(function, kill_at: int | None):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        CALLS["n"] += 1
        if CALLS["n"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)

    return wrapper


def install(kill_at: int | None) -> None:
    import pyarrow.parquet as pq
    from fsspec.implementations.local import LocalFileSystem

    from cosmo.storage import Storage

    for owner, name in ((pq.ParquetWriter, "write_table"), (pq.ParquetWriter, "close"), (os, "replace"),
                        (Storage, "put_bytes"), (LocalFileSystem, "rm")):
        setattr(owner, name, counted(getattr(owner, name), kill_at))


def run_step(step: str, day: str, kill_at: int | None, count_to: Path | None) -> None:
    install(kill_at)
    from cosmo.cli import app

    try:
        app(["step", step, "--ds", day], prog_name="cosmo")
    finally:  # a SIGKILL never gets here: a count is only written by a run that ended
        if count_to is not None:
            count_to.write_text(str(CALLS["n"]))


# Imported once by the fork server: libraries only (no cosmo module, whose console would keep the
# server's environment), and nothing that starts threads a fork would not carry over.
PRELOAD = ["great_expectations", "pyarrow.parquet", "pandas", "fsspec", "pydantic", "typer", "rich"]
_context = None


def _forked(step: str, day: str, env: dict, cwd: str, kill_at: int | None, count_to: str | None,
            log_path: str) -> None:
    os.setsid()  # its own session: whatever it starts goes with it
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(out, 2)
    run_step(step, day, kill_at, Path(count_to) if count_to else None)


def run_forked(step: str, day: str, env: dict, cwd: Path, log_path: Path, *, kill_at: int | None = None,
               count_to: Path | None = None, timeout: float = 600) -> tuple[int, str]:
    """Run the step in a forked process with environment ``env`` in ``cwd``; returns its exit code (-9
    when killed) and what it printed."""
    import multiprocessing

    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    process = _context.Process(target=_forked, args=(step, day, env, str(cwd), kill_at,
                                                     str(count_to) if count_to else None, str(log_path)))
    process.start()
    process.join(timeout)
    if process.is_alive():
        os.killpg(process.pid, signal.SIGKILL)
        process.join()
    with contextlib.suppress(ProcessLookupError):  # what the step started dies with it
        os.killpg(process.pid, signal.SIGKILL)
    return process.exitcode, log_path.read_text() if log_path.exists() else ""


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step")
    parser.add_argument("day")
    parser.add_argument("--kill-at", type=int)
    parser.add_argument("--count-to", type=Path)
    args = parser.parse_args(argv)
    run_step(args.step, args.day, args.kill_at, args.count_to)


if __name__ == "__main__":
    main(sys.argv[1:])
