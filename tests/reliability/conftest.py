"""Fixtures of the fault-injection tier: the shared hub, the service process on a chosen database, the databases."""

from support.postgres import db_url, postgres_url  # noqa: F401 (fixtures)
from support.service_stack import service_hub, start_service  # noqa: F401 (fixtures)
