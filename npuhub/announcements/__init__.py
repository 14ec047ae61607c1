"""Announcements: a banner a teacher (for her course) or an admin (for everyone) posts for a time window.

``policy`` holds the rules (who may post what, the window, the text) and the
bilingual refusals, ``store`` the SQL table (SQLite or PostgreSQL, its own
alembic history in ``migrations``). The service serves them
(``npuhub/service/handlers/announcements.py``); the hub shows them on its
pages (``npuhub/announcements/banner.py``) and JupyterLab in the NPU panel.
"""

from .policy import Announcement, AnnouncementError
from .store import AnnouncementStore

__all__ = ["Announcement", "AnnouncementError", "AnnouncementStore"]
