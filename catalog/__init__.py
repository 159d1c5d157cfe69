"""Catalog: 品目 classification, policy versions, zones, solicitations, framework agreements, products."""
