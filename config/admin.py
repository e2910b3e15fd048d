"""django-axes' admin (login lockout) in our words, and the texts of Django's and axes' own that our catalogue
words differently.

Our catalogue (locale/, LOCALE_PATHS) is read before the apps' own, so a text Django or axes marks for
translation is re-translated there: axes' Russian capitalises its model names mid-sentence ("Выберите Запись о
попытке доступа") and lacks some texts, and Django's Russian puts a count before a noun whose form it cannot
choose ("Успешно удалены 5 операторы"). makemessages keeps only what our code marks, so they are marked here.

What axes does not mark (its list's "Status" column, "3 Attempt Remaining", an action's f-string message) is
said by the admin classes below, registered in place of axes' own with their titles and counts in our words
(crm.admin.WordedAdmin).
"""

import axes.admin  # registers axes' own admin classes first, whatever the order of INSTALLED_APPS
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, ngettext, ngettext_lazy

from crm.admin import AdminWords, WordedAdmin

RETRANSLATED = (
    # Django: a count put before a noun (model_ngettext: the verbose name or the plural name, nothing else).
    ngettext_lazy(
        "%(count)s %(name)s was changed successfully.", "%(count)s %(name)s were changed successfully."
    ),
    gettext_noop("Successfully deleted %(count)d %(items)s."),
    # django-axes: model and field names, a filter.
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("Access Attempt"),
    gettext_noop("Expires At"),
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("IP Address"),
    gettext_noop("Failed Logins"),
    gettext_noop("Access lock out"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("Locked Out"),
    gettext_noop("Not set"),
)


class AccessAttemptAdmin(WordedAdmin, axes.admin.AccessAttemptAdmin):
    words = AdminWords(
        count=ngettext_lazy("%(count)d access attempt", "%(count)d access attempts", "count"),
        select=_("Select access attempt"),
        select_to_change=_("Select access attempt to change"),
        select_to_view=_("Select access attempt to view"),
        add=_("Add access attempt"),
        change=_("Change access attempt"),
        view=_("View access attempt"),
    )

    @admin.display(description=_("status"))
    def status(self, attempt: AccessAttempt) -> str:
        limit = settings.AXES_FAILURE_LIMIT
        if attempt.failures_since_start >= limit:
            return _("Locked Out")
        left = limit - attempt.failures_since_start
        return ngettext("%(count)d attempt left", "%(count)d attempts left", left) % {"count": left}

    @admin.display(description=_("expires"))
    def expiration(self, attempt: AccessAttempt):
        return super().expiration(attempt)

    @admin.action(description=_("Clean up expired attempts"))
    def cleanup_expired_attempts(self, request: HttpRequest, queryset) -> None:
        # axes reads the moment from the request, which its middleware sets on sign-in requests only: its own
        # action fails with AttributeError in the admin. Now is the moment an admin action runs at.
        if not hasattr(request, "axes_attempt_time"):
            request.axes_attempt_time = timezone.now()
        count = self.handler.clean_expired_user_attempts(request=request)
        done = ngettext(
            "%(count)d expired access attempt cleaned up.",
            "%(count)d expired access attempts cleaned up.",
            count,
        )
        self.message_user(request, done % {"count": count}, messages.SUCCESS)


class AccessLogAdmin(WordedAdmin, axes.admin.AccessLogAdmin):
    words = AdminWords(
        count=ngettext_lazy("%(count)d access log", "%(count)d access logs", "count"),
        select=_("Select access log"),
        select_to_change=_("Select access log to change"),
        select_to_view=_("Select access log to view"),
        add=_("Add access log"),
        change=_("Change access log"),
        view=_("View access log"),
    )


class AccessFailureLogAdmin(WordedAdmin, axes.admin.AccessFailureLogAdmin):
    words = AdminWords(
        count=ngettext_lazy("%(count)d access failure", "%(count)d access failures", "count"),
        select=_("Select access failure"),
        select_to_change=_("Select access failure to change"),
        select_to_view=_("Select access failure to view"),
        add=_("Add access failure"),
        change=_("Change access failure"),
        view=_("View access failure"),
    )


for model, model_admin in (
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
):
    if admin.site.is_registered(model):  # as axes registers them (AXES_ENABLE_ADMIN)
        admin.site.unregister(model)
        admin.site.register(model, model_admin)
