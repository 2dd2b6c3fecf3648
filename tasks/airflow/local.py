"""Airflow on this machine, for trying the DAGs out: ``make airflow`` (or ``python -m tasks.airflow.local``).

Starts the api-server (the UI and REST API), the scheduler, the dag-processor and the triggerer,
each bound to loopback unless ``--host`` says otherwise, and stops them all on Ctrl-C or SIGTERM.
It differs from ``airflow standalone`` where that gets in a newcomer's way: the components are
started by this interpreter's ``airflow``, so no virtual environment needs to be activated; no log
server listens on any interface (the UI reads task logs from the local log folder); and the login
is printed (user ``admin``, password generated once into ``$AIRFLOW_HOME``).

The metadata database is whatever ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` says: SQLite under
``$AIRFLOW_HOME`` by default, or e.g. ``postgresql+psycopg://airflow@127.0.0.1:5432/airflow`` (psycopg 3
serves Airflow's async engine too).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

COMPONENTS = {
    "api-server": lambda host, port: ["api-server", "--host", host, "--port", str(port)],
    "scheduler": lambda host, port: ["scheduler", "--skip-serve-logs"],
    "dag-processor": lambda host, port: ["dag-processor"],
    "triggerer": lambda host, port: ["triggerer", "--skip-serve-logs"],
}


def airflow_env(host: str, port: int, base: dict | None = None) -> dict[str, str]:
    """The environment every component runs with: this interpreter's bin first on PATH, a local
    executor, the simple auth manager's admin user, and the execution API at the api-server."""
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env.setdefault("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    env["AIRFLOW__API__HOST"] = host
    env["AIRFLOW__API__PORT"] = str(port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    env.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://{shown}:{port}/execution/")
    env.setdefault("AIRFLOW__API__BASE_URL", f"http://{shown}:{port}")
    conn = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if conn.startswith("postgresql+psycopg://"):  # psycopg 3 is async too: no asyncpg needed
        env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", conn)
    return env


def airflow_home(env: dict[str, str]) -> Path:
    return Path(env.get("AIRFLOW_HOME") or Path.home() / "airflow")


def password_file(env: dict[str, str]) -> Path:
    configured = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    return Path(configured) if configured else airflow_home(env) / "simple_auth_manager_passwords.json.generated"


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


class LocalAirflow:
    """The four components as child processes of one launcher."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, env: dict | None = None,
                 log_dir: Path | None = None) -> None:
        self.host, self.port = host, port
        self.env = airflow_env(host, port, env)
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def airflow(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).parent / "airflow"), *args]

    def migrate(self) -> None:
        done = subprocess.run(self.airflow("db", "migrate"), env=self.env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"airflow db migrate failed:\n{(done.stdout + done.stderr)[-3000:]}")

    def start(self) -> None:
        self.migrate()
        for name, args in COMPONENTS.items():
            output = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                output = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
            self.processes[name] = subprocess.Popen(self.airflow(*args(self.host, self.port)), env=self.env,
                                                    stdout=output, stderr=subprocess.STDOUT if output else None)

    def wait_until_serving(self, timeout: float = 180) -> None:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        deadline = time.monotonic() + timeout
        while not (port_open(shown, self.port) and password_file(self.env).is_file()):
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"airflow {name} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the api-server did not answer on {shown}:{self.port} within {timeout:.0f}s")
            time.sleep(1)

    def password(self, user: str = "admin") -> str:
        return json.loads(password_file(self.env).read_text())[user]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                process.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tasks.airflow.local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="interface the UI and REST API bind (default loopback)")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    env = airflow_env(args.host, args.port)
    log_dir = airflow_home(env) / "logs" / "components"
    airflow = LocalAirflow(args.host, args.port, log_dir=log_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        airflow.start()
        airflow.wait_until_serving()
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        print(f"\nAirflow is up on http://{shown}:{args.port} (bound to {args.host}).\n"
              f"Log in as admin with the password {airflow.password()!r}\n"
              f"(kept in {password_file(airflow.env)}). Metadata database: "
              f"{airflow.env.get('AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', 'SQLite under ' + str(airflow_home(airflow.env)))}."
              f"\nComponent logs: {log_dir}/<component>.log. Ctrl-C stops every component.\n", flush=True)
        while all(p.poll() is None for p in airflow.processes.values()):
            time.sleep(1)
        dead = [n for n, p in airflow.processes.items() if p.poll() is not None]
        print(f"airflow {', '.join(dead)} stopped; stopping the rest", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        airflow.stop()


if __name__ == "__main__":
    main()
