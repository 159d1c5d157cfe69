"""Search: one interface, two engines (embedded full-text on the database, Elasticsearch)."""


def engine_status() -> dict:
    from flask import current_app

    return {"ok": True, "engine": current_app.config["SEARCH_ENGINE"]}
