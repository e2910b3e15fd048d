from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from simple_history.signals import pre_create_historical_record

        from integrations.services import name_the_api_key

        pre_create_historical_record.connect(name_the_api_key, dispatch_uid="integrations.name_the_api_key")
