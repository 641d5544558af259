"""Every row lock of payments is taken through payments.locks, which states the order they are taken in."""

from pathlib import Path

import payments

PAYMENTS = Path(payments.__file__).parent


def test_no_select_for_update_outside_the_locks_module():
    offenders = [
        str(path.relative_to(PAYMENTS))
        for path in PAYMENTS.rglob("*.py")
        if path.name != "locks.py" and "select_for_update" in path.read_text()
    ]
    assert offenders == []
    assert "select_for_update" in (PAYMENTS / "locks.py").read_text()
