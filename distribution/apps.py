import logging

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

log = logging.getLogger("leadflow.distribution")


class DistributionConfig(AppConfig):
    name = "distribution"
    verbose_name = _("Distribution")

    def ready(self) -> None:
        from crm.services import capacity_added

        capacity_added.connect(drain_after_capacity_change, dispatch_uid="distribution.drain")


def drain_after_capacity_change(sender, *, sources: list[int], **kwargs) -> int:
    """A supervisor added capacity and it committed: route waiting contacts of those sources now, within
    a bound so the save stays fast; the periodic drain (assign_unassigned) does whatever is left."""
    from distribution.queue import drain_sources

    try:
        report = drain_sources(sources)
    except Exception:  # the supervisor's change is saved; the periodic drain will retry
        log.exception("drain after a capacity change failed")
        return 0
    log.info("drain after capacity change sources=%s assigned=%s", sources, report.assigned)
    return report.assigned
