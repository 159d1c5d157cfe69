"""URL converters: an ``<int:...>`` id in a URL is bounded by what the database can hold.

PostgreSQL's ``integer`` ends at 2**31 - 1 and SQLite cannot bind numbers past 2**63 - 1; a larger
number in a URL used to reach the database and fail there. Bounding the converter makes such a
URL simply not match: a 404 like any other unknown object.
"""
from __future__ import annotations

from werkzeug.routing import IntegerConverter, ValidationError

MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str):
        if len(value) > 20:  # also spares int() its 4,300-digit ValueError
            raise ValidationError()
        return super().to_python(value)


def init_app(app) -> None:
    """Call before any route is registered: rules pick their converter class when added."""
    app.url_map.converters["int"] = IdConverter
