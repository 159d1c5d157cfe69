"""Shared API schemas."""
import marshmallow as ma

from mall.routing import MAX_ID


class Id(ma.fields.Integer):
    """An object id sent by a client: a positive integer the database can hold (PostgreSQL
    ``integer``), so an oversized number is a 422 naming the field, never a database error."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", ma.validate.Range(min=1, max=MAX_ID))
        super().__init__(**kwargs)


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "stable error code"})
    message = ma.fields.String(required=True)
    details = ma.fields.Dict()


class ApiErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorDetailSchema)


class ProblemSchema(ma.Schema):
    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    rule = ma.fields.String()
    field = ma.fields.String()
    severity = ma.fields.String()
    figures = ma.fields.Dict()


class ProblemsSchema(ma.Schema):
    """A 422 refusal: every problem, and the first as ``error`` (the shape of every API error)."""
    problems = ma.fields.List(ma.fields.Nested(ProblemSchema))
    error = ma.fields.Nested(ErrorDetailSchema)


class PageArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100000))
    per_page = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))


def page_of(items, total: int, page: int, per_page: int) -> dict:
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def paged(stmt, args: dict) -> dict:
    """One API page of ``stmt`` (count, then LIMIT/OFFSET) via Flask-SQLAlchemy's paginate."""
    from ..extensions import db

    p = db.paginate(stmt, page=args["page"], per_page=args["per_page"], error_out=False, max_per_page=None)
    return page_of(p.items, p.total, args["page"], args["per_page"])
