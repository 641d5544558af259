"""Shared plumbing for the benchmarks: a PostgreSQL database, the platform's processes, percentiles, and the
CPU time each process tree spends during a measured window (``CpuMeter``)."""

import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
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


def django_on_bench_database(
    name: str, *, reuse: bool, label: str, env: dict[str, str] | None = None, unset: Iterable[str] = ()
) -> str:
    """Set Django up on the benchmark's own PostgreSQL database ``name``: created afresh, or the one a previous run
    generated (``reuse``). ``env`` and ``unset`` adjust the environment first; ``label`` names the benchmark's
    secret key and ``var/bench-<label>``. Returns the database's URL."""
    if reuse:
        url = os.environ.get("BENCH_POSTGRES_ADMIN_URL", DEFAULT_ADMIN_URL).rsplit("/", 1)[0] + f"/{name}"
    else:
        url = fresh_postgres_database(name)
    os.environ["DATABASE_URL"] = url
    for variable in unset:
        os.environ.pop(variable, None)
    os.environ.update(env or {})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", f"{label}-benchmark-only-secret-key-0123456789abcdef")
    os.environ.setdefault("VAR_DIR", str(ROOT / "var" / f"bench-{label}"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    return url


def sql(statement: str, params=None) -> None:
    """Run one statement on Django's connection (set up first)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def timed(label: str, action, *, width: int = 64):
    """Run ``action``, print how long it took next to ``label``, return its result."""
    started = time.perf_counter()
    result = action()
    print(f"  {label:<{width}} {time.perf_counter() - started:7.2f} s")
    return result


BENCH_SECRET_KEY = "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"


def platform_env(*, database_url: str, processor_url: str, **extra: str) -> dict:
    """The environment of a benchmark's platform: its database, the sandbox, no rate limit, quiet logs."""
    return clean_env(
        DJANGO_SECRET_KEY=BENCH_SECRET_KEY,
        DATABASE_URL=database_url,
        PROCESSOR_BASE_URL=processor_url,
        API_RATE_LIMIT="1000000/s",
        LOG_LEVEL="WARNING",
        **extra,
    )


def migrate_with_merchant(env: dict) -> str:
    """Migrate the benchmark's database and create its merchant; the merchant's API key."""
    migrate = manage("migrate", "--noinput", "-v0", env=env)
    assert migrate.returncode == 0, migrate.stderr
    created = manage("create_merchant", "Bench", "--json", env=env)
    return json.loads(created.stdout.strip().splitlines()[-1])["api_key"]


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


# --- CPU per process tree, from /proc --------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# A PostgreSQL client backend's process title: "<user> <database> <host>(<port>) <state>" (or "[local]").
_BACKEND_TITLE = re.compile(r"^(?P<user>\S+) (?P<database>\S+) (?:\S+\(\d+\)|\[local\])")


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 on (state, ppid, …), or None once the process is gone.

    The command name (field 2) is in parentheses and may hold spaces: split after its closing one."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2 :].split()


def process_cpu(pid: int) -> tuple[int, float] | None:
    """(start time in ticks, user + system CPU seconds of all its threads) of a live process, else None.

    The start time tells a process from a later one that reuses its pid."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # Fields 14 and 15 (utime, stime) and 22 (starttime), counted from 1 with the pid and the name first.
    return int(fields[19]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(root: int) -> set[int]:
    """``root`` and every process below it (gunicorn's or granian's workers, the sandbox's server)."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    tree, pending = set(), [root]
    while pending:
        pid = pending.pop()
        if pid not in tree:
            tree.add(pid)
            pending.extend(children.get(pid, ()))
    return tree


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def postgres_processes(database: str) -> set[int]:
    """The local PostgreSQL server's processes that work for ``database``: the postmaster, its auxiliary
    processes (WAL writer, checkpointer, background writer, autovacuum…) and the client backends connected to
    ``database``. Backends of other databases (other people's test runs on a shared machine) are left out."""
    parents = _parents()
    postmasters = [
        pid
        for pid, parent in parents.items()
        if _command_name(pid) == "postgres" and _command_name(parent) != "postgres"
    ]
    chosen = set(postmasters)
    for pid, parent in parents.items():
        if parent not in postmasters:
            continue
        # "postgres: 15/main: postgres payments_bench 127.0.0.1(40112) idle": the part after the last ": ".
        title = _command_line(pid).rsplit(": ", 1)[-1]
        backend = _BACKEND_TITLE.match(title)
        if backend is None or backend["database"] == database:
            chosen.add(pid)
    return chosen


def machine_cpu_seconds() -> float:
    """CPU time spent by the whole machine so far (/proc/stat: every state but idle and iowait)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds spent by groups of processes between ``start()`` and ``stop()``, plus the whole machine's.

    ``groups`` maps a name to a function returning the group's pids at the moment it is called (process
    trees change: a PostgreSQL backend connects, a worker is respawned). A thread samples every group every
    ``interval`` seconds; a process's share is its last sample less its sample at ``start()`` (0 for a process
    born during the window), so a process that ends during the window loses at most one interval of its time.
    """

    def __init__(self, groups: dict[str, Callable[[], Iterable[int]]], interval: float = 0.25):
        self.groups = groups
        self.interval = interval
        self._first: dict[str, dict[tuple[int, int], float]] = {}
        self._last: dict[str, dict[tuple[int, int], float]] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._machine_began = 0.0
        self.seconds = 0.0

    def _sample(self) -> dict[str, dict[tuple[int, int], float]]:
        samples = {}
        for name, pids in self.groups.items():
            group = {}
            for pid in pids():
                cpu = process_cpu(pid)
                if cpu is not None:
                    group[(pid, cpu[0])] = cpu[1]
            samples[name] = group
        return samples

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            for name, group in self._sample().items():
                self._last[name].update(group)

    def start(self) -> "CpuMeter":
        self._first = self._sample()
        self._last = {name: dict(group) for name, group in self._first.items()}
        self._machine_began, self._began = machine_cpu_seconds(), time.monotonic()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """CPU seconds per group during the window, with "machine" (every process on it) and "other"
        (the machine less the groups: this meter, and whatever else runs on the machine)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        for name, group in self._sample().items():
            self._last[name].update(group)
        machine_cpu = machine_cpu_seconds() - self._machine_began
        self.seconds = time.monotonic() - self._began
        spent = {
            name: sum(cpu - self._first[name].get(process, 0.0) for process, cpu in group.items())
            for name, group in self._last.items()
        }
        spent["machine"] = machine_cpu
        spent["other"] = machine_cpu - sum(spent[name] for name in self.groups)
        return spent
