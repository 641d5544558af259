"""A fixed results object, shaped as ``python manage.py casestudy`` prints it last, for the report's tests.

The schedule is the run's: a dict of fault lists by phase (``designs`` for naive and refined, ``confirmation``
for sync and async), each fault as ``chaos.faults.Fault`` has it (``at``, ``until``…). ``LIST_SCHEDULE`` is the
other shape the report takes: one list for every phase, ``at_s``/``until_s``/``duration_s``.
"""

import copy

RESULTS = {
    "seed": 7,
    "seconds": 60,
    "naive": {
        "attempted": 1200,
        "double_charges": 37,
        "lost_payments": 5,
        "balance_drift": 48100,
        "events_lost": 9,
        "events_duplicated": 3,
        "p50_ms": 41.2,
        "p99_ms": 5200.0,
        "per_second": 19.8,
        "customers_charged": 1190,
        "extra_charges": 41,
        "events_phantom": 4,
        "faults_injected": {"processor_latency": 1, "redis_down": 1},
        "client_timeout_seconds": 4.0,
    },
    "refined": {
        "attempted": 1200,
        "double_charges": 0,
        "lost_payments": 0,
        "balance_drift": 0,
        "events_lost": 0,
        "events_duplicated": 0,
        "events_phantom": 0,
        "p50_ms": 55.0,
        "p99_ms": 5400.0,
        "per_second": 18.2,
    },
    "sync": {
        "attempted": 600,
        "double_charges": 0,
        "lost_payments": 0,
        "balance_drift": 0,
        "events_lost": 0,
        "events_duplicated": 0,
        "p50_ms": 60.0,
        "p99_ms": 5100.0,
        "per_second": 9.5,
        "final_status_p50_ms": 60.0,
        "final_status_p99_ms": 31000.0,
        "known_at_once": 540,
        "outage": {
            "window_seconds": [15.3, 33.0],
            "orders_begun_during": 80,
            "answers_during": {"gave_up": 62, "200 processing": 18},
            "known_at_once_during": 0,
            "last_final_status_after_resume_seconds": 21.4,
        },
    },
    "async": {
        "attempted": 600,
        "double_charges": 0,
        "lost_payments": 0,
        "balance_drift": 0,
        "events_lost": 0,
        "events_duplicated": 0,
        "p50_ms": 12.0,
        "p99_ms": 48.0,
        "per_second": 30.1,
        "final_status_p50_ms": 140.0,
        "final_status_p99_ms": 36000.0,
        "known_at_once": 0,
        "outage": {
            "window_seconds": [15.3, 33.0],
            "orders_begun_during": 170,
            "answers_during": {"202 processing": 170},
            "known_at_once_during": 0,
            "last_final_status_after_resume_seconds": 24.9,
        },
    },
    "fault_schedule": {
        "designs": [
            {"index": 0, "kind": "webhook_replay", "at": 4.9, "until": None, "pick": 0.1, "param": 12, "mid": None},
            {"index": 1, "kind": "processor_latency", "at": 14.2, "until": 22.0, "pick": 0.5, "param": 6500},
            {"index": 2, "kind": "web_kill_in_flight", "at": 24.9, "until": 30.1, "pick": 0.2, "mid": 26.4},
            {"index": 3, "kind": "redis_down", "at": 34.8, "until": 41.0, "pick": 0.7, "acquirer": None},
            {"index": 4, "kind": "webhook_duplicates", "at": 45.0, "until": 50.2, "pick": 0.9, "acquirer": "sandbox"},
        ],
        "confirmation": [{"kind": "processor_stall", "acquirer": "sandbox", "at": 15.3, "until": 33.0}],
    },
}


LIST_SCHEDULE = [
    {"at_s": 6.1, "kind": "client_timeout_retry", "param": 2000},
    {"at_s": 9.5, "kind": "processor_latency", "until_s": 17.0, "param": 6500},
    {"at_s": 19.2, "kind": "web_kill_in_flight"},
    {"at_s": 37.0, "kind": "redis_down", "duration_s": 8.0},
]


def results(**changes) -> dict:
    """A deep copy of RESULTS, with top-level keys replaced."""
    value = copy.deepcopy(RESULTS)
    value.update(changes)
    return value
