from django.core.management.base import BaseCommand

from config import nginx


class Command(BaseCommand):
    help = (
        "Write nginx's own JSON answers under /api/ (413, 429, 502-504), in every language, into "
        "deploy/nginx-leadflow-common.conf from config/nginx.py and the catalogue. Run it after changing "
        "their words or translations."
    )

    def handle(self, *args, **options) -> None:
        text = nginx.CONF.read_text()
        nginx.CONF.write_text(nginx.written(text))
        self.stdout.write(f"{nginx.CONF}: {'unchanged' if nginx.written(text) == text else 'written'}")
