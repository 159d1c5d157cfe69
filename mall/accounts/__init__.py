"""Accounts: organisations, users, roles, API tokens, sign-in."""
