"""Smoke test of the Elasticsearch engine against a real cluster (none runs on the dev machine).

    .venv/bin/python -m bench.es_smoke http://127.0.0.1:9200 [--products 20000] [--index govmall-smoke] [--keep]

1. builds a demo catalog in a temporary SQLite database (``mall.demo.seed`` when it exists, else
   ``bench/search_catalog.py``), or uses ``--database URL`` as it is;
2. ``search.indexing.rebuild_index()`` with ``SEARCH_ENGINE=elasticsearch``: a new index with the
   explicit mappings and the best Chinese analyzer the cluster has (IK, smartcn, else cjk), bulk
   loaded in batches, then the alias ``--index`` switched to it; prints products/s;
3. runs every query of ``bench/queries.txt`` through the ES engine (filters, facets, SME boost,
   highlight) and prints p50/p95/p99 and checks a few answers (打印机 → printers first;
   联想 笔记本 → Lenovo laptops; every hit sellable in the database);
4. changes a product, drains the outbox and checks the change is searchable; stops the
   engine's client to prove the fallback to the embedded engine;
5. deletes the index unless ``--keep``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="Elasticsearch URL, e.g. http://127.0.0.1:9200")
    ap.add_argument("--index", default="govmall-smoke", help="alias to create (its indices are <alias>-<time>)")
    ap.add_argument("--products", type=int, default=20000)
    ap.add_argument("--database", help="use this database as it is (no catalog is built)")
    ap.add_argument("--queries", default=str(ROOT / "bench" / "queries.txt"))
    ap.add_argument("--keep", action="store_true", help="keep the index afterwards")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    tmp = tempfile.mkdtemp(prefix="govmall-es-smoke-")
    os.environ.setdefault("GOVMALL_INSTANCE_PATH", tmp)
    db_url = args.database or f"sqlite:///{tmp}/smoke.sqlite3"
    from mall import create_app
    from mall.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "SEARCH_ENGINE": "elasticsearch",
                      "ELASTICSEARCH_URL": args.url, "ELASTICSEARCH_INDEX": args.index,
                      "CELERY_ALWAYS_EAGER": True, "SEARCH_CACHE_SECONDS": 0})
    failures = []

    def check(ok, message):
        print(("  ok   " if ok else "  FAIL ") + message, flush=True)
        if not ok:
            failures.append(message)

    with app.app_context():
        from search import engine_status, get_es_engine, service
        from search.indexing import drain, rebuild_index

        es = get_es_engine()
        try:
            version = es.client.info()["version"]["number"]
        except Exception as exc:  # noqa: BLE001
            print(f"cannot reach Elasticsearch at {args.url}: {exc}")
            return 2
        print(f"cluster: {version}; analyzers {es.detect_analyzers()}", flush=True)
        if not args.database:
            from bench.search_bench import build, resolve_generator

            build(app, args.products, 2025, resolve_generator("auto"))
        t0 = time.perf_counter()
        result = rebuild_index(progress=lambda m: print("  " + m, flush=True))
        print(f"reindex: {result['products']:,} products in {time.perf_counter() - t0:.1f} s; ES: {result['es']}", flush=True)
        check(bool(result["es"]) and "error" not in (result["es"] or {}), "new index built and alias switched")
        es.client.indices.refresh(index=args.index)

        from bench.search_bench import load_queries
        from bench.stats import percentile

        queries = load_queries(args.queries)
        times, zero = [], 0
        for q_args in queries:
            q, notices = service.parse(q_args, per_page=20)
            if q.text and not q.tokens:
                continue
            t = time.perf_counter()
            res = es.search(q)
            times.append((time.perf_counter() - t) * 1000)
            zero += res.total == 0
        print(f"ES engine over {len(times)} queries: p50={percentile(times, 50):.1f} ms p95={percentile(times, 95):.1f} ms "
              f"p99={percentile(times, 99):.1f} ms; zero results: {zero}", flush=True)

        page = service.search(*service.parse({"q": "打印机"}, per_page=5))
        check(page.engine == "elasticsearch", f"served by {page.engine}")
        check(all(p.category_code.startswith("A020210") or p.category_code.startswith("A02020400")
                  for p in page.items), "打印机 → printers on top: " + ", ".join(p.title[:20] for p in page.items))
        page = service.search(*service.parse({"q": "联想 笔记本"}, per_page=5))
        check(page.items and all(p.brand == "联想" for p in page.items), "联想 笔记本 → Lenovo: "
              + ", ".join(p.title[:20] for p in page.items))
        check(page.total >= len(page.items) and page.facets["zone"], "facets returned")

        from catalog.models import Product
        from catalog.queries import sellable_products

        product = db.session.scalars(sellable_products().limit(1)).first()
        product.title = product.title + " 冒烟测试标记"
        db.session.commit()  # eager mode drains the outbox after commit
        drain()
        es.client.indices.refresh(index=args.index)
        found = service.search(*service.parse({"q": "冒烟测试标记"}))
        check([p.id for p in found.items] == [product.id], "a product change reaches Elasticsearch through the outbox")
        print("  health:", engine_status(), flush=True)
        if not args.keep:
            for name in es.client.indices.get_alias(name=args.index):
                es.client.indices.delete(index=name)
            print(f"deleted the indices of {args.index}")
    print("SMOKE", "FAILED: " + "; ".join(failures) if failures else "PASSED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
