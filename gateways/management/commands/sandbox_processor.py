"""``python manage.py sandbox_processor --port 8089 [--host 127.0.0.1]``: start the sandbox processor.

The sandbox is a separate service with its own settings and database, so this
command (which runs under the platform's settings) touches no ORM: it replaces
itself with ``python -m sandbox.server`` under
``DJANGO_SETTINGS_MODULE=sandbox.settings``. The process keeps its id,
so whoever started the command can signal the server directly.
"""

import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

REPO_ROOT = Path(__file__).resolve().parents[3]


class Command(BaseCommand):
    help = "Run the sandbox card processor (its own process, settings and database)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8089, help="port to listen on (0: any free port)")
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")

    def handle(self, *args, port: int, host: str, **options):
        if not 0 <= port <= 65535:
            raise CommandError(f"--port must be 0 to 65535, not {port}")
        env = dict(os.environ)
        env["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
        # The module must be importable wherever the command was started from.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        argv = [sys.executable, "-m", "sandbox.server", "--port", str(port), "--host", host]
        self.stdout.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execvpe(sys.executable, argv, env)  # noqa: S606 - replacing this process is the point
