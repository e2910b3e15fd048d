from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Lead routing")

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_delete

        from crm.history import record_account_unlinked

        pre_delete.connect(
            record_account_unlinked, sender=get_user_model(), dispatch_uid="crm.account_unlinked"
        )
