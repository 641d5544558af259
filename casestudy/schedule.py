"""The case study's fault schedule: drawn from the seed and the phase's length alone (``random.Random``).

The same schedule is played against each design, one after the other, each time from the start of that
design's phase: the faults of ``chaos.faults`` (``Fault`` objects, injected by ``chaos.faults.Injector``), these
kinds in an order shuffled by the seed, each in a slot of its own so that no two overlap (the replay last):

- ``processor_latency``: the sandbox answers 4 or 6.5 s late, after the case study's clients gave up (4 s)
  and, at 6.5 s, after the web's own read timeout (5 s);
- ``web_kill_in_flight``: the sandbox answers 3 s late and a web worker is killed meanwhile: the crash
  between the charge and the write;
- ``webhook_duplicates``: the sandbox sends each webhook twice, shuffled (duplicate, out of order);
- ``webhook_replay``: processor webhooks already delivered in the phase are posted again, out of order, two
  seconds after the last order arrived (while the last retries drain);
- ``redis_down``: the broker (the stack's own redis-server) is killed and started again, empty.

The synchronous/asynchronous comparison has a schedule of its own: one processor outage (the sandbox stalled
with SIGSTOP, as ``chaos``' ``processor_stall``), at a seeded time.
"""

import random
from dataclasses import asdict

from chaos.faults import KIND_BY_NAME, Fault

DESIGN_KINDS = ("processor_latency", "web_kill_in_flight", "webhook_duplicates", "webhook_replay", "redis_down")
# The acquirer every fault hits: the case study pays in USD, which the stack routes to ``sandbox``.
ACQUIRER = "sandbox"
# The faults start after this share of the phase and end before this share (the clients then finish quietly).
FIRST, LAST = 0.08, 0.85
# The replay comes this long after the last order arrived, while the retries drain: the processor has sent
# webhooks by then (a ``tok_timeout`` charge is reported 8 s after it was made), whatever the phase's length.
REPLAY_AFTER_END = 2.0


def design_schedule(seed: int, seconds: float) -> list[Fault]:
    """The faults of one design's phase of ``seconds``, from the seed alone (the same for both designs)."""
    rng = random.Random(f"casestudy:{seed}:design")
    # The others in a seeded order, each in a slot of its own; the replay after the last order arrived.
    kinds = [name for name in DESIGN_KINDS if name != "webhook_replay"]
    rng.shuffle(kinds)
    kinds.append("webhook_replay")
    slot = seconds * (LAST - FIRST) / (len(kinds) - 1)
    faults = []
    for index, name in enumerate(kinds):
        kind = KIND_BY_NAME[name]
        begin = seconds * FIRST + index * slot
        at = begin + rng.uniform(0.0, 0.15) * slot
        if name == "webhook_replay":
            at = seconds + REPLAY_AFTER_END
        length = min(kind.window[1], max(kind.window[0], slot * 0.8)) if kind.window else 0.0
        until = min(at + length, begin + slot * 0.95) if kind.window else None
        param = {
            "processor_latency": rng.choice([4000, 6500]),
            "webhook_replay": rng.randrange(5, 21),
        }.get(name)
        mid = None
        if name == "web_kill_in_flight":
            # The kill comes while requests wait on the sandbox's late answers (3 s), before the window ends.
            mid = round(at + min(1.5, (until - at) / 2), 2)
        faults.append(
            Fault(
                index=index,
                kind=name,
                at=round(at, 2),
                until=None if until is None else round(until, 2),
                pick=rng.random(),
                param=param,
                mid=mid,
                acquirer=ACQUIRER if kind.on_acquirer else None,
            )
        )
    return faults


def outage_window(seed: int, seconds: float) -> tuple[float, float]:
    """(start, end) of the processor outage of the synchronous/asynchronous phases, in seconds from their start."""
    rng = random.Random(f"casestudy:{seed}:outage")
    start = seconds * rng.uniform(0.2, 0.35)
    return round(start, 2), round(start + seconds * rng.uniform(0.25, 0.35), 2)


def fault_schedule(seed: int, seconds: float) -> dict:
    """The whole run's schedule as JSON: what the report prints and the tests compare between runs."""
    start, end = outage_window(seed, seconds)
    return {
        "designs": [
            {key: value for key, value in asdict(fault).items() if key not in ("result", "pick")}
            | {"pick": round(fault.pick, 6)}
            for fault in design_schedule(seed, seconds)
        ],
        "confirmation": [{"kind": "processor_stall", "acquirer": ACQUIRER, "at": start, "until": end}],
    }
