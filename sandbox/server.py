"""Run the sandbox processor: ``python -m sandbox --port 8089 [--host 127.0.0.1]``.

It runs under its own settings (``sandbox.settings``, whatever the shell exported). It migrates
its own database, sets the run's faults from the environment, and serves the
API with gunicorn (gthread: slow answers, such as tok_timeout's, occupy one
thread, not the process). Each worker runs a dispatcher thread for webhooks
and delayed work. SIGTERM stops it gracefully, SIGINT at once.
"""

import argparse
import os
import signal
import sys

DEFAULT_PORT = 8089


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, not {port}")
    return port


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="The sandbox card processor.")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 picks a free port (printed at start-up)")
    parser.add_argument("--host", default="127.0.0.1")
    return parser.parse_args(argv)


def prepare_database() -> None:
    """Migrate the sandbox's own database and start the run from a known state."""
    from django.core.management import call_command
    from django.db import connections

    from sandbox import services
    from sandbox.config import sandbox_config

    call_command("migrate", interactive=False, verbosity=0)
    services.faults_reset(config=sandbox_config())
    services.idempotency_keys_release_unanswered()
    # Workers are forked from this process: none may inherit an open connection.
    connections.close_all()


def _when_ready(server) -> None:
    host, port = server.LISTENERS[0].sock.getsockname()[:2]
    sys.stdout.write(f"sandbox processor listening on http://{host}:{port}\n")
    sys.stdout.flush()


def _post_worker_init(worker) -> None:
    from sandbox import runtime

    # Wake deliberate waits (latency, tok_timeout's delayed answer) as soon as the worker is asked to stop,
    # so that a graceful shutdown does not sit out every delay in progress.
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        runtime.shutdown.set()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
    runtime.start_dispatcher()


def _worker_exit(server, worker) -> None:
    from sandbox import runtime

    runtime.stop_dispatcher()


def serve(*, host: str, port: int) -> None:
    from django.core.wsgi import get_wsgi_application
    from gunicorn.app.base import BaseApplication

    application = get_wsgi_application()
    options = {
        "bind": f"{host}:{port}",
        "workers": _env_int("SANDBOX_WORKERS", 1),
        "worker_class": "gthread",
        "threads": _env_int("SANDBOX_THREADS", 32),
        "timeout": 120,
        "graceful_timeout": _env_int("SANDBOX_GRACEFUL_TIMEOUT", 5),
        # Clients keep connections open between calls; a short keep-alive would make them reconnect.
        "keepalive": _env_int("SANDBOX_KEEPALIVE", 75),
        "backlog": 2048,
        "accesslog": os.environ.get("SANDBOX_ACCESS_LOG") or None,
        "errorlog": "-",
        "loglevel": os.environ.get("SANDBOX_LOG_LEVEL", "info").lower(),
        "proc_name": "sandbox-processor",
        "control_socket_disable": True,
        "when_ready": _when_ready,
        "post_worker_init": _post_worker_init,
        "worker_exit": _worker_exit,
    }

    class SandboxServer(BaseApplication):
        def load_config(self) -> None:
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self):
            return application

    SandboxServer().run()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Never the platform's settings, even if the shell exported them: this is another service.
    os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
    import django

    django.setup()
    prepare_database()
    serve(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
