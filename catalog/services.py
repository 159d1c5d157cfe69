"""Products of a supplier's storefront: create, edit, list/delist, stock, images, SME flags.

Every write checks ``mall.authz.require('product.create' | 'product.update', obj)`` first
(a supplier acting on another supplier's product is refused with 403 and nothing changes),
validates the fields and the zone rules of ``catalog.rules`` (on create, on every edit and
when listing) and refuses with ``ServiceError`` (422) naming the rule.  The caller commits.

Stock-only updates (:func:`update_stock`) validate the stock but do not re-check the zone
rules: a supplier must always be able to correct its stock, even of a product that can no
longer be sold (e.g. its agreement expired).
"""
from __future__ import annotations

import io
import os
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from flask import current_app
from flask_login import current_user
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from mall import audit
from mall.accounts.models import Organisation
from mall.authz import require
from mall.extensions import db
from mall.problems import NotFound, Problem, ServiceError, errors_only
from mall.timeutil import today, utcnow

from . import rules
from .models import (Agreement, AgreementPrice, AgreementSupplier, PriceHistory, Product, ProductImage,
                     Solicitation)

# Images: the format is what Pillow finds when it opens the bytes, not what the browser claims.
IMAGE_FORMATS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png"), "WEBP": ("image/webp", ".webp")}
MAX_IMAGES_PER_PRODUCT = 10
MAX_IMAGE_PIXELS = 40_000_000
IMAGE_SUBDIR = "products"

EDITABLE = ("title", "zone", "category_code", "brand", "model", "manufacturer", "unit", "price",
            "market_price", "stock", "specs", "description")


# --------------------------------------------------------------------------- facts for the rules

@dataclass
class ListingContext:
    """Facts the zone rules need about one supplier, loaded once (e.g. for a whole import)."""
    supplier_id: int
    supplier: rules.SupplierFacts | None
    agreements: list[rules.AgreementFacts]
    solicitations: list[rules.SolicitationFacts]
    day: Any
    is_sme: bool = False
    extra: dict = field(default_factory=dict)


def listing_context(supplier_id: int, day=None) -> ListingContext:
    from suppliers.models import SupplierProfile

    profile = db.session.get(SupplierProfile, supplier_id)
    org = db.session.get(Organisation, supplier_id)
    supplier = None
    if profile is not None:
        supplier = rules.SupplierFacts(id=supplier_id, name=org.name if org else "", status=profile.status,
                                       status_reason=profile.status_reason,
                                       pavilion_status=profile.pavilion_status or "none",
                                       sme_size=profile.sme_size)
    entrant = dict(db.session.execute(
        select(AgreementSupplier.agreement_id, AgreementSupplier.status)
        .where(AgreementSupplier.supplier_id == supplier_id)).all())
    prices: dict[int, list[rules.PriceFacts]] = defaultdict(list)
    for p in db.session.scalars(select(AgreementPrice).where(AgreementPrice.supplier_id == supplier_id)):
        prices[p.agreement_id].append(rules.PriceFacts(p.id, p.brand, p.model, p.max_price, p.category_code))
    agreements = [
        rules.AgreementFacts(id=a.id, number=a.number, title=a.title, kind=a.kind, status=a.status,
                             term_start=a.term_start, term_end=a.term_end,
                             category_codes=tuple(a.category_codes), entrant_status=entrant.get(a.id),
                             prices=tuple(prices.get(a.id, ())))
        for a in db.session.scalars(select(Agreement).options(selectinload(Agreement.categories))
                                    .where(Agreement.status != "draft").order_by(Agreement.id))]
    solicitations = [rules.SolicitationFacts(s.category_code, s.status, s.valid_from, s.valid_to, s.title)
                     for s in db.session.scalars(select(Solicitation))]
    return ListingContext(supplier_id, supplier, agreements, solicitations, day or today(),
                          is_sme=supplier_is_sme(supplier_id))


def supplier_is_sme(supplier_id: int) -> bool:
    """The SME label of a supplier's products: the supplier's declared size is micro/small/medium,
    and, when its declaration names the manufacturer of its goods, that manufacturer is an SME too
    (财库〔2020〕46号: for goods the manufacturer must be an SME, not only the dealer)."""
    from suppliers.models import SME_SIZES, SmeDeclaration, SupplierProfile

    profile = db.session.get(SupplierProfile, supplier_id)
    if profile is None or profile.sme_size not in SME_SIZES:
        return False
    decl = db.session.scalars(select(SmeDeclaration).where(SmeDeclaration.supplier_id == supplier_id,
                                                           SmeDeclaration.is_current.is_(True))).first()
    if decl is not None and decl.manufacturer_size and decl.manufacturer_size not in SME_SIZES:
        return False
    return True


def _facts(values: Mapping) -> rules.ListingFacts:
    return rules.ListingFacts(zone=values["zone"], category_code=values["category_code"], price=values["price"],
                              brand=values.get("brand"), model=values.get("model"))


def validate(values: Mapping, ctx: ListingContext, field_problems: list[Problem]) -> list[Problem]:
    """All problems of a product's (merged, cleaned) values: field problems plus the listing
    rules that can be judged with the fields that are valid."""
    problems = list(field_problems)
    bad = {p.field for p in field_problems}
    if values.get("category_code") and "category_code" not in bad:
        problems += rules.check_category(values["category_code"])
    problems += rules.check_supplier_can_list(ctx.supplier)
    if errors_only(problems):
        return problems
    return problems + rules.check_zone(_facts(values), ctx.supplier, ctx.agreements, ctx.solicitations, ctx.day)


def _agreement_price_id(values: Mapping, ctx: ListingContext) -> int | None:
    if values["zone"] != "central":
        return None
    match = rules.match_agreement_price(_facts(values), ctx.agreements, ctx.day)
    return match.id if match else None


def _actor_id(user=None) -> int | None:
    user = user or current_user
    return user.id if getattr(user, "is_authenticated", False) else None


def _values_of(product: Product) -> dict:
    return {"title": product.title, "zone": product.zone_code, "category_code": product.category_code,
            "brand": product.brand, "model": product.model, "manufacturer": product.manufacturer,
            "unit": product.unit, "price": product.price, "market_price": product.market_price,
            "stock": product.stock, "specs": dict(product.specs or {}), "description": product.description}


def warnings_for(product: Product) -> list[Problem]:
    """Non-blocking notices about a product (price above its market reference price)."""
    return rules.price_warnings(product.price, product.market_price)


# --------------------------------------------------------------------------- products

def create_product(data: Mapping[str, Any], *, list_now: bool = False, user=None,
                   ctx: ListingContext | None = None, flush: bool = True) -> Product:
    """Create a product of the acting supplier (draft, or listed when ``list_now``).
    ``flush=False`` leaves the flush to the caller (bulk import flushes in batches)."""
    user = user or current_user
    org = db.session.get(Organisation, getattr(user, "organisation_id", None)) if getattr(
        user, "is_authenticated", False) else None
    require("product.create", org, user=user)
    ctx = ctx or listing_context(org.id)
    clean, field_problems = rules.clean_fields({k: data[k] for k in EDITABLE if k in data})
    values = {"unit": "件", "specs": {}, **clean}
    problems = validate(values, ctx, field_problems)
    if errors_only(problems):
        raise ServiceError(errors_only(problems))
    product = Product(supplier_id=org.id, zone_code=values["zone"], category_code=values["category_code"],
                      title=values["title"], brand=values.get("brand"), model=values.get("model"),
                      manufacturer=values.get("manufacturer"), unit=values.get("unit") or "件",
                      price=values["price"], market_price=values.get("market_price"), stock=values["stock"],
                      specs=values.get("specs") or {}, description=values.get("description"),
                      status="draft", is_sme=ctx.is_sme, search_dirty=True,
                      agreement_price_id=_agreement_price_id(values, ctx))
    product.price_history.append(PriceHistory(price=product.price, changed_by_id=_actor_id(user)))
    db.session.add(product)
    if list_now:
        _list(product, ctx)
    if flush:
        db.session.flush()
    return product


def update_product(product: Product, data: Mapping[str, Any], *, user=None,
                   ctx: ListingContext | None = None, flush: bool = True) -> Product:
    """Edit a product; the zone rules are checked again on the resulting values."""
    user = user or current_user
    require("product.update", product, user=user)
    clean, field_problems = rules.clean_fields({k: data[k] for k in EDITABLE if k in data}, partial=True)
    ctx = ctx or listing_context(product.supplier_id)
    values = {**_values_of(product), **clean}
    problems = validate(values, ctx, field_problems)
    if errors_only(problems):
        raise ServiceError(errors_only(problems))
    old_price = product.price
    product.title = values["title"]
    product.zone_code = values["zone"]
    product.category_code = values["category_code"]
    for key in ("brand", "model", "manufacturer", "unit", "market_price", "description"):
        setattr(product, key, values.get(key))
    product.unit = product.unit or "件"
    product.price = values["price"]
    product.stock = values["stock"]
    if values.get("specs") != (product.specs or {}):
        product.specs = values.get("specs") or {}
    product.agreement_price_id = _agreement_price_id(values, ctx)
    product.halted_reason = None  # the zone rules hold today (the agreement sweep halts otherwise)
    product.search_dirty = True
    if old_price is None or values["price"] != old_price:
        db.session.add(PriceHistory(product_id=product.id, price=values["price"], changed_by_id=_actor_id(user)))
    if flush:
        db.session.flush()
    return product


def update_stock(product: Product, stock: Any, *, user=None) -> Product:
    require("product.update", product, user=user)
    value, problems = rules.parse_stock(stock)
    if problems:
        raise ServiceError(problems)
    if value != product.stock:
        product.stock = value
        product.search_dirty = True
        db.session.flush()
    return product


def _list(product: Product, ctx: ListingContext) -> None:
    if product.status == "taken_down":
        reason = f"（原因：{product.status_reason}）" if product.status_reason else ""
        raise ServiceError(Problem("product_taken_down",
                                   f"该商品已被监管部门下架{reason}，不能自行重新上架，请联系交易中心",
                                   rule="product.takedown"))
    values = _values_of(product)
    problems = errors_only(validate(values, ctx, []))
    if problems:
        raise ServiceError(problems)
    product.agreement_price_id = _agreement_price_id(values, ctx)
    product.halted_reason = None
    if product.status != "listed":
        product.status = "listed"
        product.listed_at = utcnow()
        product.status_reason = None
    product.search_dirty = True


def list_product(product: Product, *, user=None, ctx: ListingContext | None = None, flush: bool = True) -> Product:
    """上架: the zone rules are checked again as of today."""
    require("product.update", product, user=user)
    _list(product, ctx or listing_context(product.supplier_id))
    if flush:
        db.session.flush()
    return product


def delist_product(product: Product, *, user=None, reason: str | None = None, flush: bool = True) -> Product:
    """下架 by the supplier (always allowed to its owner, even while suspended)."""
    require("product.update", product, user=user)
    if product.status == "taken_down":
        raise ServiceError(Problem("product_taken_down", "该商品已被监管部门下架，无需再下架",
                                   rule="product.takedown"))
    if product.status == "listed":
        product.status = "delisted"
        product.status_reason = (reason or "供应商下架")[:500]
        product.search_dirty = True
        if flush:
            db.session.flush()
    return product


def set_listing(product: Product, listed: bool, *, user=None, ctx: ListingContext | None = None) -> Product:
    return list_product(product, user=user, ctx=ctx) if listed else delist_product(product, user=user)


def get_own_product(product_id: int, action: str = "product.update") -> Product:
    """The product, if it exists and the acting user may act on it (403 otherwise)."""
    product = db.session.get(Product, product_id)
    if product is None:
        raise NotFound("商品")
    require(action, product)
    return product


def supplier_products(supplier_id: int, *, status: str | None = None, zone: str | None = None,
                      q: str | None = None):
    stmt = select(Product).where(Product.supplier_id == supplier_id)
    if status:
        stmt = stmt.where(Product.status == status)
    if zone:
        stmt = stmt.where(Product.zone_code == zone)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(Product.title.ilike(like) | Product.model.ilike(like) | Product.brand.ilike(like))
    return stmt.order_by(Product.id.desc())


def status_counts(supplier_id: int) -> dict[str, int]:
    return dict(db.session.execute(select(Product.status, func.count()).where(Product.supplier_id == supplier_id)
                                   .group_by(Product.status)).all())


# --------------------------------------------------------------------------- SME labels

def refresh_sme_flags(supplier_id: int) -> int:
    """Bulk-update the SME label of all the supplier's products. Returns rows changed."""
    flag = supplier_is_sme(supplier_id)
    result = db.session.execute(
        update(Product).where(Product.supplier_id == supplier_id, Product.is_sme.is_not(flag))
        .values(is_sme=flag, search_dirty=True).execution_options(synchronize_session="fetch"))
    changed = result.rowcount or 0
    if changed:
        audit.record("product.sme_flags", "organisation", supplier_id, before={"is_sme": not flag},
                     after={"is_sme": flag, "products": changed}, note="中小企业声明函更新，批量更新商品中小企业标识")
    return changed


# --------------------------------------------------------------------------- images

def image_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"]) / IMAGE_SUBDIR


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB".replace(".0 MB", " MB")


def add_image(product: Product, stream, *, user=None) -> ProductImage:
    """Store an uploaded image (JPEG, PNG or WebP, checked by opening it with Pillow), re-encoded
    without its metadata (see ``_reencoded``)."""
    from PIL import Image

    require("product.update", product, user=user)
    max_bytes = current_app.config["MAX_IMAGE_BYTES"]
    data = stream.read(max_bytes + 1) if stream is not None else b""
    rule = "product.image"
    if not data:
        raise ServiceError(Problem("image_empty", "请选择要上传的图片文件", field="image", rule=rule))
    if len(data) > max_bytes:
        raise ServiceError(Problem("image_too_large", f"图片大小超过上限{_mb(max_bytes)}", field="image",
                                   rule=rule, figures={"max_bytes": max_bytes}))
    count = db.session.scalar(select(func.count()).select_from(ProductImage)
                              .where(ProductImage.product_id == product.id))
    if count >= MAX_IMAGES_PER_PRODUCT:
        raise ServiceError(Problem("too_many_images", f"每个商品最多{MAX_IMAGES_PER_PRODUCT}张图片", field="image",
                                   rule=rule, figures={"max": MAX_IMAGES_PER_PRODUCT}))
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            width, height = img.size
            if fmt in IMAGE_FORMATS and width * height <= MAX_IMAGE_PIXELS:
                img.verify()
        if fmt in IMAGE_FORMATS and width * height <= MAX_IMAGE_PIXELS:
            with Image.open(io.BytesIO(data)) as img:
                img.load()  # decode fully: truncated or corrupt data fails here
    except Exception:  # noqa: BLE001 - Pillow raises many kinds of errors for bad data
        raise ServiceError(Problem("image_invalid", "文件不是有效的图片（仅支持 JPEG、PNG、WebP 格式）",
                                   field="image", rule=rule)) from None
    if fmt not in IMAGE_FORMATS:
        raise ServiceError(Problem("image_type", f"不支持的图片格式{fmt or ''}，仅支持 JPEG、PNG、WebP",
                                   field="image", rule=rule, figures={"format": fmt}))
    if width * height > MAX_IMAGE_PIXELS:
        raise ServiceError(Problem("image_too_many_pixels", f"图片尺寸{width}×{height}过大", field="image",
                                   rule=rule, figures={"width": width, "height": height}))
    data, width, height = _reencoded(data, fmt)
    content_type, ext = IMAGE_FORMATS[fmt]
    folder = image_folder()
    folder.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16) + ext
    with open(folder / name, "xb") as fh:
        fh.write(data)
    last = db.session.scalar(select(func.max(ProductImage.sort_order)).where(ProductImage.product_id == product.id))
    image = ProductImage(product_id=product.id, filename=name, content_type=content_type, size=len(data),
                         width=width, height=height, sort_order=(last or 0) + 1)
    db.session.add(image)
    if not product.image_path:
        product.image_path = name
    product.search_dirty = True
    db.session.flush()
    return image


def _reencoded(data: bytes, fmt: str) -> tuple[bytes, int, int]:
    """The image written anew by Pillow: turned upright by its EXIF orientation, then saved without
    EXIF, XMP or comments, so a photo taken on a phone does not publish where and when it was
    taken (GPS) or the camera; the colour profile is kept. Returns (bytes, width, height)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as img:
        icc = img.info.get("icc_profile")
        upright = ImageOps.exif_transpose(img)
        if fmt == "JPEG" and upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        options = {"JPEG": {"quality": 90, "optimize": True}, "PNG": {"optimize": True},
                   "WEBP": {"quality": 90}}[fmt]
        if icc:
            options["icc_profile"] = icc
        out = io.BytesIO()
        upright.save(out, fmt, **options)  # no exif= / xmp= given: none is written
        return out.getvalue(), upright.width, upright.height


def remove_image(product: Product, image_id: int, *, user=None) -> str:
    """Remove an image row; returns the stored file name (delete it after the commit)."""
    require("product.update", product, user=user)
    image = db.session.get(ProductImage, image_id)
    if image is None or image.product_id != product.id:
        raise NotFound("图片")
    name = image.filename
    db.session.delete(image)
    db.session.flush()
    if product.image_path == name:
        nxt = db.session.scalars(select(ProductImage).where(ProductImage.product_id == product.id)
                                 .order_by(ProductImage.sort_order, ProductImage.id)).first()
        product.image_path = nxt.filename if nxt else None
        product.search_dirty = True
    db.session.flush()
    return name


def set_cover_image(product: Product, image_id: int, *, user=None) -> None:
    require("product.update", product, user=user)
    image = db.session.get(ProductImage, image_id)
    if image is None or image.product_id != product.id:
        raise NotFound("图片")
    first = db.session.scalar(select(func.min(ProductImage.sort_order)).where(ProductImage.product_id == product.id))
    if image.sort_order != first or first is None:
        image.sort_order = (first or 0) - 1  # the cover is the first image
    product.image_path = image.filename
    product.search_dirty = True
    db.session.flush()


def delete_image_file(name: str) -> None:
    path = image_folder() / os.path.basename(name)
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def product_images(product_id: int) -> list[ProductImage]:
    return db.session.scalars(select(ProductImage).where(ProductImage.product_id == product_id)
                              .order_by(ProductImage.sort_order, ProductImage.id)).all()
