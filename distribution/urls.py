import re

from django.urls import path, re_path

from distribution import api, views, webhook

urlpatterns = [
    # With or without the trailing slash (webhook.PATHS): a POST cannot follow APPEND_SLASH's redirect.
    re_path(rf"^{re.escape(webhook.PATH.strip('/'))}/?$", api.contacts_webhook, name="contacts_webhook"),
    path("healthz", api.healthz, name="healthz"),
    # Assigning by hand (staff pages); the pages that offer it are crm's.
    path("contacts/<int:pk>/assign/", views.contact_assign, name="contact_assign"),
    path("queue/assign/", views.queue_assign, name="queue_assign"),
    # My work's presence buttons (the page itself is crm's).
    path("me/presence/", views.my_presence, name="my_presence"),
    # An operator's own contact: accept or decline its offer, close it.
    re_path(
        r"^me/contacts/(?P<pk>[0-9]+)/(?P<action>accept|decline|close)/$", views.my_contact, name="my_contact"
    ),
]
