"""Authenticators: university sign-in for sites, and demo accounts for the embedded stack."""
