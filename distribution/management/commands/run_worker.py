"""python manage.py run_worker [--once] [--every SECONDS]: every timed job of Leadflow (distribution.worker).

bin/run starts one next to the web server; production runs it as a service (deploy/leadflow-worker.service).
Several at once, on several hosts, are safe. `assign_unassigned` still routes the queue alone (cron setups).
"""

import threading
import time

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections
from django.utils.translation import gettext

from distribution import worker
from events import delivery


class Command(BaseCommand):
    help = (
        "Run Leadflow's timed jobs until stopped: operators back from away at their time, shifts that start "
        "or end, offers that expire, and the waiting queue. Safe to run on several hosts at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Do one pass and exit.")
        parser.add_argument(
            "--every", type=float, default=2.0, metavar="SECONDS", help="Seconds between passes (default 2)."
        )

    def handle(self, *args, once: bool, every: float, **options) -> None:
        if once:
            self.pass_once(once=True, every=every)
            sent = delivery.deliver_due()
            self.stdout.write(f"delivered={sent.delivered} retried={sent.retried} failed={sent.failed}")
            return
        # Outbound events go out from a thread of their own: a slow receiver never holds the timed jobs.
        sender = threading.Thread(target=self.send_events, name="leadflow-events", daemon=True)
        sender.start()
        while True:
            self.pass_once(once=False, every=every)
            self.stdout.flush()
            time.sleep(every)
            # Django drops broken connections around requests only; a long-running command must do it
            # itself, or after a database (or PgBouncer) restart every pass would fail on a dead one.
            close_old_connections()

    def pass_once(self, *, once: bool, every: float) -> None:
        """One pass of the timed jobs and its line; an outage is reported (and raised with --once)."""
        try:
            done = worker.run_once()
        except DatabaseError as exc:
            if once:
                raise
            # An outage (database restarting): say so and try again on the next pass.
            self.stderr.write(
                gettext("worker pass failed, retrying in %(seconds)ss: %(error)s")
                % {"seconds": every, "error": str(exc).strip()}
            )
            return
        if once or done.returned or done.shifts or done.expired or done.assigned:
            # key=value, like a log line: not translated, so it stays greppable.
            self.stdout.write(
                f"returned={done.returned} shifts={done.shifts} expired={done.expired} "
                f"assigned={done.assigned} still_waiting={done.still_waiting}"
            )

    def send_events(self) -> None:
        """The delivery loop: keep sends in flight, claim more as each finishes; idle, look twice a second."""
        sender = delivery.Sender()
        while True:
            try:
                started = sender.tick()
            except DatabaseError as exc:
                self.stderr.write(
                    gettext("event delivery failed, retrying: %(error)s") % {"error": str(exc).strip()}
                )
                started = 0
                close_old_connections()
            if not started:
                sender.wait_any(timeout=0.5)
