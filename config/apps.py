from axes.apps import AppConfig as AxesConfig
from django.apps import AppConfig
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class ConfigAppConfig(AppConfig):
    """The project package as an app only so that its system checks are registered the documented way."""

    name = "config"
    verbose_name = "Leadflow configuration"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (importing registers the checks)


class LockoutConfig(AxesConfig):
    """django-axes (login lockout) under a name people read: its app has none, so the admin's index and
    breadcrumbs would say "Axes" in every language. Its models name themselves in English f-strings
    (`f"Attempted Access: {self.attempt_time}"`), which no catalogue can translate and the admin shows as
    each entry's title: they say it in the active language instead."""

    verbose_name = _("Sign-in lockout")

    def ready(self) -> None:
        super().ready()
        from axes.models import AccessAttempt, AccessFailureLog, AccessLog

        AccessAttempt.__str__ = lambda entry: gettext("%(username)s from %(address)s") % _said(entry)
        AccessLog.__str__ = lambda entry: gettext("Sign-in of %(username)s at %(moment)s") % _said(entry)
        AccessFailureLog.__str__ = lambda entry: (
            gettext("Failed sign-in of %(username)s from %(address)s at %(moment)s") % _said(entry)
        )


def _said(entry) -> dict[str, str]:
    """An axes entry's user name, address and moment as its title says them (the moment in the language's
    one format, config/formats; "—" for what is not known)."""
    moment = entry.attempt_time
    return {
        "username": entry.username or "—",
        "address": entry.ip_address or "—",
        "moment": formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT") if moment else "—",
    }
