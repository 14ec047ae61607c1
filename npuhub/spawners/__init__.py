"""Spawners that hold a slice of the accelerator pool for the life of each server."""

from .mixin import NPUHubSpawnError, NPUSpawnerMixin

__all__ = ["NPUSpawnerMixin", "NPUHubSpawnError"]
