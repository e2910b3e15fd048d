from django.urls import path, re_path

from distribution import api

urlpatterns = [
    # With or without the trailing slash: a POST cannot follow APPEND_SLASH's redirect.
    re_path(r"^api/contacts/?$", api.contacts_webhook, name="contacts_webhook"),
    path("healthz", api.healthz, name="healthz"),
]
