"""Smoke test of the Elasticsearch engine against a real cluster (none runs on the dev machine).

    .venv/bin/python -m bench.es_smoke http://127.0.0.1:9200 [--products 20000] [--index govmall-smoke] [--keep]

1. builds a demo catalog in a temporary SQLite database (``bench/search_catalog.py``), or uses
   ``--database URL`` as it is (step 4 then edits one product's title and puts it back);
2. ``search.indexing.rebuild_index()`` with ``SEARCH_ENGINE=elasticsearch``: a new index with the
   explicit mappings and the best Chinese analyzer the cluster has (IK, smartcn, else cjk), bulk
   loaded in batches, then the alias ``--index`` switched to it; prints products/s;
3. runs every query of ``bench/queries.txt`` through the ES engine (filters, facets, SME boost,
   highlight) and prints p50/p95/p99 and checks a few answers (打印机 → printers first;
   联想 笔记本 → Lenovo laptops; every hit the cluster returns is sellable in the database);
4. changes a product, drains the outbox and checks the change is searchable, then restores it;
   searches through an engine whose cluster address is dead to check the fallback to the
   embedded engine;
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

        from sqlalchemy import select

        from catalog.models import Product
        from catalog.queries import sellable_condition, sellable_products

        queries = load_queries(args.queries)
        times, zero, hit_ids = [], 0, set()
        for q_args in queries:
            q, notices = service.parse(q_args, per_page=20)
            if q.text and not q.tokens:
                continue
            t = time.perf_counter()
            res = es.search(q)
            times.append((time.perf_counter() - t) * 1000)
            zero += res.total == 0
            hit_ids.update(h.product_id for h in res.hits)
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
        sellable = set(db.session.scalars(select(Product.id).where(sellable_condition(), Product.id.in_(hit_ids))))
        check(hit_ids <= sellable, f"all {len(hit_ids):,} products the cluster returned are sellable"
              + (f" (not: {sorted(hit_ids - sellable)[:10]})" if hit_ids - sellable else ""))

        product = db.session.scalars(sellable_products().limit(1)).first()
        title = product.title
        product.title = title + " 冒烟测试标记"
        db.session.commit()  # eager mode drains the outbox after commit
        drain()
        es.client.indices.refresh(index=args.index)
        found = service.search(*service.parse({"q": "冒烟测试标记"}))
        check([p.id for p in found.items] == [product.id], "a product change reaches Elasticsearch through the outbox")
        product.title = title
        db.session.commit()
        drain()
        es.client.indices.refresh(index=args.index)
        found = service.search(*service.parse({"q": "冒烟测试标记"}))
        check(found.total == 0, "the title is restored in the database and the index")

        from search import embedded_engine
        from search.es import EsEngine, FallbackEngine

        dead = FallbackEngine(EsEngine.from_config("http://127.0.0.1:9", args.index), embedded_engine())
        q, _ = service.parse({"q": "打印机"}, per_page=5)
        res = dead.search(q)
        check(res.engine != "elasticsearch" and bool(res.fallback) and res.total > 0,
              f"a dead cluster: answered by {res.engine or dead.fallback.name} ({res.total} results), "
              f"notice “{res.fallback}”")
        print("  health:", engine_status(), flush=True)
        if not args.keep:
            for name in es.client.indices.get_alias(name=args.index):
                es.client.indices.delete(index=name)
            print(f"deleted the indices of {args.index}")
    print("SMOKE", "FAILED: " + "; ".join(failures) if failures else "PASSED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
