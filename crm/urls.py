from django.urls import path

from crm import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("trends/", views.trends, name="trends"),
    path("leads/", views.lead_list, name="lead_list"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_detail"),
    path("contacts/", views.contact_list, name="contact_list"),
    path("contacts/<int:pk>/assign/", views.contact_assign, name="contact_assign"),
    path("queue/", views.queue, name="queue"),
    path("queue/assign/", views.queue_assign, name="queue_assign"),
    path("changes/", views.change_list, name="change_list"),
]
