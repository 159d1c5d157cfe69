"""Problems: why a request was refused, with a stable code, the rule and its figures.

Services raise :class:`ServiceError` carrying one or more :class:`Problem`. Pages show the
messages (Chinese); the API answers ``{"error": {...}}`` or ``{"problems": [...]}`` with the
stable codes, so client systems can react to them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field as dc_field
from typing import Any


@dataclass(frozen=True)
class Problem:
    code: str                 # stable, machine-readable, e.g. "centralized_item_outside_zone"
    message: str              # Chinese, names the rule and its figures
    rule: str | None = None   # which rule produced it, e.g. "zone.central_requires_agreement"
    field: str | None = None  # the input field concerned, if any
    severity: str = "error"   # "error" refuses; "warning" informs
    figures: dict[str, Any] = dc_field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["figures"] = {k: (str(v) if not isinstance(v, (int, str, bool, type(None))) else v)
                           for k, v in self.figures.items()}
        return {k: v for k, v in data.items() if v not in (None, {}) or k in ("code", "message")}


class ServiceError(Exception):
    """A refused operation. ``status`` is the HTTP status the API answers with."""

    def __init__(self, problems: list[Problem] | Problem, status: int = 422):
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems = [p for p in problems]
        self.status = status
        super().__init__("; ".join(p.message for p in self.problems))

    @property
    def code(self) -> str:
        return self.problems[0].code if self.problems else "error"


class NotFound(ServiceError):
    def __init__(self, what: str = "对象", code: str = "not_found"):
        super().__init__(Problem(code, f"{what}不存在"), status=404)


class Forbidden(ServiceError):
    def __init__(self, message: str = "无权执行此操作", code: str = "forbidden"):
        super().__init__(Problem(code, message), status=403)


def errors_only(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
