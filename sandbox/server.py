"""Run the sandbox processor: ``python -m sandbox --port 8089 [--host 127.0.0.1]``.

It runs under its own settings (``sandbox.settings``, whatever the shell exported). It migrates
its own database, sets the run's faults from the environment, and serves the
API with granian's WSGI server (Python threads in each worker process: slow
answers, such as tok_timeout's, occupy one thread, not the process; it costs
less CPU per request than gunicorn's gthread worker, docs/performance.md,
issue 14). Each worker runs a dispatcher thread for webhooks and delayed work.
SIGTERM or SIGINT stops it gracefully, cutting deliberate waits short.
"""

import argparse
import os
import socket
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


def bound_port(host: str, port: int) -> int:
    """The port to serve on: ``port``, or a free one for 0. Raises OSError when something already listens there.

    Granian binds each worker's listener with SO_REUSEPORT, which would let a second server share a port in use
    and cannot choose one port for all workers; so the port is bound here first, as a plain listener would be.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As gunicorn does: a port whose old connections linger in TIME_WAIT (a restart) is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        return probe.getsockname()[1]


def _load_application(target: str):
    """Run in each worker process before it serves: the WSGI application, and the worker's dispatcher thread."""
    from django.core.wsgi import get_wsgi_application

    from sandbox import runtime

    application = get_wsgi_application()
    runtime.start_dispatcher()
    return application


def _serve_worker(*args, **kwargs) -> None:
    """A granian WSGI worker process; once it has stopped serving, its dispatcher finishes the delivery in hand."""
    from granian.server import Server

    from sandbox import runtime

    try:
        Server._spawn_wsgi_worker(*args, **kwargs)
    finally:
        runtime.stop_dispatcher()


def serve(*, host: str, port: int) -> None:
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    from sandbox import runtime

    port = bound_port(host, port)
    threads = _env_int("SANDBOX_THREADS", 32)

    class SandboxServer(Server):
        def signal_handler_interrupt(self, *args, **kwargs) -> None:
            # Wake deliberate waits (latency, tok_timeout's delayed answer) in every worker before the workers are
            # asked to stop, so that a graceful shutdown does not sit out every delay in progress.
            runtime.shutdown.set()
            super().signal_handler_interrupt(*args, **kwargs)

    server = SandboxServer(
        "sandbox.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=_env_int("SANDBOX_WORKERS", 1),
        # Python threads per worker: a slow answer (tok_timeout's, injected latency) holds one, not the process.
        blocking_threads=threads,
        # Granian's backpressure (left at its default, the backlog) counts open connections, not requests: set to
        # the thread count, the platform's idle keep-alive connections beyond it would never be served.
        backlog=2048,
        # Clients keep connections open between calls; a short keep-alive would make them reconnect.
        http1_settings=HTTP1Settings(header_read_timeout=_env_int("SANDBOX_KEEPALIVE", 75) * 1000),
        websockets=False,
        log_level=LogLevels(os.environ.get("SANDBOX_LOG_LEVEL", "info").lower()),
        log_access=bool(os.environ.get("SANDBOX_ACCESS_LOG")),
        log_access_format='%(addr)s "%(method)s %(path)s" %(status)d %(dt_ms).0fms',
        # A graceful stop waits this long for the requests in hand, then kills the worker.
        workers_kill_timeout=_env_int("SANDBOX_GRACEFUL_TIMEOUT", 5),
        respawn_failed_workers=True,
    )

    @server.on_startup
    def announce() -> None:
        sys.stdout.write(f"sandbox processor listening on http://{host}:{port}\n")
        sys.stdout.flush()

    server.serve(spawn_target=_serve_worker, target_loader=_load_application)


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
