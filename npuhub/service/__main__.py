"""``python -m npuhub.service``: run the npuhub service (JupyterHub starts it this way)."""

from .app import main

main()
