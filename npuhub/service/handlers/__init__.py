"""The REST API's handlers, one module per part of the API; ``routes.py`` declares which serves what."""
