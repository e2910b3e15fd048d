from django.urls import path, re_path

from crm import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("trends/", views.trends, name="trends"),
    path("leads/", views.lead_list, name="lead_list"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_detail"),
    path("contacts/", views.contact_list, name="contact_list"),
    path("queue/", views.queue, name="queue"),
    path("changes/", views.change_list, name="change_list"),
    path("reports/", views.reports, name="reports"),
    re_path(r"^reports/(?P<table>operators|sources|contacts)\.csv$", views.report_csv, name="report_csv"),
    # An operator's own work (the landing page of operators' accounts); its presence buttons post to
    # distribution's my_presence.
    path("me/", views.my_work, name="my_work"),
    path("me/poll/", views.my_work_poll, name="my_work_poll"),
]
