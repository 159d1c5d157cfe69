"""Scheduled catalog tasks."""
