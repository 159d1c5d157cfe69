"""Suppliers API: the public profile of a supplier with its SME size and current declaration."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from mall.api import api_blueprint

from . import services
from .models import INDUSTRIES, PAVILION_STATUSES, SIZE_LABELS, SUPPLIER_STATUSES

blp = api_blueprint("suppliers", __name__, description="Suppliers, storefronts and SME declarations")


class DeclarationSchema(ma.Schema):
    id = ma.fields.Integer()
    industry = ma.fields.String()
    industry_label = ma.fields.Function(lambda d: INDUSTRIES.get(d.industry, d.industry))
    year = ma.fields.Integer()
    staff = ma.fields.Integer()
    revenue = ma.fields.Decimal(as_string=True, places=2)
    total_assets = ma.fields.Decimal(as_string=True, places=2)
    size = ma.fields.String()
    size_label = ma.fields.Function(lambda d: SIZE_LABELS.get(d.size, d.size))
    explanation = ma.fields.String(allow_none=True)
    manufacturer_name = ma.fields.String(allow_none=True)
    manufacturer_size = ma.fields.String(allow_none=True)
    declared_at = ma.fields.DateTime()


class AgreementBrief(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String()
    title = ma.fields.String()
    kind = ma.fields.String()
    term_start = ma.fields.Date()
    term_end = ma.fields.Date()


class SupplierSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    uscc = ma.fields.String()
    region_name = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    status_label = ma.fields.String()
    sme_size = ma.fields.String(allow_none=True)
    sme_size_label = ma.fields.String(allow_none=True)
    is_sme = ma.fields.Boolean()
    pavilion_status = ma.fields.String()
    pavilion_status_label = ma.fields.String()
    declaration = ma.fields.Nested(DeclarationSchema, allow_none=True)
    agreements = ma.fields.List(ma.fields.Nested(AgreementBrief))
    storefront_url = ma.fields.String()


@blp.route("/suppliers/<int:supplier_id>")
class SupplierItem(MethodView):
    @blp.response(200, SupplierSchema)
    @blp.doc(security=[])
    def get(self, supplier_id):
        """Public profile: SME size, the current SME declaration (中小企业声明函, public by rule)
        and the framework agreements the supplier is admitted to today."""
        from flask import url_for

        org = services.supplier_org(supplier_id)
        profile = services.profile_of(org.id)
        status = profile.status if profile else "active"
        size = profile.sme_size if profile else None
        pavilion = profile.pavilion_status if profile else "none"
        return {
            "id": org.id, "name": org.name, "uscc": org.uscc, "region_name": org.region_name,
            "status": status, "status_label": SUPPLIER_STATUSES.get(status, status),
            "sme_size": size, "sme_size_label": SIZE_LABELS.get(size) if size else None,
            "is_sme": services.is_sme_size(size),
            "pavilion_status": pavilion, "pavilion_status_label": PAVILION_STATUSES.get(pavilion, pavilion),
            "declaration": services.current_declaration(org.id),
            "agreements": services.admitted_agreements(org.id),
            "storefront_url": url_for("suppliers.storefront", supplier_id=org.id),
        }
