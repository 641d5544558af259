import pytest
from tests.reconciliation.helpers import *  # noqa

pytestmark = pytest.mark.django_db


def test_smoke(merchant, tmp_path):
    p = payment(merchant)
    r = refund(p, 2500)
    path = write_report(tmp_path, today(), [charge_line(p), refund_line(r)])
    result = reconcile(today(), path)
    assert result == {"matched": 2, "exceptions": {k: 0 for k in result["exceptions"]}}, result
