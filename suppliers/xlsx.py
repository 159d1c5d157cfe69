"""Bulk import and export of a supplier's products as .xlsx (openpyxl).

The workbook has a sheet “商品” whose first row names the columns as ``中文名(key)`` (a ``*``
marks columns a new product needs) and a sheet “填写说明” that documents every column.
Each data row is one product:

- ``商品ID(id)`` filled: the row updates that product (it must belong to the supplier);
- ``商品ID(id)`` empty and 品牌+型号 match exactly one of the supplier's products: the row
  updates it; otherwise the row creates a new product;
- ``上架(listed)``: 是 lists the product (the zone rules are checked), 否 delists it (a new
  product stays a draft), empty keeps an existing product's status (a new one is a draft);
- a column left out of the sheet leaves that field unchanged; an empty cell in an optional
  column clears the field.

Import is all-or-nothing: every row goes through the same services (``catalog.services``) as
the pages, in one transaction; if the file is not an .xlsx, its headers are wrong or any row
is refused, the transaction is rolled back and a row-by-row report (row number, column,
Chinese message) is returned in :class:`ImportRejected`.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_login import current_user
from sqlalchemy import select

from mall.accounts.models import Organisation
from mall.authz import require
from mall.extensions import db
from mall.problems import Problem, ServiceError

SHEET = "商品"
HELP_SHEET = "填写说明"
MAX_ROWS = 5000
MAX_REPORTED_ERRORS = 500
FLUSH_EVERY = 500

ZONE_BY_LABEL = {"集采区": "central", "自采区": "self", "特色馆": "pavilion",
                 "central": "central", "self": "self", "pavilion": "pavilion"}
ZONE_LABEL = {"central": "集采区", "self": "自采区", "pavilion": "特色馆"}
YES = {"是", "y", "yes", "true", "1", "上架", "在售"}
NO = {"否", "n", "no", "false", "0", "下架", "草稿"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    required: bool  # needed to create a product
    width: int
    doc: str

    @property
    def header(self) -> str:
        return f"{self.label}{'*' if self.required else ''}({self.key})"


COLUMNS: tuple[Column, ...] = (
    Column("id", "商品ID", False, 10, "留空表示新增；填写则更新本单位的该商品（导出文件已带ID）。"),
    Column("title", "商品名称", True, 36, "必填，最多200字。"),
    Column("zone", "专区", True, 10, "必填：集采区 / 自采区 / 特色馆。集采区须为有效框架协议的入围供应商；"
                                     "自采区须为公开征集的品目；特色馆须已取得特色馆资格。"),
    Column("category_code", "品目编码", True, 14, "必填，《政府采购品目分类目录》（2022年版）编码，如 A02010105（台式计算机）。"),
    Column("brand", "品牌", False, 14, "集采区必填，须与协议价中的品牌一致。"),
    Column("model", "型号", False, 18, "集采区必填，须与协议价中的型号一致；未填商品ID时按“品牌+型号”匹配本单位已有商品并更新。"),
    Column("manufacturer", "制造商", False, 20, "货物类商品的制造商名称。"),
    Column("unit", "计量单位", False, 8, "如 台、件、箱；留空为“件”。"),
    Column("price", "单价(元)", True, 12, "必填，大于0，最多两位小数；集采区不得高于协议价。"),
    Column("market_price", "市场参考价(元)", False, 14, "可选，不小于0，最多两位小数。"),
    Column("stock", "库存", True, 8, "必填，不小于0的整数。"),
    Column("specs", "规格参数", False, 36, "“属性:值”，多项用分号分隔，如：CPU:i5-12500；内存:16GB。"),
    Column("description", "商品描述", False, 36, "可选。"),
    Column("listed", "上架", False, 8, "是：上架（按专区规则校验）；否：下架（新增商品为草稿）；留空：已有商品状态不变，新增商品为草稿。"),
)
BY_KEY = {c.key: c for c in COLUMNS}
BY_LABEL = {c.label: c for c in COLUMNS}
HEADER_RE = re.compile(r"\(([a-z_]+)\)\s*$")


@dataclass
class RowError:
    row: int
    column: str
    message: str
    code: str


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    listed: int = 0
    delisted: int = 0
    dry_run: bool = False
    product_ids: list[int] = field(default_factory=list)


class ImportRejected(ServiceError):
    """The file was refused; nothing was changed.  ``errors`` is the row-by-row report."""

    def __init__(self, errors: list[RowError], total: int | None = None):
        self.errors = errors[:MAX_REPORTED_ERRORS]
        self.total = total if total is not None else len(errors)
        problems = [Problem(e.code, (f"第{e.row}行 {e.column}：" if e.row else "") + e.message,
                            rule="import.xlsx", figures={"row": e.row, "column": e.column})
                    for e in self.errors]
        super().__init__(problems or [Problem("import_rejected", "导入失败", rule="import.xlsx")], status=422)


# --------------------------------------------------------------------------- export

def _workbook(rows: list[list[Any]]):
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append([c.header for c in COLUMNS])
    head_fill = PatternFill("solid", fgColor="8E1B1B")
    for i, col in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = head_fill
        cell.alignment = Alignment(vertical="center")
        cell.comment = Comment(col.doc, "govmall")
        ws.column_dimensions[get_column_letter(i)].width = col.width
    ws.freeze_panes = "B2"
    for r in rows:
        ws.append(r)
    money_cols = [i for i, c in enumerate(COLUMNS, start=1) if c.key in ("price", "market_price")]
    for row in ws.iter_rows(min_row=2, max_row=ws.max_row):
        for i in money_cols:
            row[i - 1].number_format = "0.00"
    last = max(ws.max_row, 1000)
    zone_col = get_column_letter(list(BY_KEY).index("zone") + 1)
    listed_col = get_column_letter(list(BY_KEY).index("listed") + 1)
    dv_zone = DataValidation(type="list", formula1='"集采区,自采区,特色馆"', allow_blank=False)
    dv_zone.add(f"{zone_col}2:{zone_col}{last}")
    dv_listed = DataValidation(type="list", formula1='"是,否"', allow_blank=True)
    dv_listed.add(f"{listed_col}2:{listed_col}{last}")
    ws.add_data_validation(dv_zone)
    ws.add_data_validation(dv_listed)

    help_ws = wb.create_sheet(HELP_SHEET)
    help_ws.append(["列", "必填", "说明"])
    for c in COLUMNS:
        help_ws.append([c.header, "新增必填" if c.required else "", c.doc])
    help_ws.append([])
    for line in (
        "导入规则：整个文件作为一个整体导入——任何一行有错误，所有行都不会导入，页面会逐行列出错误（行号、列、原因）。",
        "匹配规则：填写商品ID则更新该商品；未填ID时按“品牌+型号”匹配本单位唯一的已有商品并更新；否则新增。",
        "表中缺少的列不会修改对应字段；可选列的单元格留空表示清空该字段。",
        f"每个文件最多{MAX_ROWS}行商品。示例行：",
    ):
        help_ws.append([line])
    help_ws.append(["", "", "（示例）"])
    help_ws.append([c.header for c in COLUMNS])
    help_ws.append(["", "联想 启天M437 台式计算机 i5/16G/512G", "集采区", "A02010105", "联想", "启天M437",
                    "联想（北京）有限公司", "台", "4999.00", "5599.00", 20, "CPU:i5-12500；内存:16GB；硬盘:512GB SSD",
                    "三年上门保修", "是"])
    help_ws.column_dimensions["A"].width = 26
    help_ws.column_dimensions["B"].width = 12
    help_ws.column_dimensions["C"].width = 90
    for cell in help_ws[1]:
        cell.font = Font(bold=True)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _specs_text(specs: dict | None) -> str:
    return "；".join(f"{k}:{v}" for k, v in (specs or {}).items())


def export_products(supplier_id: int) -> bytes:
    """All the supplier's products, in the import format (edit and import back)."""
    from catalog.models import Product

    rows = []
    for p in db.session.scalars(select(Product).where(Product.supplier_id == supplier_id).order_by(Product.id)):
        rows.append([p.id, p.title, ZONE_LABEL.get(p.zone_code, p.zone_code), p.category_code, p.brand or "",
                     p.model or "", p.manufacturer or "", p.unit or "件", p.price,
                     p.market_price if p.market_price is not None else None, p.stock, _specs_text(p.specs),
                     p.description or "", "是" if p.status == "listed" else "否"])
    return _workbook(rows)


def template() -> bytes:
    return _workbook([])


# --------------------------------------------------------------------------- import

def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value).strip()


def _money(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return _text(value)


def _read_headers(ws) -> tuple[dict[int, Column], list[RowError]]:
    errors = []
    header = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), None)
    if not header or all(v is None or str(v).strip() == "" for v in header):
        return {}, [RowError(1, "表头", "第1行应为表头（请使用商品导入模板）", "import_headers_missing")]
    mapping: dict[int, Column] = {}
    for idx, raw in enumerate(header):
        text = _text(raw)
        if not text:
            continue
        m = HEADER_RE.search(text)
        col = BY_KEY.get(m.group(1)) if m else (BY_KEY.get(text) or BY_LABEL.get(text.rstrip("*")))
        if col is None:
            errors.append(RowError(1, text[:30], f"未知的列“{text[:30]}”（请使用商品导入模板的表头）",
                                   "import_unknown_column"))
        elif col in mapping.values():
            errors.append(RowError(1, col.label, f"列“{col.label}”重复", "import_duplicate_column"))
        else:
            mapping[idx] = col
    present = {c.key for c in mapping.values()}
    missing = [c for c in COLUMNS if c.required and c.key not in present]
    if missing and not ("id" in present and not errors):
        errors.append(RowError(1, "表头", "缺少必需的列：" + "、".join(c.header for c in missing),
                               "import_missing_columns"))
    return mapping, errors


def _load_sheet(stream):
    from openpyxl import load_workbook

    data = stream.read() if hasattr(stream, "read") else stream
    if not data:
        raise ImportRejected([RowError(0, "文件", "请选择要导入的 .xlsx 文件", "import_no_file")])
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
    except Exception:  # noqa: BLE001 - any unreadable file is refused the same way
        raise ImportRejected([RowError(0, "文件", "文件不是有效的 Excel（.xlsx）文件，请下载商品导入模板填写后上传",
                                       "import_bad_file")]) from None
    return wb, ws


def import_products(stream, *, dry_run: bool = False, user=None) -> ImportResult:
    """Import the products of a workbook for the acting supplier, all or nothing.

    Raises :class:`ImportRejected` (after rolling back) with the row-by-row report. With
    ``dry_run`` everything is checked and then rolled back (nothing is saved)."""
    from catalog import services
    from catalog.models import Product

    user = user or current_user
    org = db.session.get(Organisation, user.organisation_id) if getattr(user, "is_authenticated", False) else None
    require("product.create", org, user=user)
    org_id = org.id
    wb, ws = _load_sheet(stream)
    try:
        mapping, errors = _read_headers(ws)
        if errors:
            raise ImportRejected(errors)
        raw_rows = []
        try:
            for number, values in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue
                raw_rows.append((number, values))
                if len(raw_rows) > MAX_ROWS:
                    raise ImportRejected([RowError(number, "文件", f"每个文件最多导入{MAX_ROWS}行商品，请拆分后分批导入",
                                                   "import_too_many_rows")])
        except ImportRejected:
            raise
        except Exception:  # noqa: BLE001
            raise ImportRejected([RowError(0, "文件", "文件内容无法读取（可能已损坏）", "import_bad_file")]) from None
    finally:
        wb.close()
    if not raw_rows:
        raise ImportRejected([RowError(0, "文件", "文件中没有商品数据行", "import_empty")])

    ctx = services.listing_context(org_id)
    own = {p.id: p for p in db.session.scalars(select(Product).where(Product.supplier_id == org_id))}
    by_model: dict[tuple[str, str], list[Product]] = {}
    for p in own.values():
        if p.model:
            by_model.setdefault((_key(p.brand), _key(p.model)), []).append(p)

    result = ImportResult(dry_run=dry_run)
    errors: list[RowError] = []
    seen_ids: dict[int, int] = {}
    seen_models: dict[tuple[str, str], int] = {}
    total_errors = 0
    touched: list[Product] = []

    def err(row, key_or_label, message, code):
        nonlocal total_errors
        total_errors += 1
        if len(errors) < MAX_REPORTED_ERRORS:
            col = BY_KEY.get(key_or_label)
            errors.append(RowError(row, col.label if col else (key_or_label or "—"), message, code))

    for number, values in raw_rows:
        cells = {col.key: values[idx] if idx < len(values) else None for idx, col in mapping.items()}
        data: dict[str, Any] = {}
        for key, value in cells.items():
            if key in ("id", "listed"):
                continue
            if key == "zone":
                text = _text(value)
                data["zone"] = ZONE_BY_LABEL.get(text, text)
            elif key in ("price", "market_price"):
                data[key] = _money(value)
            elif key == "stock":
                data[key] = value if isinstance(value, (int, float)) and not isinstance(value, bool) else _text(value)
                if isinstance(data[key], float) and data[key].is_integer():
                    data[key] = int(data[key])
            else:
                data[key] = _text(value)
        listed = None
        if "listed" in cells:
            flag = _text(cells["listed"]).lower()
            if flag in YES:
                listed = True
            elif flag in NO:
                listed = False
            elif flag:
                err(number, "listed", f"“{flag[:10]}”无效，请填写“是”或“否”", "import_listed_invalid")
                continue
        target = None
        raw_id = cells.get("id")
        if raw_id not in (None, ""):
            try:
                pid = int(Decimal(_text(raw_id)))
                if Decimal(_text(raw_id)) != pid:
                    raise ValueError
            except Exception:  # noqa: BLE001
                err(number, "id", f"商品ID“{_text(raw_id)[:20]}”须为整数", "import_id_invalid")
                continue
            target = own.get(pid)
            if target is None:
                err(number, "id", f"商品ID {pid} 不存在或不属于本单位", "import_id_not_found")
                continue
            if pid in seen_ids:
                err(number, "id", f"商品ID {pid} 与第{seen_ids[pid]}行重复", "import_duplicate_row")
                continue
            seen_ids[pid] = number
        elif "model" in cells and _text(cells.get("model")):
            key = (_key(data.get("brand") if "brand" in cells else None), _key(data.get("model")))
            if key in seen_models:
                err(number, "model", f"品牌+型号“{data.get('brand') or ''} {data.get('model')}”与第{seen_models[key]}行重复，"
                                     f"请填写商品ID区分", "import_duplicate_row")
                continue
            seen_models[key] = number
            candidates = by_model.get(key, [])
            if len(candidates) > 1:
                err(number, "model", f"品牌+型号“{data.get('brand') or ''} {data.get('model')}”匹配到本单位"
                                     f"{len(candidates)}个商品（ID {', '.join(str(p.id) for p in candidates[:5])}），"
                                     f"请填写商品ID", "import_ambiguous_model")
                continue
            if candidates:
                target = candidates[0]
                if target.id in seen_ids:
                    err(number, "model", f"该型号对应的商品ID {target.id} 已在第{seen_ids[target.id]}行出现",
                        "import_duplicate_row")
                    continue
                seen_ids[target.id] = number
        try:
            if target is None:
                product = services.create_product(data, list_now=bool(listed), user=user, ctx=ctx, flush=False)
                result.created += 1
                if listed:
                    result.listed += 1
            else:
                was = target.status
                product = services.update_product(target, data, user=user, ctx=ctx, flush=False)
                result.updated += 1
                if listed is True and was != "listed":
                    services.list_product(product, user=user, ctx=ctx, flush=False)
                    result.listed += 1
                elif listed is False and was == "listed":
                    services.delist_product(product, user=user, reason="批量导入下架", flush=False)
                    result.delisted += 1
            touched.append(product)
        except ServiceError as exc:
            for p in exc.problems:
                err(number, p.field or "—", p.message, p.code)
        result.rows += 1
        if not errors and result.rows % FLUSH_EVERY == 0:
            db.session.flush()  # in batches: one flush per row would make a large import quadratic
    if errors:
        db.session.rollback()
        raise ImportRejected(errors, total=total_errors)
    db.session.flush()
    if dry_run:
        db.session.rollback()
    else:
        result.product_ids = [p.id for p in touched]
    return result


def _key(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()
