"""Parsing of operator input (pages and API alike) into typed values, with Chinese problems.

Each parser returns the value or appends a :class:`Problem` naming the field and what was typed,
so a form shows every mistake at once and nothing is half-saved.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from mall.problems import Problem, ServiceError

from . import pinmu

MONEY_MAX = Decimal("999999999999.99")  # Numeric(14, 2)
CENT = Decimal("0.01")


def fmt_money(value) -> str:
    if value is None:
        return "—"
    return f"¥{Decimal(value):,.2f}"


def fmt_percent(ratio) -> str:
    if ratio is None:
        return "—"
    return f"{(Decimal(ratio) * 100).quantize(CENT)}%"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_str(raw) -> str:
    """Text as typed, without control characters (PostgreSQL refuses NUL in text)."""
    return _CONTROL.sub("", "" if raw is None else str(raw)).strip()


def clean_note(raw, max_length: int = 500) -> str | None:
    """An optional note or reason: cleaned, None when empty; refused when longer than its column."""
    text = clean_str(raw)
    if len(text) > max_length:
        raise ServiceError(Problem("too_long", f"说明或理由最多{max_length}个字（现有{len(text)}个）", field="note",
                                   figures={"length": len(text), "max_length": max_length}))
    return text or None


def _blank(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def parse_decimal(raw, field: str, label: str, problems: list[Problem], *, required: bool = True,
                  places: int = 2, maximum: Decimal = MONEY_MAX) -> Decimal | None:
    """A Decimal from a string/number; commas, spaces and a leading ¥ are accepted."""
    if _blank(raw):
        if required:
            problems.append(Problem("required", f"请填写{label}", field=field))
        return None
    if isinstance(raw, float):
        raw = repr(raw)
    text = str(raw).strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        problems.append(Problem("invalid_number", f"{label}“{raw}”不是有效的数字", field=field,
                                figures={"value": str(raw)}))
        return None
    if not value.is_finite():
        problems.append(Problem("invalid_number", f"{label}“{raw}”不是有效的数字", field=field,
                                figures={"value": str(raw)}))
        return None
    if value.as_tuple().exponent < -places and value != value.quantize(Decimal(1).scaleb(-places)):
        problems.append(Problem("too_many_decimals", f"{label}“{raw}”最多保留{places}位小数", field=field,
                                figures={"value": str(raw), "places": places}))
        return None
    if abs(value) > maximum:
        problems.append(Problem("number_too_large", f"{label}“{raw}”超出允许的最大值{maximum:,}", field=field,
                                figures={"value": str(raw), "maximum": maximum}))
        return None
    return value.quantize(Decimal(1).scaleb(-places))


def parse_money(raw, field: str, label: str, problems: list[Problem], *, required: bool = True,
                positive: bool = False) -> Decimal | None:
    value = parse_decimal(raw, field, label, problems, required=required)
    if value is None:
        return None
    if value < 0:
        problems.append(Problem("negative_amount", f"{label}不能为负数（填写的是{fmt_money(value)}）",
                                field=field, figures={label: value}))
        return None
    if positive and value == 0:
        problems.append(Problem("zero_amount", f"{label}必须大于0（填写的是{fmt_money(value)}）",
                                field=field, figures={label: value}))
        return None
    return value


def parse_int(raw, field: str, label: str, problems: list[Problem], *, required: bool = True,
              minimum: int | None = None, maximum: int | None = None) -> int | None:
    if _blank(raw):
        if required:
            problems.append(Problem("required", f"请填写{label}", field=field))
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        problems.append(Problem("invalid_integer", f"{label}“{raw}”不是有效的整数", field=field))
        return None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        problems.append(Problem("out_of_range", f"{label}须在{minimum}–{maximum}之间（填写的是{value}）",
                                field=field, figures={label: value, "minimum": minimum, "maximum": maximum}))
        return None
    return value


def parse_date(raw, field: str, label: str, problems: list[Problem], *,
               required: bool = True) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if _blank(raw):
        if required:
            problems.append(Problem("required", f"请填写{label}", field=field))
        return None
    try:
        return dt.date.fromisoformat(str(raw).strip())
    except ValueError:
        problems.append(Problem("invalid_date", f"{label}“{raw}”不是有效的日期（格式：2026-01-31）", field=field))
        return None


def parse_text(raw, field: str, label: str, problems: list[Problem], *, required: bool = True,
               max_length: int = 200) -> str | None:
    text = clean_str(raw)
    if not text:
        if required:
            problems.append(Problem("required", f"请填写{label}", field=field))
        return None
    if len(text) > max_length:
        problems.append(Problem("too_long", f"{label}最多{max_length}个字（现有{len(text)}个）", field=field,
                                figures={"length": len(text), "max_length": max_length}))
        return None
    return text


def parse_choice(raw, field: str, label: str, choices: dict, problems: list[Problem]) -> str | None:
    if raw in choices:
        return raw
    allowed = "、".join(f"{v}（{k}）" for k, v in choices.items())
    problems.append(Problem("invalid_choice", f"{label}“{raw or ''}”无效，可选：{allowed}", field=field))
    return None


def check_category(code, field: str, problems: list[Problem]) -> str | None:
    """A 品目 code of the 2022 classification (4,272 codes)."""
    code = clean_str(code).upper()
    if not code:
        problems.append(Problem("required", "请填写品目编码", field=field))
        return None
    if code not in pinmu.tree():
        problems.append(Problem("unknown_category", f"品目编码“{code[:20]}”不在《政府采购品目分类目录》中",
                                field=field, figures={"category_code": code}))
        return None
    return code


def split_codes(raw) -> list[str]:
    """Codes typed as text (spaces, commas, 、 or new lines) or given as a list."""
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)):
        parts = [str(p) for p in raw]
    else:
        text = str(raw)
        for sep in (",", "，", "、", ";", "；", "\n", "\r", "\t"):
            text = text.replace(sep, " ")
        parts = text.split(" ")
    out = []
    for p in parts:
        p = p.strip().upper()
        if p and p not in out:
            out.append(p)
    return out
