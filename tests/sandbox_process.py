"""Running the sandbox processor as a real process for tests: ``with SandboxProcess() as sandbox: ...``.

Each instance starts ``python -m sandbox`` with a fresh SQLite
database in its own temporary folder, on a free port, waits until ``/healthz``
answers, and writes the process's stdout and stderr to ``sandbox.log`` in that
folder (the tail is shown when start-up fails). The process leads its own
process group, so ``kill()`` takes its server's workers down with it; every
instance still running when the interpreter exits is killed.
"""

import atexit
import html
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_KEY = "sk_sandbox_development"
_LISTENING = re.compile(r"sandbox processor listening on (http://[\d.]+:(\d+))")
_WALLET_TOKEN = re.compile(r'<input type="hidden" name="token" value="([^"]+)">')
_STRIPPED_PREFIXES = ("DJANGO_", "DATABASE_URL", "REDIS_URL", "PROCESSOR_", "SANDBOX_", "VAR_DIR", "CELERY_")
_running: "weakref.WeakSet[SandboxProcess]" = weakref.WeakSet()


class SandboxStartError(RuntimeError):
    pass


class SandboxProcess:
    """A sandbox processor in its own process. ``env`` adds SANDBOX_* settings (faults, delays…).

    ``port=None`` lets the server pick a free port (it prints the one it got);
    a restart keeps the port and the database, as a restarted processor would.
    """

    def __init__(
        self,
        port: int | None = None,
        env: dict[str, str] | None = None,
        webhook_url: str | None = None,
        *,
        api_key: str = DEFAULT_API_KEY,
        webhook_secret: str | None = None,
        database_path: str | Path | None = None,
        startup_timeout: float = 20.0,
        keep_files: bool | None = None,
    ):
        self.requested_port = port
        self.port: int | None = None
        self.api_key = api_key
        self.startup_timeout = startup_timeout
        self.directory = Path(tempfile.mkdtemp(prefix="sandbox-processor-"))
        self.database_path = Path(database_path) if database_path else self.directory / "sandbox.sqlite3"
        self.log_path = self.directory / "sandbox.log"
        self.keep_files = bool(os.environ.get("KEEP_SANDBOX_FILES")) if keep_files is None else keep_files
        self.env = {key: value for key, value in os.environ.items() if not key.startswith(_STRIPPED_PREFIXES)}
        self.env.update(
            {
                # The command itself runs under the platform's test settings; the server under its own.
                "DJANGO_SETTINGS_MODULE": "config.test_settings",
                "VAR_DIR": str(self.directory / "platform-var"),
                "SANDBOX_DATABASE_URL": f"sqlite:///{self.database_path}",
                "SANDBOX_API_KEY": api_key,
                "SANDBOX_LOG_LEVEL": "warning",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if webhook_url is not None:
            self.env["SANDBOX_WEBHOOK_URL"] = webhook_url
        else:
            # Nothing listens on the discard port: webhooks fail fast and are retried, harmlessly.
            self.env.setdefault("SANDBOX_WEBHOOK_URL", "http://127.0.0.1:9/webhooks/processor/sandbox/")
        if webhook_secret is not None:
            self.env["SANDBOX_WEBHOOK_SECRET"] = webhook_secret
        self.env.update(env or {})
        self.process: subprocess.Popen | None = None
        self.session = requests.Session()

    # --- life cycle ----------------------------------------------------------------

    def start(self) -> "SandboxProcess":
        """Start the process and return once ``/healthz`` answers 200; raises SandboxStartError otherwise."""
        if self.running:
            return self
        port = self.port if self.port is not None else (self.requested_port or 0)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sandbox", "--port", str(port), "--host", "127.0.0.1"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _running.add(self)
        try:
            self._wait_until_ready(offset)
        except BaseException:
            self.kill()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful: the server finishes the requests in hand), then wait; SIGKILL if it will not go."""
        if self.process is None:
            return None
        # Our own kept-alive connection would make the server linger before it exits.
        self.session.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group at once, as a crash would."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self._reap_group()

    def restart(self, *, kill: bool = False) -> "SandboxProcess":
        """Stop (or with ``kill`` crash) and start again on the same port with the same database."""
        self.kill() if kill else self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the process and remove its folder (kept with KEEP_SANDBOX_FILES=1 or ``keep_files``)."""
        self.stop()
        self.session.close()
        _running.discard(self)
        if not self.keep_files:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "SandboxProcess":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the sandbox has not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return self.env["SANDBOX_DATABASE_URL"]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- talking to it ---------------------------------------------------------------

    def request(self, method: str, path: str, *, idempotency_key: str | None = None, **kwargs) -> requests.Response:
        """An authenticated call to the sandbox's API (``path`` such as ``/v1/charges``)."""
        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base_url + path, headers=headers, **kwargs)

    def set_faults(self, **faults) -> dict:
        """Change faults for the rest of the run: latency_ms, error_rate, seed, duplicate_webhooks,
        shuffle_webhooks, timeout_delay_seconds, refund_delay_seconds, dispute_delay_seconds,
        dispute_decision_seconds, bank_settlement_seconds, bank_return_seconds, wallet_expiry_seconds,
        fx_drift_bps, payout_seconds. Returns all the faults in force."""
        response = self.request("POST", "/v1/control/faults", json=faults)
        response.raise_for_status()
        return response.json()

    def faults(self) -> dict:
        response = self.request("GET", "/v1/control/faults")
        response.raise_for_status()
        return response.json()

    def events(self, **params) -> list[dict]:
        response = self.request("GET", "/v1/events", params=params)
        response.raise_for_status()
        return response.json()["data"]

    def wallet_decide(
        self, next_action_url: str, *, approve: bool = True, return_url: str | None = None
    ) -> requests.Response:
        """Play the customer of a wallet charge: open its approval page (``next_action_url``, with ``return_url``
        when given), then press Approve (or Decline), as a browser would, without the API key.

        Returns the final answer: the page showing the outcome, or, with ``return_url``, the 303 that sends the
        customer there (not followed). Raises AssertionError when the page offers no buttons (decided already,
        expired, voided).
        """
        with requests.Session() as browser:
            page = browser.get(next_action_url, params={"return_url": return_url} if return_url else None, timeout=10)
            page.raise_for_status()
            found = _WALLET_TOKEN.search(page.text)
            assert found, f"the wallet page offers no decision:\n{page.text}"
            form = {"token": html.unescape(found.group(1))}
            if return_url:
                form["return_url"] = return_url
            action = "approve" if approve else "decline"
            return browser.post(
                f"{next_action_url}/{action}", data=form, allow_redirects=return_url is None, timeout=10
            )

    # --- internals ---------------------------------------------------------------------

    def _wait_until_ready(self, log_offset: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SandboxStartError(
                    f"the sandbox exited with {self.process.returncode} during start-up:\n{self._log_tail()}"
                )
            if self.port is None:
                with open(self.log_path, "rb") as log:
                    log.seek(log_offset)
                    match = _LISTENING.search(log.read().decode(errors="replace"))
                if match:
                    self.port = int(match.group(2))
            if self.port is not None:
                try:
                    if requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        raise SandboxStartError(f"the sandbox did not answer /healthz in {self.startup_timeout}s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _reap_group(self) -> None:
        """Make sure no process of the group (a server worker) outlives the main process."""
        if self.process is None:
            return
        deadline = time.monotonic() + 5
        while group_alive(self.process.pid):
            if time.monotonic() > deadline:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                return
            time.sleep(0.02)


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies awaiting their reaper do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state, ppid, pgrp.
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


@atexit.register
def _kill_leftovers() -> None:
    for sandbox in list(_running):
        sandbox.kill()
