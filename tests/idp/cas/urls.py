"""URLs of the test CAS server: the CAS protocol under /cas/, as most university portals have it."""

from django.urls import include, path

urlpatterns = [
    path("cas/", include("cas_server.urls", namespace="cas_server")),
]
