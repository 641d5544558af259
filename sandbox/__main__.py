"""``python -m sandbox --port 8089 [--host 127.0.0.1]``: run the sandbox processor (``sandbox.server``)."""

from sandbox.server import main

main()
