"""A local webhook receiver for the tests: an HTTP/1.1 server in a thread on 127.0.0.1 that answers as told."""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    at: float = field(default_factory=time.time)
    # When the answer went out (None: not yet, or the client had gone away).
    answered_at: float | None = None

    @property
    def event_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    headers: dict = field(default_factory=dict)


class Receiver:
    """``answer`` decides each response: an Answer, or a function of the Received request that returns one."""

    def __init__(self):
        # Every request, noted as soon as its body has arrived (before the answer and any delay).
        self.received: list[Received] = []
        self.answer = Answer()
        self._condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without this, Nagle's algorithm holds
            # the body until the client's delayed ACK (~40 ms a response).
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with receiver._condition:
                    receiver.received.append(request)
                    receiver._condition.notify_all()
                answer = receiver.answer(request) if callable(receiver.answer) else receiver.answer
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                    self.wfile.flush()
                    request.answered_at = time.time()
                except OSError:
                    pass  # the client went away (timed out, or was killed)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: predicate(self), timeout=timeout)

    def event_ids(self) -> list[str]:
        with self._condition:
            return [request.event_id for request in self.received]

    def deliveries_per_event(self) -> dict[str, int]:
        """How many times each event id arrived."""
        with self._condition:
            return dict(Counter(request.event_id for request in self.received))

    def close(self):
        self.server.shutdown()
        self.server.server_close()
