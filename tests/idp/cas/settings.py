"""Django settings of the test CAS server: django-cas-server on loopback, its own SQLite, no internet."""

import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("NPUHUB_TEST_CAS_DATA", Path(__file__).resolve().parent / "data"))

SECRET_KEY = "npuhub-test-cas-server-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "urls"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "cas_server",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA_DIR / "cas.sqlite3")}}
# The hub's tests hash a handful of passwords: the fastest hasher keeps the server start short.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Users and their groups are Django's; the `groups` attribute is released as `memberOf` (seed.py).
CAS_AUTH_CLASS = "cas_server.auth.DjangoAuthUser"
# Without these two the server asks pypi.org whether it is up to date.
CAS_NEW_VERSION_HTML_WARNING = False
CAS_NEW_VERSION_EMAIL_WARNING = False
CAS_SHOW_POWERED = False
CAS_LOGO_URL = None
CAS_FAVICON_URL = None
CAS_INFO_MESSAGES_ORDER = []
# Ticket lifetime: django-cas-server's default (60 s), like a real portal's short-lived tickets.
CAS_TICKET_VALIDITY = 60

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"cas_server": {"handlers": ["console"], "level": "INFO"}},
}
