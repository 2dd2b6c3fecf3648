"""Run one pipeline step as `cosmo step` does, with its write primitives counted and a SIGKILL at the Nth.

    python tests/fault_injection.py STEP DAY [--kill-at N] [--count-to FILE]

Counted (in this process only: Ray workers compute, the driver writes): ParquetWriter.write_table
and close, os.replace (the atomic renames), Storage.put_bytes (manifests, reports) and the local
filesystem's rm (cleanup of leftovers and staging). The kill comes before the Nth call runs, the
way a crash would: nothing of it happened. ``--count-to`` writes how many calls a run made (a
clean run's total is the range the kill points are drawn from). Test code only: the library has
no fault hooks.
"""

from __future__ import annotations

import argparse
import atexit
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


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step")
    parser.add_argument("day")
    parser.add_argument("--kill-at", type=int)
    parser.add_argument("--count-to", type=Path)
    args = parser.parse_args(argv)
    install(args.kill_at)
    if args.count_to is not None:
        atexit.register(lambda: args.count_to.write_text(str(CALLS["n"])))
    from cosmo.cli import app

    app(["step", args.step, "--ds", args.day], prog_name="cosmo")


if __name__ == "__main__":
    main(sys.argv[1:])
