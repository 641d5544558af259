"""The fault schedule (drawn from the seed alone) and the thread that injects it.

Each kind of fault acts on one resource (the database, the processors, the web server,
the Celery worker, Redis, the webhook path); faults on one resource never overlap, so
each window's end undoes exactly what its start did. Instant faults (a kill, terminated
connections, a burst of replayed webhooks) have no window. A fault on a processor (or on
its webhooks) hits one of the two acquirers, drawn with the schedule.
"""

import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass

import psycopg
import requests

from chaos.stack import ACQUIRER_NAMES, POSTGRES_ADMIN_URL, SANDBOX_API_KEY


@dataclass(frozen=True)
class Kind:
    name: str
    resource: str
    weight: int  # copies in each deck
    window: tuple[float, float] | None  # seconds (low, high); None: instant
    what: str
    mid: float | None = None  # a second action this long after the start (compound faults)
    on_acquirer: bool = False  # hits one acquirer, drawn with the schedule


KINDS = [
    Kind(
        "db_terminate",
        "db",
        2,
        None,
        "pg_terminate_backend() of every connection to the run's database (web, worker, beat)",
    ),
    Kind(
        "processor_latency",
        "processor",
        1,
        (3, 10),
        "the sandbox adds 1.5, 4 or 6.5 s to every charge/refund POST (6.5 s outlasts the platform's 5 s timeout)",
        on_acquirer=True,
    ),
    Kind(
        "processor_errors",
        "processor",
        1,
        (3, 10),
        "the sandbox answers 500 to 30, 60 or 100 % of charge/refund POSTs, without acting (seeded error_rate)",
        on_acquirer=True,
    ),
    Kind(
        "processor_stall",
        "processor",
        1,
        (2, 8),
        "SIGSTOP of the sandbox's process group, SIGCONT at the end: connections open, nothing answers",
        on_acquirer=True,
    ),
    Kind(
        "acquirer_down",
        "processor",
        2,
        (3, 10),
        "SIGKILL of one acquirer's sandbox: its port refuses every connection, so new authorisations fail over "
        "to the other acquirer (requests in flight are cut: their outcome is unknown, never failed over); "
        "started again at the end, same port and database",
        on_acquirer=True,
    ),
    Kind(
        "webhook_duplicates",
        "processor",
        1,
        (5, 15),
        "the sandbox sends every webhook twice and shuffles their order (duplicate_webhooks, shuffle_webhooks)",
        on_acquirer=True,
    ),
    Kind(
        "webhook_replay",
        "webhook_path",
        2,
        None,
        "5 to 20 processor webhooks already delivered are posted again, re-signed, in a shuffled order",
        on_acquirer=True,
    ),
    Kind(
        "web_kill",
        "web",
        2,
        None,
        "SIGKILL of one web worker (requests in flight are cut; granian respawns it)",
    ),
    Kind(
        "web_kill_in_flight",
        "processor",
        1,
        (3, 5),
        "the sandbox answers 3 s late; 1.5 s later one web worker is killed while its requests wait on "
        "the processor (charged, never answered)",
        mid=1.5,
        on_acquirer=True,
    ),
    Kind(
        "db_terminate_in_flight",
        "processor",
        1,
        (3, 5),
        "the sandbox answers 2 s late; 1 s later every connection to the database is terminated while requests "
        "wait on the processor (charged, then the outcome cannot be written)",
        mid=1.0,
        on_acquirer=True,
    ),
    Kind(
        "worker_kill",
        "worker",
        1,
        (1, 6),
        "SIGKILL of the Celery worker's whole process group; started again at the end of the window",
    ),
    Kind(
        "worker_child_kill",
        "worker",
        1,
        None,
        "SIGKILL of one Celery pool process (the task in hand is lost; the pool replaces the process)",
    ),
    Kind(
        "redis_down",
        "redis",
        2,
        (2, 8),
        "SIGKILL of the stack's own redis-server (its data is lost); started again, empty, at the end",
    ),
    Kind(
        "redis_stall",
        "redis",
        1,
        (1, 4),
        "SIGSTOP of the stack's own redis-server, SIGCONT at the end: every Redis call hangs meanwhile",
    ),
]
KIND_BY_NAME = {kind.name: kind for kind in KINDS}


@dataclass
class Fault:
    index: int
    kind: str
    at: float  # seconds after the start of the fault phase
    until: float | None  # end of the window, None for an instant fault
    pick: float  # which process/option, drawn with the schedule
    param: float | int | None = None
    mid: float | None = None  # the time of a compound fault's second action
    acquirer: str | None = None  # the acquirer a processor fault hits
    result: str = ""

    def describe(self) -> str:
        window = f"{self.at:6.1f}s–{self.until:6.1f}s" if self.until is not None else f"{self.at:6.1f}s         "
        param = f" {self.param}" if self.param is not None else ""
        acquirer = f" [{self.acquirer}]" if self.acquirer else ""
        return f"{window} {self.kind}{param}{acquirer}: {self.result}"


def schedule(seed: int, seconds: float, *, warmup: float = 4.0, quiet_tail: float = 3.0) -> list[Fault]:
    """The faults of a run, from ``random.Random(seed)`` and the duration alone.

    Kinds are dealt from a shuffled deck holding each kind ``weight`` times, so every kind comes up
    before any comes up a third time (a two-minute run injects each kind at least once). A kind
    whose resource is still busy waits in the deck for the next slot.
    """
    rng = random.Random(f"{seed}:faults")
    faults: list[Fault] = []
    busy_until: dict[str, float] = {}
    deck: list[Kind] = []
    at = warmup
    end = seconds - quiet_tail
    while True:
        at += rng.uniform(1.5, 5.0)
        if at >= end:
            break
        if len(deck) < len(KINDS):
            cards = [kind for kind in KINDS for _ in range(kind.weight)]
            rng.shuffle(cards)
            deck.extend(cards)
        free = [index for index, kind in enumerate(deck) if busy_until.get(kind.resource, 0.0) <= at]
        if not free:
            continue
        kind = deck.pop(free[0])
        length = rng.uniform(*kind.window) if kind.window else 0.0
        pick = rng.random()
        param = {
            "processor_latency": rng.choice([1500, 4000, 6500]),
            "processor_errors": rng.choice([0.3, 0.6, 1.0]),
            "webhook_replay": rng.randrange(5, 21),
        }.get(kind.name)
        acquirer = rng.choice(ACQUIRER_NAMES) if kind.on_acquirer else None
        until = min(at + length, end) if kind.window else None
        busy_until[kind.resource] = (until or at) + 0.5
        mid = round(at + kind.mid, 2) if kind.mid is not None else None
        faults.append(
            Fault(
                index=len(faults),
                kind=kind.name,
                at=round(at, 2),
                until=None if until is None else round(until, 2),
                pick=pick,
                param=param,
                mid=mid,
                acquirer=acquirer,
            )
        )
    return faults


class Injector(threading.Thread):
    """Runs the schedule against the stack, from ``started`` (a time.monotonic() value) on."""

    def __init__(self, *, stack, proxies: dict, faults: list[Fault], seed: int, log=print):
        super().__init__(name="chaos-faults", daemon=True)
        self.stack = stack
        self.proxies = proxies  # acquirer name -> its ProcessorWebhookProxy
        self.faults = faults
        self.seed = seed
        self.log = log
        self.injected: Counter = Counter()
        self.injected_on: Counter = Counter()  # (kind, acquirer) of the faults on an acquirer
        self.skipped: Counter = Counter()
        self.errors: list[str] = []
        self.started = 0.0
        self._halt = threading.Event()

    def halt(self) -> None:
        self._halt.set()

    def run(self) -> None:
        actions = []
        for fault in self.faults:
            actions.append((fault.at, 0, fault, "start"))
            if fault.mid is not None:
                actions.append((fault.mid, 1, fault, "mid"))
            if fault.until is not None:
                actions.append((fault.until, 2, fault, "end"))
        actions.sort(key=lambda action: (action[0], action[1], action[2].index))
        for at, _, fault, phase in actions:
            delay = self.started + at - time.monotonic()
            if delay > 0 and self._halt.wait(delay):
                break
            try:
                getattr(self, f"_{fault.kind}")(fault, phase)
            except Exception as error:  # noqa: BLE001 - a failed injection is reported, never fatal
                self.errors.append(f"{fault.kind} {phase} at {at}s: {type(error).__name__}: {error}")
                fault.result += f" [{phase} failed: {type(error).__name__}]"
            if phase == "start":
                if fault.result.startswith("skipped"):
                    self.skipped[fault.kind] += 1
                else:
                    self.injected[fault.kind] += 1
                    if fault.acquirer:
                        self.injected_on[(fault.kind, fault.acquirer)] += 1
            if phase in ("start", "mid"):
                self.log(
                    f"chaos: {time.monotonic() - self.started:6.1f}s {fault.kind} {fault.param or ''} "
                    f"{fault.acquirer or ''} {fault.result}".rstrip()
                )

    # --- the sandbox's fault settings ------------------------------------------------------

    def _sandbox_faults(self, acquirer: str, **faults) -> None:
        response = requests.post(
            f"{self.stack.sandboxes[acquirer].base_url}/v1/control/faults",
            json=faults,
            timeout=5,
            headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
        )
        response.raise_for_status()

    def reset_sandbox_faults(self) -> None:
        for acquirer in ACQUIRER_NAMES:
            self._sandbox_faults(acquirer, latency_ms=0, error_rate=0, duplicate_webhooks=False, shuffle_webhooks=False)

    # --- one method per kind: (fault, "start" | "end") ----------------------------------------

    def _db_terminate(self, fault: Fault, phase: str) -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
            row = connection.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.stack.database,),
            ).fetchone()
        fault.result = f"{row[0]} connections terminated"

    def _processor_latency(self, fault: Fault, phase: str) -> None:
        self._sandbox_faults(fault.acquirer, latency_ms=int(fault.param) if phase == "start" else 0)
        fault.result = f"latency {fault.param} ms"

    def _processor_errors(self, fault: Fault, phase: str) -> None:
        if phase == "start":
            self._sandbox_faults(fault.acquirer, error_rate=float(fault.param), seed=self.seed * 1000 + fault.index)
        else:
            self._sandbox_faults(fault.acquirer, error_rate=0)
        fault.result = f"error rate {fault.param}"

    def _processor_stall(self, fault: Fault, phase: str) -> None:
        self.stack.sandbox_signal(fault.acquirer, signal.SIGSTOP if phase == "start" else signal.SIGCONT)
        fault.result = "sandbox stopped" if phase == "start" else "sandbox stopped, then continued"

    def _acquirer_down(self, fault: Fault, phase: str) -> None:
        if phase == "start":
            self.stack.sandbox_kill(fault.acquirer)
            fault.result = "sandbox killed"
        else:
            self.stack.sandbox_restart(fault.acquirer)
            fault.result = "sandbox killed, then started again"

    def _webhook_duplicates(self, fault: Fault, phase: str) -> None:
        on = phase == "start"
        self._sandbox_faults(fault.acquirer, duplicate_webhooks=on, shuffle_webhooks=on)
        fault.result = "duplicated and shuffled"

    def _webhook_replay(self, fault: Fault, phase: str) -> None:
        sent = self.proxies[fault.acquirer].replay(random.Random(f"{self.seed}:replay:{fault.index}"), int(fault.param))
        fault.result = f"{sent} webhooks posted again" if sent else "skipped: no webhook seen yet"

    def _web_kill_in_flight(self, fault: Fault, phase: str) -> None:
        if phase == "start":
            self._sandbox_faults(fault.acquirer, latency_ms=3000)
            fault.result = "latency 3000 ms"
        elif phase == "mid":
            self._web_kill(fault, phase)
            fault.result = "latency 3000 ms, " + fault.result
        else:
            self._sandbox_faults(fault.acquirer, latency_ms=0)

    def _db_terminate_in_flight(self, fault: Fault, phase: str) -> None:
        if phase == "start":
            self._sandbox_faults(fault.acquirer, latency_ms=2000)
            fault.result = "latency 2000 ms"
        elif phase == "mid":
            self._db_terminate(fault, phase)
            fault.result = "latency 2000 ms, " + fault.result
        else:
            self._sandbox_faults(fault.acquirer, latency_ms=0)

    def _web_kill(self, fault: Fault, phase: str) -> None:
        pids = self.stack.web_worker_pids()
        if not pids:
            fault.result = "skipped: no web worker"
            return
        pid = pids[int(fault.pick * len(pids))]
        os.kill(pid, signal.SIGKILL)  # only that worker: granian (--respawn-failed-workers) starts another
        fault.result = f"web worker {pid} killed"

    def _worker_kill(self, fault: Fault, phase: str) -> None:
        if phase == "start":
            self.stack.worker_kill()
            fault.result = "celery worker killed"
        else:
            self.stack.worker_restart()
            fault.result = "celery worker killed, then started again"

    def _worker_child_kill(self, fault: Fault, phase: str) -> None:
        pids = self.stack.worker_pool_pids()
        if not pids:
            fault.result = "skipped: no pool process"
            return
        pid = pids[int(fault.pick * len(pids))]
        os.kill(pid, signal.SIGKILL)
        fault.result = f"pool process {pid} killed"

    def _redis_down(self, fault: Fault, phase: str) -> None:
        if phase == "start":
            self.stack.redis_kill()
            fault.result = "redis killed"
        else:
            self.stack.redis_restart()
            fault.result = "redis killed, then started again (empty)"

    def _redis_stall(self, fault: Fault, phase: str) -> None:
        self.stack.redis.signal_group(signal.SIGSTOP if phase == "start" else signal.SIGCONT)
        fault.result = "redis stopped" if phase == "start" else "redis stopped, then continued"
