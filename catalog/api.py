"""Catalog API: categories, products, agreements, policy versions."""
from __future__ import annotations

from mall.api import api_blueprint

blp = api_blueprint("catalog", __name__, description="品目 classification, products, agreements, policy")
