"""The admin command line (``npuhub quota``, ``reserve``, ``queue``, ``pool``) over the npuhub service's REST API."""

from .commands import add_commands

__all__ = ["add_commands"]
