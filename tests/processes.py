"""Starting the platform's own processes (web, worker) for tests that need them real."""

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**overrides: str) -> dict:
    """The current environment without the platform's own settings, plus ``overrides``."""
    prefixes = (
        "DJANGO_",
        "DATABASE_URL",
        "REDIS_URL",
        "PROCESSOR_",
        "SANDBOX_",
        "VAR_DIR",
        "CELERY_",
        "WEBHOOK_",
        "PAYMENT_",
        "IDEMPOTENCY_",
        "API_RATE_LIMIT",
        "EVENTS_",
        "METRICS_",
        "PROMETHEUS_",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env["PLATFORM_ENV_FILE"] = ""  # a started process gets its configuration here, never from the .env of `make run`
    env.update(overrides)
    return env


def wait_for_http(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> requests.Response:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            return requests.get(url, timeout=2)
        except requests.RequestException as error:
            last_error = error
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout}s: {last_error}")


def manage(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def start_gunicorn(
    port: int, env: dict, log_path: Path, workers: int = 2, threads: int = 4, extra_args: Sequence[str] = ()
) -> subprocess.Popen:
    """gunicorn serving the platform; ``extra_args`` are added to its command line (``--logger-class`` …)."""
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--graceful-timeout",
            "5",
            *extra_args,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def procfile_web_command(
    port: int, workers: int | None = None, threads: int | None = None, env: dict | None = None
) -> list[str]:
    """The ``web`` line of the Procfile as a command: ``$PORT`` and ``${NAME:-default}`` expanded (``workers`` for
    ``WEB_CONCURRENCY``, else from ``env``), the server from this interpreter's virtualenv, ``threads`` per worker
    when given. The ``scripts/supervise`` in front of it is left out: the caller watches the process (its pid is
    the server's)."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    values = {**(env or {}), "PORT": str(port), "WEB_CONCURRENCY": str(workers) if workers else None}

    def expand(word: str) -> str:
        def value(match: re.Match) -> str:
            name = match.group(1) or match.group(3)
            return values.get(name) or match.group(2) or ""

        return re.sub(r"\$\{(\w+):-([^}]*)\}|\$(\w+)", value, word)

    words = [expand(word) for word in shlex.split(line.removeprefix("web:"))]
    # ``env NAME=value …`` in front (PROMETHEUS_MULTIPROC_DIR) stays in front: env execs the server, same pid.
    prefix = []
    if words[0] == "env":
        while words[0] == "env" or "=" in words[0]:
            prefix.append(words.pop(0))
    if Path(words[0]).name == "supervise":
        words = words[1:]
    words[0] = str(VENV_BIN / Path(words[0]).name)
    words = prefix + words
    if threads is not None:
        words[words.index("--blocking-threads") + 1] = str(threads)
    return words


def start_procfile_web(
    port: int, env: dict, log_path: Path, workers: int = 2, threads: int = 4, extra_args: Sequence[str] = ()
) -> subprocess.Popen:
    """The platform's web process exactly as the Procfile starts it (granian, its limits and its masked logs); its
    output, the access log included, goes to ``log_path``. Its workers' metrics go to ``PROMETHEUS_MULTIPROC_DIR``
    of ``env``, else to a folder beside the log (never the checkout's var/prometheus)."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(log_path.parent / "prometheus"), **env}
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [*procfile_web_command(port, workers, threads, env), *extra_args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
