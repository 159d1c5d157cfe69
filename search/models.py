"""Search tables: the embedded index (``search_doc``) and the outbox for external engines.

``search_doc`` holds one narrow row per *sellable* product: the filter and facet columns and,
on PostgreSQL, the weighted ``tsvector`` (GIN-indexed).  On SQLite the text lives in the FTS5
virtual table ``search_fts`` (same rowid), which SQLAlchemy cannot declare: it is created by
:func:`search.indexing.ensure_schema` (run by rebuild and at first use), with a trigger that
keeps it in step when ``search_doc`` rows are deleted.

The doc id is ``bucket << 32 | product_id`` where ``bucket`` orders products by quality (sales,
SME): FTS5 returns matches in rowid order and PostgreSQL's bitmap scans in physical (insertion)
order, so when a broad query is ranked over a capped set of candidates, the candidates are the
best-selling matches (the project brief's PERF_NOTES.md: "rowids assigned in a quality order").

``search_outbox`` is the durable queue of changes for Elasticsearch: a row per changed entity,
written by session events in the same transaction as the change, drained by the Celery task
``search.drain_outbox``, one drain at a time (``search_lease``).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Optional

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, Numeric, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from mall.extensions import db
from mall.timeutil import utcnow

# BIGINT on PostgreSQL; INTEGER on SQLite so the column is the rowid (64-bit there anyway)
DocId = BigInteger().with_variant(Integer(), "sqlite")
TsVector = Text().with_variant(TSVECTOR(), "postgresql")


class SearchDoc(db.Model):
    __tablename__ = "search_doc"
    __table_args__ = (
        Index("ix_search_doc_category", "category_code"),
        Index("ix_search_doc_brand", "brand"),
        Index("ix_search_doc_sales", "sales_count"),
        Index("ix_search_doc_zone", "zone_code", "is_sme"),
        Index("ix_search_doc_price", "price"),
        Index("ix_search_doc_listed", "listed_at"),
        # browsing a 品目 sorted by price or sales: one short index range per 品目, merged (see
        # PostgresEngine.sorted_hits); the single-column indexes alone make PostgreSQL walk every
        # cheaper product of other 品目 first (2.5 s at 1M for computers by price)
        Index("ix_search_doc_category_price", "category_code", "price"),
        Index("ix_search_doc_category_sales", "category_code", "sales_count"),
        Index("ix_search_doc_tsv", "tsv", postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(DocId, primary_key=True, autoincrement=False)
    product_id: Mapped[int] = mapped_column(Integer, unique=True)
    zone_code: Mapped[str] = mapped_column(String(20))
    category_code: Mapped[str] = mapped_column(String(12))
    brand: Mapped[Optional[str]] = mapped_column(String(100))
    supplier_id: Mapped[int] = mapped_column(Integer, index=True)
    agreement_id: Mapped[Optional[int]] = mapped_column(Integer, index=True)
    is_sme: Mapped[bool] = mapped_column(Boolean, default=False)
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    price_band: Mapped[int] = mapped_column(SmallInteger)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    sales_count: Mapped[int] = mapped_column(Integer, default=0)
    listed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    tsv: Mapped[Optional[str]] = mapped_column(TsVector)  # PostgreSQL only (NULL on SQLite)


class SearchOutbox(db.Model):
    """A change not yet applied to Elasticsearch. Claimed by a worker (claimed_by/claimed_at)
    and deleted once applied; a claim older than the lease is taken over (the worker died)."""

    __tablename__ = "search_outbox"
    __table_args__ = (Index("ix_search_outbox_claim", "claimed_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(20))     # product / supplier / agreement
    entity_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_by: Mapped[Optional[str]] = mapped_column(String(64))
    claimed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[Optional[str]] = mapped_column(String(300))


class SearchLease(db.Model):
    """Who may write to Elasticsearch now: one drain, or a full reindex, at a time.

    Two drains at once could each read a product and the slower one write the older version
    last; a drain during a reindex writes to the index about to be replaced. The holder renews the
    lease between batches; a lease not renewed in time (its holder died) can be taken over."""

    __tablename__ = "search_lease"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[Optional[str]] = mapped_column(String(64))
    expires_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))


# SQLite DDL that SQLAlchemy cannot express (also given to the Alembic migration, SQLite branch)
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5("
    "title, brand, category, specs, supplier, pinyin, tokenize = 'unicode61 remove_diacritics 0')",
    "CREATE TRIGGER IF NOT EXISTS search_doc_fts_delete AFTER DELETE ON search_doc "
    "BEGIN DELETE FROM search_fts WHERE rowid = old.id; END",
)
# PostgreSQL: the GIN index is declared on the model (created by create_all / the migration)
POSTGRES_DDL = (
    "CREATE INDEX IF NOT EXISTS ix_search_doc_tsv ON search_doc USING gin (tsv)",
)

# The session listeners that keep the index in step are installed with the models, so that every
# app (and every test) that has the tables also has the listeners.
from . import indexing as _indexing  # noqa: E402,F401
