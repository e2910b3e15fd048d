from django.apps import AppConfig


class ConfigAppConfig(AppConfig):
    """The project package as an app only so that its system checks are registered the documented way."""

    name = "config"
    verbose_name = "Leadflow configuration"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (importing registers the checks)
