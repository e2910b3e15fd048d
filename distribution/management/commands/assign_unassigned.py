"""Route waiting contacts: one pass (for cron or a systemd timer), or --loop for setups without either."""

import time

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections
from django.utils.translation import gettext

from distribution.queue import drain


class Command(BaseCommand):
    help = (
        "Give unassigned contacts an operator, oldest first, by the webhook's rules. Safe to run from several "
        "hosts at once and from cron every minute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop",
            type=float,
            metavar="SECONDS",
            help="Keep running, one pass every SECONDS (no cron needed).",
        )

    def handle(self, *args, loop: float | None, **options) -> None:
        while True:
            try:
                report = drain()
            except DatabaseError as exc:
                if loop is None:
                    raise
                # An outage (database restarting): say so and try again on the next pass.
                failed = gettext("drain failed, retrying in %(seconds)ss: %(error)s") % {
                    "seconds": loop,
                    "error": exc,
                }
                self.stderr.write(failed.strip())
            else:
                # key=value, like a log line (README, cron logs): not translated, so it stays greppable.
                self.stdout.write(
                    f"assigned={report.assigned} still_waiting={report.still_waiting} too_old={report.too_old}"
                )
            if loop is None:
                return
            self.stdout.flush()
            time.sleep(loop)
            # Django drops broken connections around requests only; a long-running command must do it
            # itself, or after a database (or PgBouncer) restart every pass would fail on a dead one.
            close_old_connections()
