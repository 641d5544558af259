"""Shared plumbing for the benchmarks: a PostgreSQL database, the platform's processes, percentiles."""

import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# A benchmark sets up its own configuration: never the .env that `make run` writes.
os.environ["PLATFORM_ENV_FILE"] = ""

from tests.processes import clean_env, free_port, manage, start_gunicorn, stop, wait_for_http  # noqa: E402

__all__ = ["clean_env", "free_port", "manage", "start_gunicorn", "stop", "wait_for_http", "ROOT"]

DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def fresh_postgres_database(name: str) -> str:
    """Drop and create database ``name`` on the local PostgreSQL; return its URL."""
    import psycopg

    admin_url = os.environ.get("BENCH_POSTGRES_ADMIN_URL", DEFAULT_ADMIN_URL)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}"


def run(command: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
