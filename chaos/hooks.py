"""The two HTTP servers of the simulator, both on 127.0.0.1 in its own process.

- ``MerchantReceiver``: the merchant's webhook endpoint. It verifies each delivery's
  Standard Webhooks signature (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)
  and counts deliveries per event id, so duplicates are counted and missing events found.
- ``ProcessorWebhookProxy``: one per acquirer, between its sandbox and the platform's
  ``/webhooks/processor/<name>/``. It forwards every webhook and keeps a copy, so the
  ``webhook_replay`` fault can post old ones again, re-signed with that acquirer's secret, in a
  shuffled order (duplicates that arrive out of order, as a processor's retries do).
"""

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

TOLERANCE_SECONDS = 300


def standard_webhooks_valid(secret: str, headers: dict, body: bytes) -> bool:
    """Verify a Standard Webhooks signature (https://www.standardwebhooks.com/) of ``body``."""
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (message_id and timestamp.isdigit() and signatures):
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    encoded = secret.removeprefix("whsec_")
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def sandbox_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The sandbox's ``Sandbox-Signature`` header: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _Server:
    def __init__(self, handler_factory):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_factory(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(owner, on_post):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, answer = on_post(self.path, headers, body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass

    return Handler


class MerchantReceiver(_Server):
    """The merchant's endpoint: always 200 for a valid signature, 400 otherwise."""

    def __init__(self):
        self.secret = ""
        self.deliveries: Counter = Counter()
        self.invalid = 0
        self.types: dict[str, str] = {}
        self._lock = threading.Lock()
        super().__init__(lambda owner: _handler(owner, self._on_post))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/merchant-hooks"

    def _on_post(self, path, headers, body):
        if not self.secret or not standard_webhooks_valid(self.secret, headers, body):
            with self._lock:
                self.invalid += 1
            return 400, b'{"ok": false}'
        event_id = headers["webhook-id"]
        try:
            event_type = json.loads(body).get("type", "")
        except ValueError:
            event_type = ""
        with self._lock:
            self.deliveries[event_id] += 1
            self.types[event_id] = event_type
        return 200, b'{"ok": true}'

    def snapshot(self) -> tuple[Counter, int]:
        with self._lock:
            return Counter(self.deliveries), self.invalid


class ProcessorWebhookProxy(_Server):
    """Forwards the webhooks of the acquirer ``name``'s sandbox to the platform and keeps them for the replay
    fault."""

    def __init__(self, name: str, secret: str):
        self.name = name
        self.secret = secret
        self.target = ""  # the platform's webhook URL, set once the web's port is known
        self.kept: list[tuple[str, bytes]] = []  # (event id, raw body) of each distinct webhook, in arrival order
        self._seen: set[str] = set()
        self.forwarded: Counter = Counter()  # the platform's answers, by status ("error" when it did not answer)
        self.replayed = 0
        self.replay_answers: Counter = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()
        super().__init__(lambda owner: _handler(owner, self._on_post))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/processor/{self.name}/"

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _forward(self, headers: dict, body: bytes) -> tuple[int, bytes]:
        if not self.target:
            return 503, b'{"error": "the platform is not up yet"}'
        try:
            answer = self._session().post(self.target, data=body, headers=headers, timeout=10)
        except requests.RequestException:
            self._local.session = None
            return 0, b""
        return answer.status_code, answer.content

    def _on_post(self, path, headers, body):
        try:
            event_id = str(json.loads(body)["id"])
        except (ValueError, KeyError, TypeError):
            event_id = ""
        with self._lock:
            if event_id and event_id not in self._seen:
                self._seen.add(event_id)
                self.kept.append((event_id, body))
        forwarded = {"Content-Type": "application/json"}
        if "sandbox-signature" in headers:
            forwarded["Sandbox-Signature"] = headers["sandbox-signature"]
        status, answer = self._forward(forwarded, body)
        with self._lock:
            self.forwarded[status or "error"] += 1
        return (status or 502), (answer or b'{"error": "bad gateway"}')

    def forget(self) -> None:
        """Drop the webhooks kept so far: the replay fault then posts only those that arrive from now on (the case
        study replays each phase's own)."""
        with self._lock:
            self.kept.clear()
            self._seen.clear()

    def replay(self, rng, count: int) -> int:
        """Post ``count`` kept webhooks again, re-signed now, chosen and shuffled by ``rng``: out of order."""
        with self._lock:
            kept = list(self.kept)
        if not kept:
            return 0
        chosen = [kept[rng.randrange(len(kept))] for _ in range(count)]
        rng.shuffle(chosen)
        sent = 0
        for _event_id, body in chosen:
            headers = {
                "Content-Type": "application/json",
                "Sandbox-Signature": sandbox_signature(self.secret, int(time.time()), body),
            }
            status, _ = self._forward(headers, body)
            with self._lock:
                self.replayed += 1
                self.replay_answers[status or "error"] += 1
            sent += 1
        return sent
