"""Process-wide state of a running sandbox: the shutdown signal and the dispatcher thread."""

import multiprocessing
import threading

# Set when the server is asked to stop: deliberate waits (latency, the delayed
# answer of tok_timeout) end early so that a SIGTERM is honoured promptly. A
# process-shared event, created before the server forks its workers: the main
# process sets it for all of them (``server.serve``).
shutdown = multiprocessing.get_context("fork").Event()

_dispatcher_lock = threading.Lock()
_dispatcher: threading.Thread | None = None


def pause(seconds: float) -> None:
    """Wait ``seconds`` unless the process is stopping. Never call it inside a transaction."""
    if seconds > 0:
        shutdown.wait(seconds)


def start_dispatcher() -> None:
    """Start this process's dispatcher thread (once)."""
    global _dispatcher
    from sandbox.dispatcher import Dispatcher

    with _dispatcher_lock:
        if _dispatcher is None or not _dispatcher.is_alive():
            _dispatcher = Dispatcher(stop=shutdown)
            _dispatcher.start()


def stop_dispatcher(timeout: float = 10.0) -> None:
    """Ask the dispatcher to finish the delivery in hand and wait for it."""
    shutdown.set()
    with _dispatcher_lock:
        thread = _dispatcher
    if thread is not None:
        thread.join(timeout)
