"""npuhub: a JupyterHub workspace that shares fractions of NPUs and GPUs fairly."""

__version__ = "0.1.0"
