"""``python manage.py casestudy --seconds N --seed S [--json]``: the case study's run (casestudy.runner)."""

import json
import os
import re
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

PHASES = ("naive", "refined", "sync", "async")


def database_name(value: str) -> str:
    if value and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise CommandError(f"{value!r}: a database name is lower-case letters, digits and underscores, 63 at most")
    return value


class Command(BaseCommand):
    help = (
        "Run the same seeded workload and faults against the naive design and the platform, then synchronous "
        "against asynchronous confirmation through a processor outage, on a stack of its own; print the table "
        "and (--json) the figures as one line of JSON, and write var/reports/casestudy-<seed>.json."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=float(os.environ.get("CASESTUDY_SECONDS") or 30))
        parser.add_argument("--seed", type=int, default=int(os.environ.get("CASESTUDY_SEED") or 1))
        parser.add_argument("--json", action="store_true", help="the last line of stdout: the figures as JSON")
        parser.add_argument(
            "--phases",
            default=",".join(PHASES),
            help="comma-separated, in order: naive, refined, sync, async (default: all four)",
        )
        parser.add_argument("--database", default=os.environ.get("CASESTUDY_DATABASE") or "")
        parser.add_argument("--run-dir", default="", help="default: var/casestudy/seed-<seed>")
        parser.add_argument("--reports-dir", default="", help="default: var/reports")
        parser.add_argument("--keep-database", action="store_true", help="keep the run's database afterwards")
        parser.add_argument("--print-schedule", action="store_true", help="print the fault schedule as JSON and exit")

    def handle(self, *args, **options):
        from casestudy import runner, schedule

        seconds, seed = options["seconds"], options["seed"]
        if seconds < 10:
            raise CommandError("--seconds: at least 10 (each phase's faults need room)")
        if options["print_schedule"]:
            self.stdout.write(json.dumps(schedule.fault_schedule(seed, seconds)))
            return
        phases = tuple(name.strip() for name in options["phases"].split(",") if name.strip())
        if not phases or any(name not in PHASES for name in phases):
            raise CommandError(f"--phases: some of {', '.join(PHASES)}")
        base = Path(settings.BASE_DIR)
        try:
            results = runner.run(
                seed=seed,
                seconds=seconds,
                database=database_name(options["database"]),
                run_dir=Path(options["run_dir"]) if options["run_dir"] else None,
                phases=phases,
                drop_database=not options["keep_database"],
            )
        except KeyboardInterrupt:
            raise CommandError("interrupted") from None
        reports = Path(options["reports_dir"]) if options["reports_dir"] else base / "var/reports"
        written = runner.write_reports(results, reports)
        self.stdout.write(runner.table(results))
        for kind, path in written.items():
            self.stdout.write(f"{kind}: {path}")
        if "html" not in written:
            self.stdout.write("html: not written (casestudy.report is not there yet)")
        if options["json"]:
            self.stdout.write(json.dumps(results, default=str, separators=(",", ":")))
        sys.stdout.flush()
