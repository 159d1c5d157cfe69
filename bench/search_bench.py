"""Search benchmark: build a catalog, rebuild the index, measure latency at the engine and at the API.

    .venv/bin/python -m bench.search_bench --db sqlite --products 100000
    .venv/bin/python -m bench.search_bench --db postgres --products 100000
    .venv/bin/python -m bench.search_bench --db sqlite --products 1000000 --passes 1

Steps (each prints its figures):
1. catalog: ``mall.demo.seed(session, products=N, rng_seed=...)`` when it exists (``--generator demo``),
   else the fast generator of ``bench/search_catalog.py``; reused if the database already has it;
2. ``search.indexing.rebuild_index()``: products/s;
3. the engine floor: each query of ``bench/queries.txt`` (with its filters and facets) run on the
   embedded engine in this process; per-query median over ``--passes``; p50/p95/p99 over queries;
4. the HTTP API: gunicorn (2 sync workers, ``--preload``) on ``--port``; the same queries as
   ``GET /api/v1/search`` with ``requests``; p50/p95/p99; RSS of the master and workers.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
WORK = Path("/tmp/govmall-bench")


def summary(label, per_query_ms):
    vals = list(per_query_ms.values())
    print(f"  {label:<34} n={len(vals):>3}  p50={percentile(vals, 50):7.1f} ms  p95={percentile(vals, 95):7.1f} ms  "
          f"p99={percentile(vals, 99):7.1f} ms  max={max(vals):7.1f} ms", flush=True)
    return {"p50": percentile(vals, 50), "p95": percentile(vals, 95), "p99": percentile(vals, 99)}


def load_queries(path):
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        q, _, params = line.partition("\t")
        args = dict(urllib.parse.parse_qsl(params))
        if q:
            args["q"] = q
        out.append(args)
    return out


def resolve_generator(generator):
    """auto: mall.demo.seed when it is implemented, else the benchmark's own generator."""
    if generator != "auto":
        return generator
    demo = ROOT / "mall" / "demo.py"
    text = demo.read_text(encoding="utf-8") if demo.exists() else ""
    return "demo" if "def seed" in text and len(text.splitlines()) > 20 else "bench"


def database_url(kind, products, url=None, generator="bench"):
    if url:
        return url
    suffix = "" if generator == "bench" else f"_{generator}"
    if kind == "sqlite":
        WORK.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{WORK}/search-{products}{suffix}.sqlite3"
    name = f"govmall_bench_{products}{suffix}"
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def build(app, products, rng_seed, generator):
    from sqlalchemy import func, select, text

    from catalog.models import Product
    from mall.extensions import db

    with app.app_context():
        db.create_all()
        have = db.session.scalar(select(func.count()).select_from(Product))
        if have >= products:
            print(f"catalog: reusing {have:,} products", flush=True)
            return False
        if have:
            raise SystemExit(f"the database has {have} products, fewer than {products}: drop it first")
        from mall.cli import load_base_data

        load_base_data()
        t0 = time.perf_counter()
        used = "bench"
        if generator == "demo":
            try:
                from mall.demo import seed

                seed(db.session(), products=products, rng_seed=rng_seed, progress=lambda m: None)
                used = "mall.demo.seed"
            except NotImplementedError:
                raise SystemExit("mall.demo.seed is not implemented yet: use --generator bench")
        if used == "bench":
            from bench.search_catalog import generate

            generate(db.session, products=products, rng_seed=rng_seed,
                     progress=lambda m: print("  " + m, flush=True) if m.startswith(("100,000", "500,000")) else None)
        db.session.commit()
        n = db.session.scalar(select(func.count()).select_from(Product))
        print(f"catalog: {n:,} products by {used} in {time.perf_counter() - t0:.1f} s", flush=True)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as c:
                c.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        return True


def rss_of(pid):
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                out["private_mb"] = out.get("private_mb", 0) + int(line.split()[1]) / 1024
            if line.startswith("Pss:"):
                out["pss_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def run_engine(app, queries, passes):
    from search import embedded_engine, service

    times = {i: [] for i in range(len(queries))}
    full = {i: [] for i in range(len(queries))}
    with app.app_context():
        engine = embedded_engine()
        for _ in range(passes):
            for i, args in enumerate(queries):
                q, _notices = service.parse(args, per_page=20)
                t0 = time.perf_counter()
                if not (q.text and not q.tokens):
                    engine.search(q)
                times[i].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                service.search(q, _notices)
                full[i].append((time.perf_counter() - t0) * 1000)
            from mall.extensions import db

            db.session.remove()
    return ({i: statistics.median(v) for i, v in times.items()},
            {i: statistics.median(v) for i, v in full.items()})


def run_api(url, queries, passes, port, cache):
    import requests

    env = dict(os.environ, GOVMALL_DATABASE_URL=url, GOVMALL_INSTANCE_PATH=str(WORK / "instance"),
               BENCH_SEARCH_CACHE=str(cache), PYTHONPATH=str(ROOT))
    cmd = [str(ROOT / ".venv/bin/gunicorn"), "-w", "2", "--preload", "-b", f"127.0.0.1:{port}",
           "--log-level", "warning", "bench.search_wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(base + "/api/v1/health", timeout=2).status_code < 600:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        http = requests.Session()
        for args in queries[:20]:  # warm both workers
            http.get(base + "/api/v1/search", params=args, timeout=30)
        times = {i: [] for i in range(len(queries))}
        errors = 0
        for _ in range(passes):
            for i, args in enumerate(queries):
                t0 = time.perf_counter()
                r = http.get(base + "/api/v1/search", params=args, timeout=60)
                times[i].append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    errors += 1
        page_times = []
        for args in queries[:50]:
            t0 = time.perf_counter()
            http.get(base + "/search", params=args, timeout=60)
            page_times.append((time.perf_counter() - t0) * 1000)
        health = http.get(base + "/api/v1/health", timeout=10).json().get("search")
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        mem = {"master": rss_of(proc.pid), **{f"worker {c}": rss_of(int(c)) for c in children}}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {i: statistics.median(v) for i, v in times.items()}, page_times, errors, mem, health


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--url", help="database URL (default: a benchmark database per size)")
    ap.add_argument("--products", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--generator", choices=("auto", "demo", "bench"), default="auto")
    ap.add_argument("--queries", default=str(ROOT / "bench" / "queries.txt"))
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--port", type=int, default=5055)
    ap.add_argument("--cache", type=float, default=0, help="SEARCH_CACHE_SECONDS for the runs (0: no facet cache)")
    ap.add_argument("--skip-reindex", action="store_true")
    ap.add_argument("--skip-api", action="store_true")
    args = ap.parse_args(argv)

    args.generator = resolve_generator(args.generator)
    url = database_url(args.db, args.products, args.url, args.generator)
    os.environ["GOVMALL_INSTANCE_PATH"] = str(WORK / "instance")
    sys.path.insert(0, str(ROOT))
    from mall import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SEARCH_CACHE_SECONDS": args.cache})
    print(f"== search benchmark: {args.products:,} products on {app.config['SQLALCHEMY_DATABASE_URI']}", flush=True)
    if args.db == "postgres":
        from sqlalchemy import text

        from mall.extensions import db

        with app.app_context():
            settings = {k: db.session.execute(text(f"SHOW {k}")).scalar()
                        for k in ("server_version", "shared_buffers", "work_mem", "jit")}
        print("PostgreSQL " + ", ".join(f"{k}={v}" for k, v in settings.items()), flush=True)
    built = build(app, args.products, args.seed, args.generator)
    if built or not args.skip_reindex:
        from search.indexing import rebuild_index

        with app.app_context():
            res = rebuild_index(on_batch=None)
        print(f"reindex: {res['products']:,} sellable products in {res['seconds']:.1f} s = "
              f"{res['per_second']:,} products/s", flush=True)
    queries = load_queries(args.queries)
    print(f"queries: {len(queries)} from {args.queries}; {args.passes} passes, per-query median; "
          f"facet cache {args.cache:g} s", flush=True)
    engine_ms, service_ms = run_engine(app, queries, args.passes)
    e = summary("engine (embedded, direct)", engine_ms)
    summary("service (engine + products + help)", service_ms)
    if not args.skip_api:
        api_ms, page_ms, errors, mem, health = run_api(url, queries, args.passes, args.port, args.cache)
        a = summary("HTTP GET /api/v1/search", api_ms)
        print(f"  HTTP GET /search (page, 50 queries)  p50={percentile(page_ms, 50):.1f} ms  "
              f"p95={percentile(page_ms, 95):.1f} ms", flush=True)
        print(f"  API/engine p95 ratio: {a['p95'] / e['p95']:.2f}×; non-200 answers: {errors}; health: {health}")
        for name, m in mem.items():
            print(f"  memory {name:<14} RSS {m.get('rss_mb', 0):6.1f} MB  PSS {m.get('pss_mb', 0):6.1f} MB  "
                  f"private {m.get('private_mb', 0):6.1f} MB")
    slow = sorted(engine_ms.items(), key=lambda kv: -kv[1])[:5]
    print("  slowest at the engine: " + "; ".join(f"{queries[i]} {ms:.0f} ms" for i, ms in slow))


if __name__ == "__main__":
    main()
