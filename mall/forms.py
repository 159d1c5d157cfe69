"""Form helpers shared by every feature package."""
from __future__ import annotations

from flask import flash

from .problems import Problem


def apply_problems(form, problems: list[Problem]) -> None:
    """Show service problems on the form: on the field they concern, else as a flash message."""
    for p in problems:
        field = getattr(form, p.field, None) if p.field else None
        if field is not None and hasattr(field, "errors"):
            errors = list(field.errors) if isinstance(field.errors, (list, tuple)) else []
            errors.append(p.message)
            field.errors = errors
        else:
            flash(p.message, "danger" if p.severity == "error" else "warning")
