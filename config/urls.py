from django.contrib import admin
from django.urls import include, path

from crm import views as crm_views
from distribution import views as distribution_views
from integrations.api import api as integration_api

urlpatterns = [
    path("admin/", admin.site.urls),
    # The integration API (django-ninja), before the "" includes so none of them can shadow it.
    path("api/v1/", integration_api.urls),
    path("", include("distribution.urls")),
    # Only log in and out: password resets would need an email backend, and supervisors reset passwords
    # in the admin.
    path("accounts/login/", crm_views.LoginView.as_view(), name="login"),
    # Distribution's: logging out may set the user's operator offline (distribution.capacity).
    path("accounts/logout/", distribution_views.LogoutView.as_view(), name="logout"),
    # The language switcher posts to set_language (name "set_language"), which keeps the choice in a cookie.
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("crm.urls")),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
