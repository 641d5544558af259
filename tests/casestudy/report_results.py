"""A fixed results object, shaped as ``python manage.py casestudy`` prints it last, for the report's tests."""

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
    },
    "refined": {
        "attempted": 1200,
        "double_charges": 0,
        "lost_payments": 0,
        "balance_drift": 0,
        "events_lost": 0,
        "events_duplicated": 0,
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
    },
    "fault_schedule": [
        {"at_s": 6.1, "kind": "client_timeout_retry", "param": 2000},
        {"at_s": 9.5, "kind": "processor_latency", "until_s": 17.0, "param": 6500},
        {"at_s": 19.2, "kind": "web_kill_in_flight"},
        {"at_s": 24.0, "kind": "webhook_duplicates", "until_s": 30.0},
        {"at_s": 33.3, "kind": "webhook_replay", "param": 12},
        {"at_s": 37.0, "kind": "redis_down", "duration_s": 8.0},
        {"at_s": 48.0, "kind": "processor_outage", "until_s": 55.0},
    ],
}


def results(**changes) -> dict:
    """A deep copy of RESULTS, with top-level keys replaced."""
    value = copy.deepcopy(RESULTS)
    value.update(changes)
    return value
