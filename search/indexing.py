"""Indexing: documents from products, the embedded index kept in step, the outbox, rebuilds.

How an update reaches the indexes (never lost):

* **Embedded index** (``search_doc`` + FTS5 on SQLite / tsvector on PostgreSQL): updated
  *synchronously in the same transaction* as the change.  Session events see every flushed
  change of a Product, a SupplierProfile's status, a supplier's name, an Agreement's status or
  term and an AgreementPrice (also ORM bulk ``update(Product)...`` statements), expand them to
  the products concerned and rewrite their documents on the flush's own connection.  Commit
  and the index are one; a rollback undoes both.
* **Elasticsearch**: the same events write ``search_outbox`` rows in the same transaction.
  The Celery task ``search.drain_outbox`` (every minute, and right after a commit that wrote
  rows) claims a batch, rebuilds the documents from the database *as they are now* and
  bulk-upserts or deletes them by product id (idempotent), then deletes the rows.  If
  Elasticsearch is down the rows stay (the claim is released) and are applied when it is back;
  if a worker dies mid-batch its claim expires after ``LEASE_SECONDS`` and another worker
  retries the rows.  A row whose document the cluster refuses is kept with the reason and
  retried, and set aside after ``MAX_ATTEMPTS`` so it cannot hold up the rows behind it
  (``flask search status`` counts them; a reindex covers them).  One drain runs at a time
  (``search_lease``): two at once could write a product's older version last.  A reindex holds
  the same lease, so changes made meanwhile wait in the outbox and go to the new index.

A document exists only for a product that may be sold now (``catalog.queries.sellable_condition``:
listed, not halted by its agreement, supplier active); any other product's document is deleted.

Bulk loads (the demo seeder) may switch the per-flush work off with
``session.info["search_sync_disabled"] = True`` and call :func:`rebuild_index` at the end.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from functools import lru_cache
from typing import Callable, Iterable, Optional

from flask import current_app, has_app_context
from sqlalchemy import (ARRAY, Integer, any_, cast as sa_cast, delete, event, func, insert, inspect, or_, select, text,
                        update)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BindParameter

from mall.extensions import db
from mall.timeutil import utcnow

from . import text as stext
from .engine import price_band
from .models import POSTGRES_DDL, SQLITE_DDL, SearchDoc, SearchLease, SearchOutbox

log = logging.getLogger(__name__)

LEASE_SECONDS = 300      # a claimed outbox row is taken over after this (its worker died)
SYNC_LEASE = "elasticsearch"
SYNC_LEASE_SECONDS = 120  # the writer's lease, renewed between batches
MAX_ATTEMPTS = 5          # a row refused this often is set aside
REINDEX_LEASE_SECONDS = 3600  # a reindex holds the writer's lease this long at most
FTS_COLUMNS = ("title", "brand", "category", "specs", "supplier", "pinyin")
# PostgreSQL weights of the same columns (ts_rank weights {D, C, B, A} in embedded_pg)
PG_WEIGHTS = {"title": "A", "brand": "B", "category": "A", "specs": "C", "supplier": "D", "pinyin": "D"}


# ====================================================================== schema

_ready: set[str] = set()


def ensure_schema(bind=None) -> None:
    """Create what ``db.create_all``/the migration cannot: the FTS5 table and its trigger on SQLite,
    the GIN index on PostgreSQL (and the search tables themselves if missing). Idempotent, cheap
    after the first call in a process."""
    bind = bind if bind is not None else db.engine
    if isinstance(bind, Engine):
        key = str(bind.url)
        if key in _ready:
            return
        with bind.begin() as conn:
            _ensure(conn)
        _ready.add(key)
    else:
        _ensure(bind)


def _ensure(conn: Connection) -> bool:
    """Make sure the schema exists on ``conn``; True if it was already complete."""
    key = str(conn.engine.url)
    if key in _ready:
        return True
    complete = True
    for table in (SearchDoc.__table__, SearchOutbox.__table__, SearchLease.__table__):
        if not inspect(conn).has_table(table.name):
            table.create(conn, checkfirst=True)
            complete = False
    existing = {i["name"] for i in inspect(conn).get_indexes(SearchDoc.__table__.name)}
    for index in SearchDoc.__table__.indexes:  # indexes added to the model after the table was made
        if index.name not in existing and index.name != "ix_search_doc_tsv" and index.name:
            index.create(conn, checkfirst=True)
            complete = False
    if conn.dialect.name == "sqlite":
        have = conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('search_fts', 'search_doc_fts_delete')").scalar()
        if have < 2:
            complete = False
            fts_exists = conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'search_fts'").scalar()
            if not fts_exists and conn.exec_driver_sql("SELECT count(*) FROM search_doc").scalar():
                # documents without their text cannot be searched: they are rebuilt by `search reindex`
                log.warning("search_fts was missing: the embedded index is emptied; run `flask search reindex`")
                conn.exec_driver_sql("DELETE FROM search_doc")
            for ddl in SQLITE_DDL:
                conn.exec_driver_sql(ddl)
    elif conn.dialect.name == "postgresql":
        have = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_search_doc_tsv'").scalar()
        if not have:
            complete = False
            for ddl in POSTGRES_DDL:
                conn.exec_driver_sql(ddl)
    if complete:
        _ready.add(key)
    return complete


# ====================================================================== documents

def quality_bucket(sales_count: int, is_sme: bool) -> int:
    """0 (best) … 31: best-selling first (log2 of sales), SME before non-SME at equal sales."""
    level = min(15, max(0, int(sales_count or 0)).bit_length())
    return (15 - level) * 2 + (0 if is_sme else 1)


def doc_id(product_id: int, sales_count: int, is_sme: bool) -> int:
    return (quality_bucket(sales_count, is_sme) << 32) | int(product_id)


def _product_columns():
    from catalog.models import AgreementPrice, Product
    from catalog.queries import sellable_condition
    from mall.accounts.models import Organisation

    cols = (Product.id, Product.title, Product.brand, Product.model, Product.manufacturer, Product.specs,
            Product.description, Product.zone_code, Product.category_code, Product.supplier_id, Product.is_sme,
            Product.price, Product.stock, Product.sales_count, Product.listed_at, Product.created_at,
            AgreementPrice.agreement_id, Organisation.name.label("supplier_name"),
            sellable_condition().label("sellable"))
    return (select(*cols).select_from(Product)
            .join(Organisation, Organisation.id == Product.supplier_id)
            .outerjoin(AgreementPrice, AgreementPrice.id == Product.agreement_price_id))


def _category_info(code: str) -> dict:
    """Tokens of a 品目: its name and aliases (weighted like a title word), and, for the low-weight
    ``pinyin`` column, its code, its ancestors' codes and its parent's name with pinyin."""
    info = _category_cache.get(code)
    if info is None:
        from catalog import pinmu

        path = pinmu.path_of(code)
        names = [pinmu.name_of(c) for c in path]
        leaf = names[-1] if names else code
        aliases = stext.lexicon.category_aliases(path)
        tokens = stext.index_tokens(leaf) + list(aliases)
        for a in aliases:
            tokens += [t for t in stext.index_tokens(a) if t != a]
        extra = [code.lower()] + [c.lower() for c in path[:-1] if len(c) > 1]
        if len(names) >= 2:
            extra += stext.index_tokens(names[-2])  # the parent (办公设备, 计算机): broad words, low weight
        extra += _pinyin_of([leaf] + [a for a in aliases if stext.is_cjk(a[:1] or "a")])
        extra = list(dict.fromkeys(extra))
        info = {"name": leaf, "path": path, "names": names, "aliases": aliases, "tokens": tokens, "pinyin": extra}
        _category_cache[code] = info
    return info


_category_cache: dict[str, dict] = {}


def _pinyin_of(words: Iterable[str]) -> list[str]:
    out = []
    for w in words:
        for run in stext.runs(w):
            if stext.is_cjk(run[0]):
                for word in stext.segmenter().cut(run):
                    if len(word) >= 2:
                        ini = stext.pinyin_initials(word)
                        if ini:
                            out.append(ini)
                if 2 <= len(run) <= 8:
                    out.append(stext.pinyin_initials(run))
                    out.append(stext.pinyin_full(run))
    return [p for p in out if p]


def _specs_values(specs) -> list[str]:
    if not specs:
        return []
    if isinstance(specs, dict):
        return [str(v) for v in specs.values() if v not in (None, "")]
    return [str(specs)]


@lru_cache(maxsize=400_000)
def _tokens(value: str) -> tuple[str, ...]:
    """Index tokens of a value that repeats across products (brand, model, spec value, supplier)."""
    return tuple(stext.index_tokens(value))


@lru_cache(maxsize=50_000)
def _brand_tokens(brand: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tokens, pinyin) of a brand with its aliases."""
    norm = stext.normalize(brand)
    tokens = [norm.replace(" ", "")] + list(_tokens(brand))
    for alias in stext.lexicon.brand_aliases(brand):
        tokens += [alias.replace(" ", "")] + list(_tokens(alias))
    return tuple(tokens), tuple(dict.fromkeys(_pinyin_of([brand])))


@lru_cache(maxsize=400_000)
def _model_tokens(model: str) -> tuple[str, ...]:
    norm = stext.normalize(model)
    return (norm.replace(" ", "").replace("-", ""),) + _tokens(model)


def build_document(row) -> dict:
    """The document of one product row (from ``_product_columns``): filter columns, token lists
    per field (embedded engines) and raw fields (Elasticsearch)."""
    cat = _category_info(row.category_code)
    brand = (row.brand or "").strip()
    brand_tokens: list[str] = []
    pinyin: list[str] = list(cat["pinyin"])
    if brand:
        toks, py = _brand_tokens(brand)
        brand_tokens += toks
        pinyin += py
    if row.model:
        brand_tokens += _model_tokens(row.model)
    if row.manufacturer and row.manufacturer != brand:
        brand_tokens += _tokens(row.manufacturer)
    spec_values = _specs_values(row.specs)
    spec_tokens: list[str] = []
    for value in spec_values:
        spec_tokens += _tokens(value[:100])
    title_tokens = stext.index_tokens(row.title)
    fields = {
        "title": title_tokens,
        "brand": brand_tokens,
        "category": cat["tokens"],
        "specs": spec_tokens,
        "supplier": list(_tokens(row.supplier_name or "")),
        "pinyin": pinyin,
    }
    sales = int(row.sales_count or 0)
    is_sme = bool(row.is_sme)
    return {
        "id": doc_id(row.id, sales, is_sme),
        "product_id": row.id,
        "zone_code": row.zone_code,
        "category_code": row.category_code,
        "brand": brand or None,
        "supplier_id": row.supplier_id,
        "agreement_id": row.agreement_id,
        "is_sme": is_sme,
        "price": row.price,
        "price_band": price_band(row.price),
        "stock": int(row.stock or 0),
        "sales_count": sales,
        "listed_at": row.listed_at or row.created_at,
        "fields": fields,
        # raw text for Elasticsearch (it analyses text itself)
        "raw": {
            "title": row.title, "brand": brand or None, "model": row.model, "manufacturer": row.manufacturer,
            "specs": " ".join(spec_values), "description": (row.description or "")[:500],
            "supplier_name": row.supplier_name, "category_name": cat["name"], "category_path": cat["path"],
            "category_aliases": list(cat["aliases"]), "brand_aliases": list(stext.lexicon.brand_aliases(brand)),
            "pinyin": " ".join(pinyin),
        },
    }


def _dialect_of(session_or_conn) -> str:
    bind = session_or_conn.get_bind() if hasattr(session_or_conn, "get_bind") else session_or_conn
    return bind.dialect.name


def load_documents(session_or_conn, product_ids: list[int]) -> tuple[list[dict], list[int]]:
    """Documents of the sellable products among ``product_ids`` and the ids that have none."""
    docs, seen = [], set()
    for start in range(0, len(product_ids), 2000):
        chunk = product_ids[start:start + 2000]
        from catalog.models import Product

        if _dialect_of(session_or_conn) == "postgresql":
            # one array parameter: an IN list of 2,000 placeholders costs psycopg ~60 ms to parse
            where = Product.id == any_(sa_cast(chunk, ARRAY(Integer)))
        else:
            where = Product.id.in_(chunk)
        for row in session_or_conn.execute(_product_columns().where(where)):
            if row.sellable:
                docs.append(build_document(row))
                seen.add(row.id)
    gone = [pid for pid in product_ids if pid not in seen]
    return docs, gone


# ====================================================================== writing the embedded index

_MAX_POSITION = 16383  # PostgreSQL's largest lexeme position
# "1A", "2A", … per weight, made once for the first positions (documents rarely have more tokens):
# formatting a position per token was a third of a document's cost
_LABELS = {w: [f"{i}{w}" for i in range(1024)] for w in "ABCD"}


def _label(labels: list[str], pos: int, weight: str) -> str:
    return labels[pos] if pos < 1024 else f"{min(pos, _MAX_POSITION)}{weight}"


def _tsvector_literal(fields: dict) -> str:
    """A tsvector literal with positions and weights: 'token':1A,7B ... (no parser involved)."""
    positions: dict[str, list[str]] = {}
    pos = 0
    for name in FTS_COLUMNS:
        weight = PG_WEIGHTS[name]
        labels = _LABELS[weight]
        for tok in fields[name]:
            pos += 1
            entry = positions.get(tok)
            if entry is None:
                positions[tok] = [labels[pos] if pos < 1024 else _label(labels, pos, weight)]
            elif len(entry) < 64:
                entry.append(labels[pos] if pos < 1024 else _label(labels, pos, weight))
    return " ".join(
        "'" + (tok.replace("\\", "\\\\").replace("'", "''") if "'" in tok or "\\" in tok else tok) + "':"
        + ",".join(plist) for tok, plist in positions.items())


def _doc_row(doc: dict, postgres: bool) -> dict:
    row = {k: doc[k] for k in ("id", "product_id", "zone_code", "category_code", "brand", "supplier_id",
                               "agreement_id", "is_sme", "price", "price_band", "stock", "sales_count",
                               "listed_at")}
    row["tsv"] = _tsvector_literal(doc["fields"]) if postgres else None
    return row


def _sqlite_datetime(value) -> Optional[str]:
    """The storage format of SQLAlchemy's DateTime on SQLite (UTC, no zone)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


_PG_COLUMNS = ("id, product_id, zone_code, category_code, brand, supplier_id, agreement_id, is_sme, price, "
               "price_band, stock, sales_count, listed_at, tsv")


def render_rows(docs: list[dict], dialect: str) -> list[tuple]:
    """Documents as the rows a rebuild writes: (search_doc row with the tsvector literal) on
    PostgreSQL, (search_doc row, search_fts row) on SQLite.  Plain tuples: cheap to pass between
    processes."""
    if dialect == "postgresql":
        return [(d["id"], d["product_id"], d["zone_code"], d["category_code"], d["brand"], d["supplier_id"],
                 d["agreement_id"], d["is_sme"], d["price"], d["price_band"], d["stock"], d["sales_count"],
                 d["listed_at"], _tsvector_literal(d["fields"])) for d in docs]
    return [((d["id"], d["product_id"], d["zone_code"], d["category_code"], d["brand"], d["supplier_id"],
              d["agreement_id"], 1 if d["is_sme"] else 0, float(d["price"]), d["price_band"], d["stock"],
              d["sales_count"], _sqlite_datetime(d["listed_at"])),
             (d["id"],) + tuple(" ".join(d["fields"][c]) for c in FTS_COLUMNS)) for d in docs]


def write_rendered(conn: Connection, rows: list[tuple], table: str = "search_doc") -> None:
    """Append rendered rows (a rebuild: into the tables emptied in this transaction, or into the
    new table of a bulk rebuild on PostgreSQL)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table} ({_PG_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        conn.exec_driver_sql("INSERT INTO search_doc (id, product_id, zone_code, category_code, brand, supplier_id, "
                             "agreement_id, is_sme, price, price_band, stock, sales_count, listed_at) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [r[0] for r in rows])
        conn.exec_driver_sql("INSERT INTO search_fts (rowid, title, brand, category, specs, supplier, pinyin) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", [r[1] for r in rows])


def write_documents(conn: Connection, docs: list[dict], gone: Iterable[int] = (), *, fresh: bool = False) -> None:
    """Upsert ``docs`` and delete the documents of ``gone`` product ids, on ``conn`` (in its transaction)."""
    postgres = conn.dialect.name == "postgresql"
    table = SearchDoc.__table__
    ids = [d["product_id"] for d in docs] + list(gone)
    if ids and not fresh:
        for start in range(0, len(ids), 5000):
            conn.execute(delete(table).where(table.c.product_id.in_(ids[start:start + 5000])))
    if not docs:
        return
    if fresh:
        write_rendered(conn, render_rows(docs, conn.dialect.name))  # COPY on PostgreSQL
    elif postgres:
        # an upsert: a rebuild running meanwhile may have written this product's row after our
        # delete looked (it held the row; we waited); ours is the newer document
        conn.execute(text(
            "INSERT INTO search_doc (id, product_id, zone_code, category_code, brand, supplier_id, agreement_id, "
            "is_sme, price, price_band, stock, sales_count, listed_at, tsv) VALUES (:id, :product_id, :zone_code, "
            ":category_code, :brand, :supplier_id, :agreement_id, :is_sme, :price, :price_band, :stock, "
            ":sales_count, :listed_at, CAST(:tsv AS tsvector)) ON CONFLICT (product_id) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in _PG_COLUMNS.replace(" ", "").split(",") if c != "product_id")),
            [_doc_row(d, True) for d in docs])
    else:
        write_rendered(conn, render_rows(docs, "sqlite"))


def reindex_products(conn: Connection, product_ids: list[int]) -> int:
    """Rewrite the embedded documents of these products (deleting those that may not be sold)."""
    if not product_ids:
        return 0
    _ensure(conn)
    docs, gone = load_documents(conn, sorted(set(product_ids)))
    write_documents(conn, docs, gone)
    return len(docs)


# ====================================================================== change capture

WATCH = {
    # model name: (entity, attributes whose change matters; None = any column)
    "Product": ("product", None),
    "SupplierProfile": ("supplier", {"status"}),
    "Organisation": ("supplier", {"name"}),
    "Agreement": ("agreement", {"status", "term_start", "term_end"}),
    "AgreementPrice": ("agreement_price", None),
}


def _entity_of(obj, changed_only: bool) -> Optional[tuple[str, int]]:
    spec = WATCH.get(type(obj).__name__)
    if spec is None:
        return None
    entity, attrs = spec
    if type(obj).__name__ == "Organisation" and getattr(obj, "kind", None) != "supplier":
        return None
    if changed_only and attrs is not None:
        state = inspect(obj)
        if not any(state.attrs[a].history.has_changes() for a in attrs):
            return None
    if entity == "supplier" and type(obj).__name__ == "SupplierProfile":
        return entity, obj.organisation_id
    if entity == "agreement_price":
        return entity, obj.id
    return entity, obj.id


def _changes_of(session: Session) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for obj in list(session.new) + list(session.deleted):
        ent = _entity_of(obj, changed_only=False)
        if ent and ent[1] is not None:
            out.setdefault(ent[0], set()).add(ent[1])
    for obj in session.dirty:
        if type(obj).__name__ in WATCH and session.is_modified(obj, include_collections=False):
            ent = _entity_of(obj, changed_only=True)
            if ent and ent[1] is not None:
                out.setdefault(ent[0], set()).add(ent[1])
    return out


def expand_to_products(conn, changes: dict[str, set[int]]) -> set[int]:
    """Product ids concerned by changed products, suppliers, agreements and agreement prices."""
    from catalog.models import AgreementPrice, Product

    ids = set(changes.get("product", ()))
    if changes.get("supplier"):
        ids.update(conn.execute(select(Product.id).where(Product.supplier_id.in_(changes["supplier"]))).scalars())
    if changes.get("agreement"):
        ids.update(conn.execute(select(Product.id).join(AgreementPrice, AgreementPrice.id == Product.agreement_price_id)
                                .where(AgreementPrice.agreement_id.in_(changes["agreement"]))).scalars())
    if changes.get("agreement_price"):
        ids.update(conn.execute(select(Product.id)
                                .where(Product.agreement_price_id.in_(changes["agreement_price"]))).scalars())
    return ids


def _es_configured() -> bool:
    return has_app_context() and current_app.config.get("SEARCH_ENGINE") == "elasticsearch"


def apply_changes(session: Session, changes: dict[str, set[int]]) -> None:
    """Within the session's transaction: rewrite embedded documents and queue outbox rows."""
    if not changes or session.info.get("search_sync_disabled"):
        return
    conn = session.connection()
    _ensure(conn)
    product_ids = expand_to_products(conn, changes)
    reindex_products(conn, sorted(product_ids))
    _queue_for_es(session, conn, changes)


def _queue_for_es(session: Session, conn: Connection, changes: dict[str, set[int]]) -> None:
    """With Elasticsearch configured: the changed entities into the outbox, in this transaction
    (drained after the commit)."""
    if not _es_configured():
        return
    now = utcnow()
    rows = [{"entity": entity, "entity_id": int(i), "created_at": now, "attempts": 0}
            for entity, idset in changes.items() for i in sorted(idset)]
    if rows:
        conn.execute(insert(SearchOutbox.__table__), rows)
        session.info["search_outbox_written"] = True


def _after_flush(session: Session, flush_context) -> None:
    if session.info.get("search_sync_disabled"):
        return
    changes = _changes_of(session)
    if changes:
        apply_changes(session, changes)


def _do_orm_execute(state) -> None:
    """ORM bulk UPDATE/DELETE of watched models (e.g. ``update(Product).where(...)``): find the rows
    first, run the statement, then index them as any other change."""
    if not (state.is_update or state.is_delete) or state.session.info.get("search_sync_disabled"):
        return None
    mapper = state.bind_mapper
    core = mapper is None  # a Core statement on a mapped table, e.g. update(Product.__table__)
    if core:
        mapper = _mapper_of_table(getattr(state.statement, "table", None))
    if mapper is None or mapper.class_.__name__ not in WATCH:
        return None
    entity, _attrs = WATCH[mapper.class_.__name__]
    cls = mapper.class_
    key_col = cls.organisation_id if cls.__name__ == "SupplierProfile" else cls.id
    where = state.statement.whereclause
    light = cls.__name__ == "Product" and state.is_update and _updated_columns(state.statement) <= LIGHT_COLUMNS
    named = _ids_named_by(where, mapper.local_table.c.id) if light else None
    if named is not None:
        # a stock move of rows named by id (each checkout): no need to look them up first;
        # copying the stock of a named row that the condition left alone is harmless
        session = state.session
        if core and session.get_bind().dialect.name == "postgresql" and not getattr(state.statement, "_returning", ()):
            # one round trip: the documents take the new stock in a WITH of the product UPDATE;
            # the answer is the moved rows' ids, so rowcount still counts the products moved.
            # (Core statements only: an ORM UPDATE also brings the session's objects up to date)
            conn = session.connection()
            _ensure(conn)
            result = state.invoke_statement(statement=_with_documents_stock(state.statement, mapper.local_table))
            if result.rowcount:
                _queue_for_es(session, conn, {"product": named})
            return result
        result = state.invoke_statement()
        if result.rowcount:
            _apply_stock_only(session, named)
        return result
    ids_stmt = select(key_col) if where is None else select(key_col).where(where)
    ids = set(state.session.execute(ids_stmt, execution_options={"search_internal": True}).scalars())
    result = state.invoke_statement()
    if ids:
        if light:
            _apply_stock_only(state.session, ids)
        else:
            apply_changes(state.session, {entity: ids})
    return result


def _ids_named_by(where, id_col) -> set[int] | None:
    """The ids a WHERE clause pins the rows to (``id = :x`` or ``id IN (...)`` as one of its
    AND-ed terms), or None when it does not."""
    if where is None:
        return None
    terms = where.clauses if getattr(where, "operator", None) is operators.and_ else (where,)
    for term in terms:
        left, right, op = getattr(term, "left", None), getattr(term, "right", None), getattr(term, "operator", None)
        if left is None or not isinstance(right, BindParameter) or not left.compare(id_col):
            continue
        value = right.effective_value
        if op is operators.eq and isinstance(value, int):
            return {value}
        if op is operators.in_op and isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
            return set(value)
    return None


def _mapper_of_table(table):
    if table is None:
        return None
    return _watched_mappers_by_table().get(table)


@lru_cache(maxsize=1)
def _watched_mappers_by_table() -> dict:
    """Watched models by table, built once (consulted on every Core UPDATE, e.g. each checkout)."""
    return {m.local_table: m for m in db.Model.registry.mappers if m.class_.__name__ in WATCH}


# A checkout only moves stock: copy the figure into the documents instead of rebuilding them
# (no re-segmentation, no tsvector rewrite): the hot path of every order.
LIGHT_COLUMNS = frozenset({"stock"})


def _updated_columns(stmt) -> set[str]:
    values = getattr(stmt, "_values", None) or {}
    return {getattr(k, "key", None) or getattr(k, "name", None) or str(k) for k in values}


def _with_documents_stock(stmt, table):
    """PostgreSQL: ``stmt`` (an UPDATE of product's stock) as ``WITH moved AS (stmt RETURNING id,
    stock), docs AS (UPDATE search_doc SET stock = moved.stock FROM moved ...) SELECT id FROM moved``."""
    moved = stmt.returning(table.c.id, table.c.stock).cte("moved")
    doc = SearchDoc.__table__
    docs = update(doc).where(doc.c.product_id == moved.c.id).values(stock=moved.c.stock).cte("docs")
    return select(moved.c.id).add_cte(docs)


def _apply_stock_only(session: Session, product_ids: set[int]) -> None:
    """The documents take the products' new stock; Elasticsearch, when configured, gets them
    through the outbox."""
    from catalog.models import Product

    conn = session.connection()
    _ensure(conn)
    doc = SearchDoc.__table__
    conn.execute(update(doc).where(doc.c.product_id.in_(sorted(product_ids)))
                 .values(stock=select(Product.stock).where(Product.id == doc.c.product_id).scalar_subquery()))
    _queue_for_es(session, conn, {"product": product_ids})


def _after_commit(session: Session) -> None:
    if session.info.pop("search_outbox_written", False):
        _after_commit_drain()


def _after_commit_drain() -> None:
    try:
        from .tasks import drain_outbox

        if has_app_context() and current_app.config.get("CELERY_ALWAYS_EAGER"):
            drain_outbox.apply()
        else:
            drain_outbox.delay()
    except Exception:  # noqa: BLE001 - the rows are durable; the beat schedule drains them
        log.warning("could not trigger search.drain_outbox", exc_info=True)


def _after_rollback(session: Session) -> None:
    session.info.pop("search_outbox_written", None)


def install_listeners() -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _do_orm_execute)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", lambda s, prev: _after_rollback(s))


install_listeners()


# ====================================================================== outbox drain (Elasticsearch)

def acquire_lease(holder: str, now: dt.datetime | None = None, seconds: int = SYNC_LEASE_SECONDS) -> bool:
    """Take (or renew) the Elasticsearch writer's lease; False while another holder has it."""
    now = now or utcnow()
    t = SearchLease.__table__
    with Session(db.engine) as session:
        taken = session.execute(
            update(t).where(t.c.name == SYNC_LEASE,
                            or_(t.c.holder.is_(None), t.c.holder == holder, t.c.expires_at < now))
            .values(holder=holder, expires_at=now + dt.timedelta(seconds=seconds))).rowcount
        if not taken and session.scalar(select(t.c.name).where(t.c.name == SYNC_LEASE)) is None:
            try:
                session.execute(insert(t).values(name=SYNC_LEASE, holder=holder,
                                                 expires_at=now + dt.timedelta(seconds=seconds)))
                taken = 1
            except IntegrityError:  # another process made the row first: it holds the lease
                session.rollback()
                return False
        session.commit()
        return bool(taken)


def release_lease(holder: str) -> None:
    t = SearchLease.__table__
    with Session(db.engine) as session:
        session.execute(update(t).where(t.c.name == SYNC_LEASE, t.c.holder == holder)
                        .values(holder=None, expires_at=None))
        session.commit()


def claim(session: Session, worker: str, batch: int, now: dt.datetime | None = None) -> list[SearchOutbox]:
    """Claim up to ``batch`` rows not claimed, or whose claim has expired, and not set aside
    (refused ``MAX_ATTEMPTS`` times); commit the claim."""
    now = now or utcnow()
    stale = now - dt.timedelta(seconds=LEASE_SECONDS)
    t = SearchOutbox.__table__
    pick = (select(t.c.id).where((t.c.claimed_at.is_(None)) | (t.c.claimed_at < stale))
            .where(t.c.attempts < MAX_ATTEMPTS).order_by(t.c.id).limit(batch))
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    session.execute(update(t).where(t.c.id.in_(pick)).values(claimed_by=worker, claimed_at=now))
    session.commit()
    return list(session.scalars(select(SearchOutbox).where(SearchOutbox.claimed_by == worker)
                                .order_by(SearchOutbox.id)))


def _release_rows(session: Session, ids: list[int], token: str, error: str) -> None:
    session.execute(update(SearchOutbox).where(SearchOutbox.id.in_(ids), SearchOutbox.claimed_by == token)
                    .values(claimed_by=None, claimed_at=None, last_error=error[:300]))


def drain(batch: int = 500, max_batches: int | None = None, now: dt.datetime | None = None,
          worker: str | None = None) -> dict:
    """Apply the outbox to Elasticsearch. Returns {"applied", "batches", "left", "refused",
    "set_aside", "error"}; "busy" when another drain or a reindex holds the writer's lease."""
    from . import get_es_engine
    from .es import BulkItemsFailed

    applied = batches = refused = 0
    held: list[int] = []
    error = None
    es = get_es_engine()
    if es is None:
        with Session(db.engine) as session:
            # no external engine configured: the embedded index is already up to date
            n = session.execute(delete(SearchOutbox)).rowcount
            session.commit()
        return {"applied": 0, "discarded": n, "batches": 0, "left": 0, "error": None}
    holder = (worker or "w") + "-" + uuid.uuid4().hex[:12]
    if not acquire_lease(holder, now):
        return {"applied": 0, "batches": 0, "left": outbox_counts()[0], "busy": True, "error": None}
    try:
        with Session(db.engine) as session:
            while max_batches is None or batches < max_batches:
                if batches and not acquire_lease(holder, now):
                    error = "lease lost (a batch outlasted SYNC_LEASE_SECONDS)"
                    break
                token = holder + f"-{batches}"
                rows = claim(session, token, batch, now)
                if not rows:
                    break
                batches += 1
                changes: dict[str, set[int]] = {}
                for r in rows:
                    changes.setdefault(r.entity, set()).add(r.entity_id)
                ids = [r.id for r in rows]
                keep: list[int] = []
                try:
                    product_ids = sorted(expand_to_products(session, changes))
                    docs, gone = load_documents(session, product_ids)
                    es.apply(docs, gone)
                except BulkItemsFailed as exc:
                    # the cluster answered and refused some documents: keep only the rows that
                    # stand for them (a supplier or agreement row may stand for several)
                    keep = [r.id for r in rows if (r.entity_id in exc.failed if r.entity == "product" else any(
                        pid in exc.failed for pid in expand_to_products(session, {r.entity: {r.entity_id}})))]
                    error = str(exc)[:300]
                    refused += len(keep)
                    held += keep  # stay claimed until this drain ends: tried once per drain
                    session.rollback()
                    # only a refusal counts towards setting a row aside (an outage does not)
                    session.execute(update(SearchOutbox).where(SearchOutbox.id.in_(keep))
                                    .values(last_error=error, attempts=SearchOutbox.attempts + 1))
                    log.error("search outbox: Elasticsearch refused %d documents, %d rows kept: %s",
                              len(exc.failed), len(keep), error)
                except Exception as exc:  # noqa: BLE001 - cluster unreachable: release the claim, keep the rows
                    error = f"{type(exc).__name__}: {exc}"[:300]
                    session.rollback()
                    _release_rows(session, ids, token, error)
                    session.commit()
                    log.warning("search outbox: Elasticsearch update failed, %d rows kept: %s", len(ids), error)
                    break
                done = [i for i in ids if i not in set(keep)]
                session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_(done),
                                                           SearchOutbox.claimed_by == token))
                session.commit()
                applied += len(done)
            if held:
                session.execute(update(SearchOutbox).where(SearchOutbox.id.in_(held),
                                                           SearchOutbox.claimed_by.startswith(holder))
                                .values(claimed_by=None, claimed_at=None))
                session.commit()
            left, set_aside = outbox_counts(session)
    finally:
        release_lease(holder)
    return {"applied": applied, "batches": batches, "left": left, "refused": refused, "set_aside": set_aside,
            "error": error}


def outbox_counts(session=None) -> tuple[int, int]:
    """(rows waiting, rows set aside: refused MAX_ATTEMPTS times, no longer retried) in one
    statement; (-1, -1) when the outbox cannot be read."""
    session = session if session is not None else db.session
    try:
        row = session.execute(select(func.count(), func.count().filter(SearchOutbox.attempts >= MAX_ATTEMPTS))
                              .select_from(SearchOutbox)).one()
        return int(row[0]), int(row[1])
    except Exception:  # noqa: BLE001
        session.rollback()
        return -1, -1


# ====================================================================== full rebuild

_worker_app = None


def _worker_init() -> None:
    # a forked worker must not share the parent's pooled connections
    with _worker_app.app_context():
        db.engine.dispose(close=False)


def _worker_build(args):
    chunk, with_raw = args
    with _worker_app.app_context():
        with db.engine.connect() as conn:
            docs, _gone = load_documents(conn, chunk)
            dialect = conn.dialect.name
    order = {pid: i for i, pid in enumerate(chunk)}
    docs.sort(key=lambda d: order[d["product_id"]])
    # only plain tuples travel back (and the documents when Elasticsearch needs them)
    return chunk, render_rows(docs, dialect), (docs if with_raw else None)


def _documents_of_chunks(conn, chunks, with_raw: bool, workers: int):
    """(chunk, documents) for each chunk of product ids: segmentation (the costly part) runs in
    ``workers`` forked processes while this one writes (the project brief's PERF_NOTES.md: two processes ~1.8×)."""
    global _worker_app
    if workers <= 1 or len(chunks) < 4:
        for chunk in chunks:
            docs = load_documents(conn, chunk)[0]
            order = {pid: i for i, pid in enumerate(chunk)}
            docs.sort(key=lambda d: order[d["product_id"]])
            yield chunk, render_rows(docs, conn.dialect.name), docs
        return
    import multiprocessing

    _worker_app = current_app._get_current_object()
    stext.segmenter()  # loaded once, inherited by the workers
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes=workers, initializer=_worker_init) as pool:
        yield from pool.imap(_worker_build, [(c, with_raw) for c in chunks], chunksize=1)


PG_BUILD_TABLE = "search_doc_build"
BULK_REBUILD_MIN = 50_000   # PostgreSQL: from this many documents, build a new table and swap it in
SWAP_LOCK_TIMEOUT = "10s"   # how long the swap waits for readers before writing row by row instead


def bulk_rebuild_min() -> int:
    if has_app_context():
        return int(current_app.config.get("SEARCH_BULK_REBUILD_MIN", BULK_REBUILD_MIN))
    return BULK_REBUILD_MIN


def _index_and_swap(conn: Connection) -> bool:
    """The end of a bulk rebuild on PostgreSQL (in its transaction): give the new table every index
    and constraint ``search_doc`` has (definitions read from the catalog, so whatever the
    migrations made is copied as it is), then replace ``search_doc`` with it. Returns True.

    Building each index once over all rows costs a fraction of maintaining it row by row (GIN above
    all: measured at 1M, 0.23 → ~0.08 ms of PostgreSQL CPU per document), and the old documents go
    with their table instead of being deleted and vacuumed. Readers use the old table until the
    commit. The swap needs the table to itself: it waits at most ``SWAP_LOCK_TIMEOUT`` for open
    transactions that read it (never queueing every search behind a forgotten one); when that
    is not enough the documents are written into the live table row by row instead (False)."""
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
    rows = conn.exec_driver_sql(
        "SELECT i.relname, pg_get_indexdef(i.oid), c.conname, c.contype "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.conrelid = x.indrelid "
        "WHERE x.indrelid = 'search_doc'::regclass ORDER BY i.relname").all()
    savepoint = conn.begin_nested()
    try:
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
        conn.exec_driver_sql("LOCK TABLE search_doc IN ACCESS EXCLUSIVE MODE")
    except DBAPIError:
        savepoint.rollback()
        conn.exec_driver_sql("DELETE FROM search_doc")
        # (a writer may have inserted a newly listed product's document meanwhile: the change log
        # has it, and the catch-up renders it again)
        conn.exec_driver_sql(f"INSERT INTO search_doc ({_PG_COLUMNS}) SELECT {_PG_COLUMNS} FROM {PG_BUILD_TABLE} "
                             "ON CONFLICT (product_id) DO NOTHING")
        conn.exec_driver_sql(f"DROP TABLE {PG_BUILD_TABLE}")
        return False
    savepoint.commit()
    conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
    renames = []
    for index_name, definition, constraint, kind in rows:
        temp = f"{index_name[:50]}_build"
        ddl = definition.replace(f"INDEX {index_name} ON ", f"INDEX {temp} ON ", 1)
        ddl = re.sub(r" ON (public\.)?search_doc ", f" ON {PG_BUILD_TABLE} ", ddl, count=1)
        conn.exec_driver_sql(ddl)
        if constraint:
            word = "PRIMARY KEY" if kind == "p" else "UNIQUE"
            conn.exec_driver_sql(f"ALTER TABLE {PG_BUILD_TABLE} ADD CONSTRAINT {temp} {word} USING INDEX {temp}")
            renames.append(f"ALTER TABLE search_doc RENAME CONSTRAINT {temp} TO {constraint}")
        else:
            renames.append(f"ALTER INDEX {temp} RENAME TO {index_name}")
    conn.exec_driver_sql("DROP TABLE search_doc")
    conn.exec_driver_sql(f"ALTER TABLE {PG_BUILD_TABLE} RENAME TO search_doc")
    for ddl in renames:
        conn.exec_driver_sql(ddl)
    return True


# PostgreSQL: while a rebuild reads the products, writers keep changing the live search_doc; a
# trigger notes which products they touched, and the rebuild renders those again at the end
# (under the swap's lock), so nothing changed meanwhile is lost. The rebuild's own writes are not
# noted (govmall.rebuilding is set in its transaction). The trigger is enabled and disabled, not
# created and dropped: DROP TRIGGER would wait for every reader and queue all searches behind it,
# while CREATE and ENABLE/DISABLE only wait for writers (SHARE ROW EXCLUSIVE).
REBUILD_LOG = "search_rebuild_log"
REBUILD_TRIGGER = "search_doc_rebuild_note"
_LOG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION search_rebuild_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF coalesce(current_setting('govmall.rebuilding', true), '') <> 'on' THEN "
    f"INSERT INTO {REBUILD_LOG} VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.product_id ELSE NEW.product_id END); "
    "END IF; RETURN NULL; END $$")


def _trigger_state(conn: Connection) -> Optional[str]:
    """'O' enabled, 'D' disabled, None missing (a bulk rebuild's new table starts without it)."""
    return conn.exec_driver_sql(
        "SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'search_doc'::regclass AND tgname = %s",
        (REBUILD_TRIGGER,)).scalar()


def _start_change_log(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
        conn.exec_driver_sql(f"CREATE UNLOGGED TABLE IF NOT EXISTS {REBUILD_LOG} (product_id integer NOT NULL)")
        conn.exec_driver_sql(f"DELETE FROM {REBUILD_LOG}")
        conn.exec_driver_sql(_LOG_FUNCTION)
        state = _trigger_state(conn)
        if state is None:
            conn.exec_driver_sql(f"CREATE TRIGGER {REBUILD_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON search_doc "
                                 "FOR EACH ROW EXECUTE FUNCTION search_rebuild_note()")
        elif state == "D":
            conn.exec_driver_sql(f"ALTER TABLE search_doc ENABLE TRIGGER {REBUILD_TRIGGER}")


def _stop_change_log(engine: Engine) -> None:
    """After the rebuild's commit (after a swap the new table has no trigger at all)."""
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
            if _trigger_state(conn) not in (None, "D"):
                conn.exec_driver_sql(f"ALTER TABLE search_doc DISABLE TRIGGER {REBUILD_TRIGGER}")
            conn.exec_driver_sql(f"DELETE FROM {REBUILD_LOG}")
    except DBAPIError:  # the next rebuild starts by clearing the log anyway
        log.warning("could not switch the rebuild change log off", exc_info=True)


def _catch_up(conn: Connection) -> int:
    """Render again the products writers touched during the rebuild; their number."""
    changed = [r[0] for r in conn.exec_driver_sql(f"SELECT DISTINCT product_id FROM {REBUILD_LOG}")]
    for start in range(0, len(changed), 2000):
        reindex_products(conn, changed[start:start + 2000])
    return len(changed)


def rebuild_index(progress: Optional[Callable[[str], None]] = None,
                  on_batch: Optional[Callable[[int, int], None]] = None, batch_size: int = 2000,
                  include_es: bool = True, workers: Optional[int] = None) -> dict:
    """Rebuild the embedded index from the database in one transaction (readers keep the old one
    until commit), and, with Elasticsearch configured, a new ES index switched in by alias.

    ``progress`` gets messages (e.g. ``click.echo``); ``on_batch(done, total)`` gets counts.
    Returns {"products", "seconds", "per_second", "es": {...} | None}."""
    from catalog.models import Product
    from catalog.queries import sellable_condition

    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    if workers is None:
        import os

        workers = min(4, os.cpu_count() or 1)
    engine = db.engine
    ensure_schema(engine)
    es = None
    es_job = None
    lease = None
    if include_es:
        from . import get_es_engine

        es = get_es_engine()
    if es is not None:
        # hold the writer's lease for the whole rebuild, up to the alias switch: drains wait, and
        # what changes meanwhile stays in the outbox until the new index is in place. Taken once
        # for an hour (on SQLite the rebuild's write transaction would block a renewal); released
        # however the rebuild ends, so only a killed process leaves it to expire
        lease = "reindex-" + uuid.uuid4().hex[:12]
        deadline = time.monotonic() + SYNC_LEASE_SECONDS + 5
        while not acquire_lease(lease, seconds=REINDEX_LEASE_SECONDS):
            if time.monotonic() > deadline:
                say("Elasticsearch 正由其他进程写入，本次只重建内置索引")
                es, lease = None, None
                break
            time.sleep(0.5)
    postgres = engine.dialect.name == "postgresql"
    es_info = None
    change_log = False
    try:
        if postgres:
            _start_change_log(engine)
            change_log = True
        with engine.begin() as conn:
            if postgres:
                conn.exec_driver_sql("SET LOCAL govmall.rebuilding = 'on'")
            else:
                # Python's sqlite3 opens the transaction only at a DML statement and would run the
                # DDL below in autocommit: a failed rebuild would leave the FTS table dropped
                conn.exec_driver_sql("DELETE FROM search_doc WHERE 0")
                # dropping the FTS table is far faster than deleting its rows one by one
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS search_doc_fts_delete")
                conn.exec_driver_sql("DROP TABLE IF EXISTS search_fts")
                conn.exec_driver_sql("DELETE FROM search_doc")
                conn.exec_driver_sql(SQLITE_DDL[0])
            # read inside the transaction: on SQLite it holds the write lock now, on PostgreSQL the
            # change log is on (a product listed from here on is in this list or in the log)
            outbox_mark = conn.scalar(select(func.max(SearchOutbox.id))) or 0
            ids = list(conn.scalars(select(Product.id).where(sellable_condition())
                                    .order_by(Product.sales_count.desc(), Product.is_sme.desc(), Product.id)))
            total = len(ids)
            say(f"重建搜索索引：{total} 件在售商品")
            if es is not None:
                try:
                    es_job = es.start_reindex()
                except Exception as exc:  # noqa: BLE001
                    say(f"Elasticsearch 不可用，只重建内置索引：{exc}")
                    es_job = None
            done = 0
            table = "search_doc"
            if postgres and total >= bulk_rebuild_min():
                bulk = True
                # a new table without indexes, filled by COPY, indexed once and swapped in at the end
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {PG_BUILD_TABLE}")
                conn.exec_driver_sql(f"CREATE TABLE {PG_BUILD_TABLE} (LIKE search_doc INCLUDING DEFAULTS "
                                     f"INCLUDING CONSTRAINTS)")
                table = PG_BUILD_TABLE
            else:
                bulk = False
                if postgres:
                    # GIN: collect new entries in a large pending list, merged once (much faster than
                    # per row)
                    conn.exec_driver_sql("SET LOCAL gin_pending_list_limit = '512MB'")
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    conn.exec_driver_sql("DELETE FROM search_doc")
            chunks = [ids[start:start + batch_size] for start in range(0, total, batch_size)]
            for chunk, rows, docs in _documents_of_chunks(conn, chunks, with_raw=es_job is not None, workers=workers):
                write_rendered(conn, rows, table=table)
                if es_job is not None:
                    try:
                        es_job.add(docs)
                    except Exception as exc:  # noqa: BLE001
                        say(f"Elasticsearch 写入失败，放弃本次 ES 重建：{exc}")
                        es_job.abandon()
                        es_job = None
                done += len(chunk)
                if on_batch:
                    on_batch(done, total)
            if bulk:
                t_index = time.perf_counter()
                swapped = _index_and_swap(conn)
                say(f"建立索引并切换用时 {time.perf_counter() - t_index:.1f} 秒" if swapped else
                    "搜索表正被长事务占用，未能切换：已改为逐行写入现有表")
            if postgres:
                caught = _catch_up(conn)
                if caught:
                    say(f"重建期间有 {caught} 件商品发生变化，已按最新状态补写")
            else:
                conn.exec_driver_sql(SQLITE_DDL[1])
                conn.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
                conn.exec_driver_sql("ANALYZE search_doc")
        if postgres:
            _stop_change_log(engine)
            change_log = False
            with engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
                t_clean = time.perf_counter()
                # statistics and the visibility map of the new documents; after a row-by-row rebuild
                # also merges the GIN pending list and reclaims the old documents (dead tuples and
                # their GIN entries) at once; else every search scans them until autovacuum comes
                # (measured: p95 ×5 after a few rebuilds)
                conn.exec_driver_sql("VACUUM (ANALYZE) search_doc")
                say(f"VACUUM/GIN 合并用时 {time.perf_counter() - t_clean:.1f} 秒")
        if es_job is not None:
            job, es_job = es_job, None
            try:
                es_info = job.finish()
                with Session(engine) as session:  # changes before the rebuild are in the new index
                    session.execute(delete(SearchOutbox).where(SearchOutbox.id <= outbox_mark,
                                                               SearchOutbox.claimed_at.is_(None)))
                    session.commit()
            except Exception as exc:  # noqa: BLE001
                say(f"Elasticsearch 切换失败：{exc}")
                es_info = {"error": str(exc)[:300]}
                job.abandon()
    except BaseException:
        if es_job is not None:
            es_job.abandon()
        raise
    finally:
        if change_log:
            _stop_change_log(engine)
        if lease is not None:
            release_lease(lease)
    if lease is not None and es_info and "error" not in es_info:
        # what changed during the rebuild waited in the outbox: apply it to the new index
        _after_commit_drain()
    from . import clear_caches

    clear_caches()
    seconds = time.perf_counter() - t0
    rate = total / seconds if seconds > 0 else 0.0
    say(f"完成：{total} 件，用时 {seconds:.1f} 秒（{rate:,.0f} 件/秒）")
    return {"products": total, "seconds": round(seconds, 2), "per_second": round(rate), "workers": workers,
            "cpu_seconds_main": round(time.process_time() - cpu0, 2), "es": es_info}
