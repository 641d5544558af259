"""Every answer is true: after a lost database connection, a killed web worker and among racing rivals.

Issue 11, defects 1, 2, 3 and 10. The web runs as a real gunicorn process against the test
database and the sandbox processor as its own process; faults are real (a terminated
PostgreSQL backend, a SIGKILLed worker), never mocks.
"""

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from edge.models import IdempotencyKey
from payments.models import Payment
from tests.conftest import requires_postgres, test_database_url
from tests.payments.helpers import create_payment, error_of
from tests.processes import clean_env, free_port, start_gunicorn, stop, wait_for_http

pytestmark = [requires_postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BODY = {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"}}


class LiveApi:
    """The platform's web as gunicorn, one worker, talking to the test database and the sandbox."""

    def __init__(self, api_key: str, sandbox, tmp_path, **env):
        self.port = free_port()
        self.api_key = api_key
        self.process = start_gunicorn(
            self.port,
            clean_env(
                DJANGO_SETTINGS_MODULE="config.test_settings",
                DATABASE_URL=test_database_url(),
                PROCESSOR_BASE_URL=sandbox.base_url,
                PROCESSOR_READ_TIMEOUT="10",
                **env,
            ),
            tmp_path / "web.log",
            workers=1,
            threads=8,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        wait_for_http(f"{self.base}/healthz", process=self.process)

    def post(self, path: str, body: dict | None = None, *, key: str, timeout: float = 30) -> requests.Response:
        return requests.post(
            f"{self.base}/api/v1{path}",
            json=body or {},
            headers={"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": key},
            timeout=timeout,
        )

    def worker_pids(self) -> list[int]:
        children = f"/proc/{self.process.pid}/task/{self.process.pid}/children"
        with open(children) as handle:
            return [int(pid) for pid in handle.read().split()]

    def close(self) -> None:
        stop(self.process)


@pytest.fixture
def live_api(api_key, sandbox, tmp_path):
    apis = []

    def start(**env) -> LiveApi:
        api = LiveApi(api_key, sandbox, tmp_path, **env)
        apis.append(api)
        return api

    yield start
    for api in apis:
        api.close()


def terminate_other_backends() -> int:
    """Kill every other connection to the test database (the web's), as a failover or a proxy would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_a_lost_database_connection_after_the_charge_is_never_a_stored_500(live_api, api_client, sandbox, processor):
    """Defect 1: the connection drops while the processor charges. That client may get a 500, but
    the key is not spent on it: the retry learns the true outcome, and the replay agrees."""
    api = live_api()
    payment_id = create_payment(api_client).json()["id"]
    sandbox.set_faults(latency_ms=1500)
    answers = {}
    confirm = threading.Thread(
        target=lambda: answers.setdefault("first", api.post(f"/payments/{payment_id}/confirm", key="confirm-dropped"))
    )
    confirm.start()
    time.sleep(0.8)  # the intent is committed; the processor is charging
    assert terminate_other_backends() >= 1
    confirm.join(30)
    sandbox.set_faults(latency_ms=0)
    assert answers["first"].status_code in (200, 500)
    assert [charge.status for charge in processor.charges_for(reference=payment_id)] == ["captured"]

    retry = api.post(f"/payments/{payment_id}/confirm", key="confirm-dropped")
    assert retry.status_code == 200, retry.content
    assert (retry.json()["status"], retry.json()["amount_captured"]) == ("succeeded", 1999)
    replay = api.post(f"/payments/{payment_id}/confirm", key="confirm-dropped")
    assert (replay.status_code, replay.content) == (200, retry.content)
    assert len(processor.charges_for(reference=payment_id)) == 1


def test_a_retry_after_the_web_worker_died_answers_the_outcome_not_a_refusal(live_api, api_client, sandbox, processor):
    """Defect 2: the worker is SIGKILLed while the processor charges; once the key's lock expires
    the retry resumes and answers 200 succeeded, instead of 400 "cannot be confirmed"."""
    api = live_api(IDEMPOTENCY_LOCK_TIMEOUT_SECONDS="2")
    payment_id = create_payment(api_client).json()["id"]
    sandbox.set_faults(latency_ms=1500)
    answers = {}

    def confirm():
        try:
            answers["first"] = api.post(f"/payments/{payment_id}/confirm", key="confirm-killed")
        except requests.ConnectionError as lost:
            answers["first"] = lost

    client = threading.Thread(target=confirm)
    client.start()
    time.sleep(0.8)
    for pid in api.worker_pids():
        os.kill(pid, signal.SIGKILL)
    client.join(30)
    sandbox.set_faults(latency_ms=0)
    assert isinstance(answers["first"], requests.ConnectionError)
    time.sleep(2.5)  # the dead request's lock expires
    wait_for_http(f"{api.base}/healthz", process=api.process)  # the master started a new worker

    retry = api.post(f"/payments/{payment_id}/confirm", key="confirm-killed")
    assert retry.status_code == 200, retry.content
    assert retry.json()["status"] == "succeeded"
    assert len(processor.charges_for(reference=payment_id)) == 1
    assert api.post(f"/payments/{payment_id}/confirm", key="confirm-killed").content == retry.content


def _authorized_payment(api_client, amount: int = 10_000) -> str:
    response = create_payment(api_client, amount=amount, capture_method="manual", confirm=True)
    assert response.json()["status"] == "requires_capture", response.content
    return response.json()["id"]


def _race(api: LiveApi, requests_to_send: list[tuple[str, dict]]) -> list[requests.Response]:
    barrier = threading.Barrier(len(requests_to_send))

    def send(job):
        path, body = job
        barrier.wait()
        return api.post(path, body, key=f"race-{uuid.uuid4()}")

    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        return list(pool.map(send, requests_to_send))


def test_concurrent_captures_of_different_amounts_each_answer_their_own_outcome(live_api, api_client, sandbox):
    """Defect 3: of captures of 2000, 3000 and 4000 racing on one authorisation, one is applied and
    answers 200 with its own amount; the others are refused (409 or 400), never a 200."""
    api = live_api()
    sandbox.set_faults(latency_ms=300)
    for _round in range(3):
        payment_id = _authorized_payment(api_client)
        answers = _race(api, [(f"/payments/{payment_id}/capture", {"amount": amount}) for amount in (2000, 3000, 4000)])
        succeeded = [(answer, amount) for answer, amount in zip(answers, (2000, 3000, 4000)) if answer.ok]
        assert len(succeeded) == 1, [a.content for a in answers]
        answer, amount = succeeded[0]
        assert answer.json()["amount_captured"] == amount
        assert Payment.objects.get(pk=payment_id).amount_captured == amount
        refused = [answer for answer in answers if not answer.ok]
        assert {answer.status_code for answer in refused} <= {400, 409}
        for refusal in refused:
            assert error_of(refusal)["code"] in ("payment_operation_in_progress", "payment_unexpected_state")


def test_capture_racing_cancel_and_identical_captures_never_borrow_an_outcome(live_api, api_client, sandbox):
    api = live_api()
    sandbox.set_faults(latency_ms=300)
    payment_id = _authorized_payment(api_client)
    capture, cancel = _race(api, [(f"/payments/{payment_id}/capture", {}), (f"/payments/{payment_id}/cancel", {})])
    final = Payment.objects.get(pk=payment_id).status
    assert [capture.ok, cancel.ok].count(True) == 1, (capture.content, cancel.content)
    if capture.ok:
        assert capture.json()["status"] == final == "succeeded"
    else:
        assert cancel.json()["status"] == final == "canceled"

    payment_id = _authorized_payment(api_client)
    answers = _race(api, [(f"/payments/{payment_id}/capture", {}) for _ in range(5)])
    assert sorted(answer.status_code for answer in answers)[0] == 200
    assert [answer.ok for answer in answers].count(True) == 1
    assert all(answer.status_code in (200, 400, 409) for answer in answers), [a.status_code for a in answers]


def test_a_key_reused_after_pruning_never_returns_the_earlier_payment(api_client, sandbox):
    """Defect 10: the payment a pruned key made belongs to that earlier request, not to a new one."""
    first = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert first.status_code == 201
    IdempotencyKey.objects.filter(key="order-7").delete()  # what pruning does after 24 hours
    again = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert again.status_code == 422
    assert error_of(again)["code"] == "idempotency_key_reused"
    assert first.json()["id"] not in again.content.decode()
    assert Payment.objects.count() == 1


def test_a_processor_that_does_not_answer_leaves_the_key_resumable(api_client, sandbox, processor, settings):
    """A confirmation whose processor answer was lost answers ``processing`` to that client only;
    the retry answers the outcome the processor recorded, and that answer is the one stored."""
    payment_id = create_payment(api_client, token="tok_timeout").json()["id"]
    first = api_client.post(f"/api/v1/payments/{payment_id}/confirm", {}, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    assert (first.status_code, first.json()["status"]) == (200, "processing")
    record = IdempotencyKey.objects.get(key="slow")
    assert (record.status, record.recovery_point, record.locked_at) == ("in_progress", "intent_recorded", None)
    # The sandbox charged (its answer was withheld); the retry asks it by the authorisation's key.
    retry = api_client.post(f"/api/v1/payments/{payment_id}/confirm", {}, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    assert (retry.status_code, retry.json()["status"]) == (200, "succeeded")
    assert retry.headers.get("Idempotent-Replayed") is None
    replay = api_client.post(f"/api/v1/payments/{payment_id}/confirm", {}, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    assert replay.content == retry.content and replay.headers["Idempotent-Replayed"] == "true"
    assert len(processor.charges_for(reference=payment_id)) == 1


def test_a_refund_whose_processor_failed_is_answered_again_not_replayed(api_client, sandbox, processor):
    """A refund the processor did not answer is ``pending`` for that client only; the retry with the
    key asks the processor again and stores what it says. A pruned key never finds the old refund."""
    payment_id = create_payment(api_client, confirm=True).json()["id"]
    sandbox.set_faults(error_rate=1.0, seed=1)
    first = api_client.post("/api/v1/refunds", {"payment": payment_id}, format="json", HTTP_IDEMPOTENCY_KEY="rf")
    sandbox.set_faults(error_rate=0)
    assert (first.status_code, first.json()["status"]) == (201, "pending")
    assert IdempotencyKey.objects.get(key="rf").recovery_point == "intent_recorded"
    retry = api_client.post("/api/v1/refunds", {"payment": payment_id}, format="json", HTTP_IDEMPOTENCY_KEY="rf")
    assert (retry.status_code, retry.json()["id"], retry.json()["status"]) == (201, first.json()["id"], "succeeded")
    replay = api_client.post("/api/v1/refunds", {"payment": payment_id}, format="json", HTTP_IDEMPOTENCY_KEY="rf")
    assert replay.content == retry.content and replay.headers["Idempotent-Replayed"] == "true"
    assert Payment.objects.get(pk=payment_id).amount_refunded == 1999

    IdempotencyKey.objects.filter(key="rf").delete()
    reused = api_client.post("/api/v1/refunds", {"payment": payment_id}, format="json", HTTP_IDEMPOTENCY_KEY="rf")
    assert (reused.status_code, error_of(reused)["code"]) == (422, "idempotency_key_reused")
