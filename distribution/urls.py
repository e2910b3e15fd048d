import re

from django.urls import path, re_path

from distribution import api, webhook

urlpatterns = [
    # With or without the trailing slash (webhook.PATHS): a POST cannot follow APPEND_SLASH's redirect.
    re_path(rf"^{re.escape(webhook.PATH.strip('/'))}/?$", api.contacts_webhook, name="contacts_webhook"),
    path("healthz", api.healthz, name="healthz"),
]
