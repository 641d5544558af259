"""The chaos stack: every process the simulator starts, and only those.

Each process leads its own process group (``start_new_session``), so a kill or a
stop reaches its children (granian's workers, Celery's pool) and nothing else.
Nothing here touches the machine's own PostgreSQL server or Redis beyond the run's
own database: PostgreSQL serves ``chaos_<seed>`` (or the name given; dropped and created
again), and Redis is a redis-server of our own on a free port, which the faults may stop or kill.

Two sandbox acquirers run, as ``make run`` starts them (Procfile): ``sandbox`` (every currency, the
sandbox's default fees) and ``sandbox_eu`` (its own fees and currencies), each in its own process
with its own SQLite database and webhook secret. The platform knows both (``PROCESSOR_NAMES``), and
routing rules created before the clients start send euro payments to ``sandbox_eu`` and the rest to
``sandbox``, each with the other as fallback (``ROUTING_RULES``).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from tests.processes import clean_env, free_port, procfile_web_command  # noqa: E402
from tests.sandbox_process import SandboxProcess, group_alive  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("CHAOS_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_DB = 9
SANDBOX_API_KEY = "sk_sandbox_development"


@dataclass(frozen=True)
class Acquirer:
    """One sandbox acquirer of the run: its name on the platform and the settings of its process."""

    name: str
    webhook_secret: str
    fee_bps: int
    fee_fixed: int
    dispute_fee: int
    currencies: str = ""  # "" takes every currency

    def sandbox_env(self) -> dict[str, str]:
        env = {
            "SANDBOX_NAME": self.name,
            "SANDBOX_FEE_BPS": str(self.fee_bps),
            "SANDBOX_FEE_FIXED": str(self.fee_fixed),
            "SANDBOX_DISPUTE_FEE": str(self.dispute_fee),
        }
        if self.currencies:
            env["SANDBOX_CURRENCIES"] = self.currencies
        return env

    def platform_env(self, position: int, base_url: str) -> dict[str, str]:
        """``PROCESSOR_*`` for the first processor, ``PROCESSOR_<NAME>_*`` for the others (config/processors.py)."""
        prefix = "PROCESSOR_" if position == 0 else f"PROCESSOR_{self.name.upper()}_"
        return {
            f"{prefix}BASE_URL": base_url,
            f"{prefix}WEBHOOK_SECRET": self.webhook_secret,
            f"{prefix}FEE_BPS": str(self.fee_bps),
            f"{prefix}FEE_FIXED": str(self.fee_fixed),
            f"{prefix}DISPUTE_FEE": str(self.dispute_fee),
        }


# The two acquirers of scripts/run and the Procfile (fees and currencies), with secrets of the simulator's own.
ACQUIRERS = (
    Acquirer("sandbox", "whsec_chaos_sandbox_only", fee_bps=250, fee_fixed=25, dispute_fee=1500),
    Acquirer(
        "sandbox_eu",
        "whsec_chaos_sandbox_eu_only",
        fee_bps=180,
        fee_fixed=20,
        dispute_fee=1000,
        currencies="EUR,GBP,USD,CHF,SEK,DKK,NOK,PLN",
    ),
)
ACQUIRER_NAMES = tuple(acquirer.name for acquirer in ACQUIRERS)
# Created through payments.routing before the clients start: euros to sandbox_eu, everything else to sandbox,
# each with the other as its fallback, so both carry payments and either one down moves payments to the other.
ROUTING_RULES = (
    {"priority": 10, "currency": "EUR", "processor": "sandbox_eu", "fallback_processor": "sandbox"},
    {"priority": 20, "currency": "", "processor": "sandbox", "fallback_processor": "sandbox_eu"},
)


def routed_to(currency: str) -> str:
    """The acquirer ``ROUTING_RULES`` choose for a payment in ``currency`` (the clients tokenise cards there)."""
    return next(rule["processor"] for rule in ROUTING_RULES if rule["currency"] in ("", currency))


# Settings of the platform processes for the run (everything else is the platform's default).
PLATFORM_SETTINGS = {
    # A payment whose answer was lost is asked about after 10 s instead of 30 (longer than the 2 + 5 s timeouts).
    "PAYMENT_RESOLVE_AFTER_SECONDS": "10",
    # A key whose request died is taken over after 30 s instead of 120 (longer than any request here can take).
    "IDEMPOTENCY_LOCK_TIMEOUT_SECONDS": "30",
    # Webhooks to our own receiver on 127.0.0.1; a killed worker's lease lapses after 20 s instead of minutes.
    "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
    "WEBHOOK_TIMEOUT_SECONDS": "5",
    "WEBHOOK_LEASE_SECONDS": "20",
    "API_RATE_LIMIT": "1000000/s",
    # Payouts: a claimed payout with no answer is looked up (and sent again with its key) after 15 s instead of
    # 60 (still above the processor's 2 + 5 s timeouts); one in transit is asked about 5 s past its arrival
    # instead of 60 (a lost webhook), so the heal phase settles both.
    "PAYOUT_SEND_LEASE_SECONDS": "15",
    "PAYOUT_RESOLVE_AFTER_SECONDS": "5",
    # Captured funds mature under the faults: pending for 5 s (not the merchant's 2-day payout delay), then made
    # available by the beat's mature_funds, run every 5 s instead of every minute, so that the flows pay out
    # what matured within the run (a payout is made of available funds only). The settle phase waits for every
    # due capture to mature; ledger_check's funds_mature proves each matured once and never early.
    "BALANCE_SETTLEMENT_DELAY_SECONDS": "5",
    "LEDGER_MATURE_FUNDS_EVERY_SECONDS": "5",
}
# A payout is paid (or fails) this long after the sandbox takes it, instead of 5 s: within the run.
SANDBOX_PAYOUT_SECONDS = "3"


def children_of(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(stat.parent.name))
    return sorted(found)


@dataclass
class Managed:
    """One process group we started: its command, log, and how often it was (re)started."""

    name: str
    command: list[str]
    env: dict
    log_path: Path
    process: subprocess.Popen | None = None
    starts: int = 0
    expected_down: bool = False
    unplanned_exits: list = field(default_factory=list)
    # Removed before every start: a process killed by a fault leaves it behind.
    pidfile: Path | None = None

    def start(self) -> None:
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- chaos: start #{self.starts + 1} at {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        self.expected_down = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: int) -> bool:
        if self.process is None:
            return False
        try:
            os.killpg(self.process.pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def kill(self) -> None:
        """SIGKILL the whole group, as a crash would, and reap it."""
        self.expected_down = True
        if self.process is None:
            return
        self.signal_group(signal.SIGCONT)
        self.signal_group(signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._reap_group()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group (SIGCONT first, in case a fault stopped it), then SIGKILL what is left."""
        self.expected_down = True
        if self.process is None:
            return
        self.signal_group(signal.SIGCONT)
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.signal_group(signal.SIGKILL)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._reap_group()

    def _reap_group(self) -> None:
        deadline = time.monotonic() + 5
        while self.process is not None and group_alive(self.process.pid) and time.monotonic() < deadline:
            self.signal_group(signal.SIGKILL)
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Stack:
    """PostgreSQL database, own redis-server, the two sandbox acquirers, the web, Celery worker and beat of one
    run. ``proxy_urls`` names, per acquirer, where its sandbox sends its webhooks (the simulator's proxy)."""

    def __init__(
        self,
        *,
        seed: int,
        run_dir: Path,
        database: str = "",
        web_workers: int = 2,
        web_threads: int = 4,
        worker_concurrency: int = 2,
        proxy_urls: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
        log=print,
    ):
        self.seed = seed
        self.run_dir = run_dir
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.worker_concurrency = worker_concurrency
        self.proxy_urls = proxy_urls or {}
        # Settings of the platform's processes beyond PLATFORM_SETTINGS (the case study mounts its naive design).
        self.extra_env = extra_env or {}
        self.log = log
        self.database = database or f"chaos_{seed}"
        self.database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.database}"
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/{REDIS_DB}"
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.sandboxes: dict[str, SandboxProcess] = {}
        self.redis: Managed | None = None
        self.web: Managed | None = None
        self.worker: Managed | None = None
        self.beat: Managed | None = None
        self.api_key = ""
        self.merchant_id = ""
        self._lock = threading.RLock()
        self._supervising = threading.Event()
        self._supervisor: threading.Thread | None = None

    # --- environment ---------------------------------------------------------------------

    def sandbox_database_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.sqlite3"

    def platform_env(self, **extra: str) -> dict:
        processors = {"PROCESSOR_NAMES": ",".join(ACQUIRER_NAMES)}
        for position, acquirer in enumerate(ACQUIRERS):
            sandbox = self.sandboxes.get(acquirer.name)
            base_url = sandbox.base_url if sandbox is not None and sandbox.port else ""
            processors.update(acquirer.platform_env(position, base_url))
        settings = {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": f"chaos-simulator-secret-key-{self.seed}-0123456789abcdefghijklmnopqrstuvwxyz",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            **processors,
            "VAR_DIR": str(self.run_dir / "var"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **PLATFORM_SETTINGS,
            **self.extra_env,
        }
        return clean_env(**{**settings, **extra})

    def manage(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.platform_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    # --- start ---------------------------------------------------------------------------

    def _step(self, name: str) -> None:
        now = time.monotonic()
        self.startup_steps[name] = round(now - self._step_started, 1)
        self._step_started = now

    def start(self) -> None:
        self.startup_steps: dict[str, float] = {}
        self._step_started = time.monotonic()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        (self.run_dir / "var").mkdir(parents=True, exist_ok=True)
        self._fresh_database()
        self._step("database")
        self._start_redis()
        self._step("redis")
        for acquirer in ACQUIRERS:
            self._start_sandbox(acquirer)
        self._step("sandboxes")
        migrate = self.manage("migrate", "--noinput", "-v0")
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrate.stderr[-3000:]}")
        self._step("migrate")
        self._create_routing_rules()
        # Euro payments of the merchant (who settles in USD) need a rate: imported from the sandbox's feed.
        rates = self.manage("import_fx_rates", "--wait", "30")
        if rates.returncode != 0:
            raise RuntimeError(f"import_fx_rates failed:\n{rates.stderr[-3000:]}")
        self._step("routing")
        created = self.manage("create_merchant", f"Chaos {self.seed}", "--json")
        if created.returncode != 0:
            raise RuntimeError(f"create_merchant failed:\n{created.stderr[-3000:]}")
        merchant = json.loads(created.stdout.strip().splitlines()[-1])
        self.api_key, self.merchant_id = merchant["api_key"], merchant["merchant_id"]
        env = self.platform_env()
        self.web = Managed(
            "web",
            # As the Procfile starts it (granian, a failed worker respawned), but a worker refusing to stop is
            # killed after 5 s, not 30: a stop must not outlast the run.
            [
                *procfile_web_command(self.web_port, self.web_workers, self.web_threads),
                "--workers-kill-timeout",
                "5",
            ],
            env,
            self.run_dir / "web.log",
        )
        self.worker = Managed(
            "worker",
            [
                str(VENV_BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(self.worker_concurrency),
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"chaos-{self.seed}@%h",
            ],
            self.platform_env(LOG_LEVEL="INFO"),
            self.run_dir / "worker.log",
        )
        self.beat = Managed(
            "beat",
            [
                str(VENV_BIN / "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile",
                str(self.run_dir / "beat.pid"),
            ],
            env,
            self.run_dir / "beat.log",
            pidfile=self.run_dir / "beat.pid",
        )
        self._step("merchant")
        for managed in (self.web, self.worker, self.beat):
            managed.start()
        self.wait_for_web()
        self._step("web")
        self._supervising.set()
        self._supervisor = threading.Thread(target=self._supervise, name="chaos-supervisor", daemon=True)
        self._supervisor.start()

    def _fresh_database(self) -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{self.database}"')

    def _start_redis(self) -> None:
        if self.redis is None:
            self.redis = Managed(
                "redis",
                [
                    "redis-server",
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.run_dir),
                    "--loglevel",
                    "warning",
                ],
                clean_env(),
                self.run_dir / "redis.log",
            )
        self.redis.start()
        deadline = time.monotonic() + 15
        client = redis.Redis(
            host="127.0.0.1", port=self.redis_port, db=REDIS_DB, socket_timeout=2, socket_connect_timeout=2
        )
        while True:
            try:
                client.flushdb()
                break
            except redis.RedisError:
                if time.monotonic() > deadline or not self.redis.running:
                    raise RuntimeError(f"redis-server did not start:\n{self.redis.log_tail()}") from None
                time.sleep(0.1)
        client.close()

    def _start_sandbox(self, acquirer: Acquirer) -> None:
        sandbox = SandboxProcess(
            env={
                **acquirer.sandbox_env(),
                "SANDBOX_THREADS": "16",
                "SANDBOX_TIMEOUT_DELAY_SECONDS": "8",
                "SANDBOX_PAYOUT_SECONDS": SANDBOX_PAYOUT_SECONDS,
                "SANDBOX_LOG_LEVEL": "warning",
            },
            webhook_url=self.proxy_urls.get(acquirer.name, ""),
            webhook_secret=acquirer.webhook_secret,
            api_key=SANDBOX_API_KEY,
            database_path=self.sandbox_database_path(acquirer.name),
            keep_files=True,
            startup_timeout=60,
        )
        self.sandboxes[acquirer.name] = sandbox
        sandbox.start()

    def _create_routing_rules(self) -> None:
        """``ROUTING_RULES``, through payments.routing (validated and audited) as operations would create them."""
        code = (
            "import json, sys\n"
            "from payments.models import RoutingRule\n"
            "from payments.routing import routing_rule_save\n"
            "for fields in json.loads(sys.argv[-1]):\n"
            "    routing_rule_save(rule=RoutingRule(**fields), actor='chaos', reason='the simulator routes traffic')\n"
        )
        created = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup()\n{code}", json.dumps(ROUTING_RULES)],
            cwd=ROOT,
            env=self.platform_env(),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if created.returncode != 0:
            raise RuntimeError(f"routing rules could not be created:\n{created.stderr[-3000:]}")

    def wait_for_web(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.web.running:
                raise RuntimeError(f"the web exited during start-up:\n{self.web.log_tail()}")
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=3).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the web did not answer /healthz in {timeout}s:\n{self.web.log_tail()}")

    # --- faults' handles -----------------------------------------------------------------

    def web_worker_pids(self) -> list[int]:
        return children_of(self.web.pid) if self.web and self.web.running else []

    def worker_pool_pids(self) -> list[int]:
        return children_of(self.worker.pid) if self.worker and self.worker.running else []

    def sandbox_signal(self, name: str, sig: int) -> bool:
        sandbox = self.sandboxes.get(name)
        if sandbox is None or sandbox.process is None:
            return False
        try:
            os.killpg(sandbox.process.pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def sandbox_kill(self, name: str) -> None:
        """The acquirer down: SIGKILL of its whole group; its port then refuses every connection."""
        with self._lock:
            self.sandboxes[name].kill()

    def sandbox_restart(self, name: str) -> None:
        """Start a killed acquirer again, on its port, with its database (as a restarted processor would)."""
        with self._lock:
            sandbox = self.sandboxes[name]
            if not sandbox.running:
                sandbox.start()

    def redis_kill(self) -> None:
        with self._lock:
            self.redis.kill()

    def redis_restart(self) -> None:
        with self._lock:
            if not self.redis.running:
                self._start_redis()

    def worker_kill(self) -> None:
        with self._lock:
            self.worker.kill()

    def worker_restart(self) -> None:
        with self._lock:
            if not self.worker.running:
                self.worker.start()

    def heal(self) -> None:
        """Undo every fault that may still hold: continue stopped processes, start what is down."""
        with self._lock:
            for name, sandbox in self.sandboxes.items():
                self.sandbox_signal(name, signal.SIGCONT)
                if not sandbox.running:
                    sandbox.start()
            if self.redis:
                self.redis.signal_group(signal.SIGCONT)
                if not self.redis.running:
                    self._start_redis()
            for managed in (self.web, self.worker, self.beat):
                if managed is None:
                    continue
                managed.signal_group(signal.SIGCONT)
                if not managed.running:
                    managed.start()

    def _supervise(self) -> None:
        """Restart a platform process that died on its own (not by a fault), noting it: that is a finding too."""
        while self._supervising.is_set():
            time.sleep(1.0)
            with self._lock:
                for managed in (self.web, self.worker, self.beat):
                    if managed is None or managed.expected_down or managed.running:
                        continue
                    code = managed.process.returncode if managed.process else None
                    managed.unplanned_exits.append({"at": time.strftime("%H:%M:%S"), "returncode": code})
                    self.log(f"chaos: {managed.name} exited by itself ({code}); restarting it")
                    managed.start()

    def unplanned_exits(self) -> dict:
        return {m.name: len(m.unplanned_exits) for m in (self.web, self.worker, self.beat) if m is not None}

    # --- stop ----------------------------------------------------------------------------

    def stop(self) -> None:
        self._supervising.clear()
        for managed in (self.beat, self.worker, self.web):
            if managed is not None:
                managed.stop()
        for name, sandbox in self.sandboxes.items():
            self.sandbox_signal(name, signal.SIGCONT)
            sandbox.stop()
        if self.redis is not None:
            self.redis.stop()

    def drop_database(self) -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
