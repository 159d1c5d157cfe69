"""The 2022 政府采购品目分类目录 (4,272 codes), shipped as package data.

``load(session)`` puts the classification into the ``category`` table (idempotent).
``tree()`` is an in-process cache of the whole tree for navigation and descendant filters.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from sqlalchemy import func, select

DATA_FILE = "pinmu_2022.csv"


@dataclass
class Node:
    code: str
    name: str
    parent_code: str | None
    level: int
    kind: str
    description: str | None = None
    children: list[str] = field(default_factory=list)


def read_rows() -> list[dict]:
    text = resources.files("mall").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _nearest_existing(parent: str, codes: set[str]) -> str | None:
    """The data file has a few codes whose parent is missing (e.g. A07050201 → A07050200);
    attach them to the nearest existing ancestor by clearing two-digit groups from the right."""
    code = parent
    while code and code not in codes:
        if len(code) <= 1:
            return None
        body = code[1:].rstrip("0")
        if not body:
            return code[0] if code[0] in codes else None
        cut = len(body) - (len(body) % 2 or 2)
        code = code[0] + body[:cut].ljust(len(parent) - 1, "0") if cut > 0 else code[0]
    return code


@lru_cache(maxsize=1)
def tree() -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    rows = read_rows()
    codes = {r["code"] for r in rows}
    for row in rows:
        parent = row["parent_code"] or None
        if parent and parent not in codes:
            parent = _nearest_existing(parent, codes)
        nodes[row["code"]] = Node(row["code"], row["name"], parent, int(row["level"]),
                                  row["kind"], row["description"] or None)
    for node in nodes.values():
        if node.parent_code and node.parent_code in nodes:
            nodes[node.parent_code].children.append(node.code)
    return nodes


def path_of(code: str) -> list[str]:
    nodes = tree()
    out = []
    while code:
        out.append(code)
        code = nodes[code].parent_code if code in nodes else None
    return list(reversed(out))


def descendants(code: str, include_self: bool = True) -> list[str]:
    nodes = tree()
    if code not in nodes:
        return []
    out, stack = [], [code]
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend(nodes[c].children)
    return out if include_self else out[1:]


def name_of(code: str) -> str:
    node = tree().get(code)
    return node.name if node else code


def load(session) -> int:
    """Insert the classification if the table is empty or incomplete. Returns rows inserted."""
    from .models import Category

    existing = session.scalar(select(func.count()).select_from(Category))
    rows = read_rows()
    if existing >= len(rows):
        return 0
    have = set(session.scalars(select(Category.code))) if existing else set()
    nodes = tree()
    new = []
    # parents first, so the self-referencing foreign key holds row by row
    for row in sorted(rows, key=lambda r: int(r["level"])):
        if row["code"] in have:
            continue
        new.append({"code": row["code"], "name": row["name"], "parent_code": nodes[row["code"]].parent_code,
                    "level": int(row["level"]), "kind": row["kind"], "description": row["description"] or None,
                    "path": "/".join(path_of(row["code"]))})
    session.execute(Category.__table__.insert(), new)
    assert nodes
    return len(new)
