"""Demo-data benchmark: how fast ``mall.demo.seed`` fills a fresh database.

    .venv/bin/python -m bench.seed_bench --products 5000 100000
    GOVMALL_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m bench.seed_bench --products 5000

Each size runs in its own process on a fresh database: a temporary SQLite file, and — when
``GOVMALL_BENCH_PG_URL`` (or ``--pg-url``) names a PostgreSQL server — a temporary database
created on that server and dropped afterwards. The schema comes from the models
(``db.create_all``) and the 品目 classification from ``load_base_data`` (as ``flask seed-demo``
does), then ``seed`` is timed alone. Printed per run: wall time, products/s, peak memory of the
process (flat memory means the batches really stream) and the database size.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pg_admin_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_temp_database(url: str, products: int) -> tuple[str, str]:
    """Create a fresh database next to the one ``url`` names; return (its url, its name)."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"govmall_seedbench_{products}_{os.getpid()}"
    with psycopg.connect(_pg_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False), name


def _pg_drop(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_pg_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(url: str, products: int, rng_seed: int, instance: str, quiet: bool) -> dict:
    """Runs in a fresh process: schema, base data, then the timed seed."""
    os.environ["GOVMALL_INSTANCE_PATH"] = instance
    from sqlalchemy import func, select

    from mall import create_app
    from mall.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "seed-bench", "CELERY_ALWAYS_EAGER": True,
                      "CELERY_BROKER_URL": "memory://"})
    with app.app_context():
        db.create_all()
        from mall.cli import load_base_data
        from mall.demo import seed
        from catalog.models import Product

        load_base_data()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        last = [time.perf_counter()]

        def progress(message):
            now = time.perf_counter()
            if not quiet and (now - last[0] > 10 or not message.startswith("商品")):
                print(f"    {message}  RSS {current_rss_mb():.0f} MB", file=sys.stderr, flush=True)
                last[0] = now

        t0 = time.perf_counter()
        summary = seed(db.session, products=products, rng_seed=rng_seed, progress=progress)
        seconds = time.perf_counter() - t0
        count = db.session.scalar(select(func.count()).select_from(Product))
        db_bytes = None
        if db.engine.dialect.name == "sqlite":
            path = Path(db.engine.url.database)
            db_bytes = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        else:
            db_bytes = db.session.scalar(select(func.pg_database_size(func.current_database())))
    return {"products": count, "seconds": seconds, "summary": summary, "db_bytes": db_bytes,
            "rss_before_mb": rss_before,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_one(backend: str, products: int, rng_seed: int, pg_url: str | None, keep: bool, quiet: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"govmall-seedbench-{backend}-{products}-"))
    pg_name = None
    try:
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/seed.sqlite3"
        else:
            url, pg_name = _pg_temp_database(pg_url, products)
        cmd = [sys.executable, "-m", "bench.seed_bench", "--child", url, "--products", str(products),
               "--seed", str(rng_seed), "--instance", str(tmp)] + (["--quiet"] if quiet else [])
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        if proc.returncode != 0:
            raise SystemExit(f"{backend} {products}: the seed failed (exit {proc.returncode})")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["backend"] = backend
        if keep:
            result["kept"] = url
        return result
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
            if pg_name:
                _pg_drop(pg_url, pg_name)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, nargs="+", default=[5000, 100000])
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--pg-url", default=os.environ.get("GOVMALL_BENCH_PG_URL"),
                        help="PostgreSQL server to create temporary databases on "
                             "(default: $GOVMALL_BENCH_PG_URL)")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the databases (prints their URLs)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        result = child(args.child, args.products[0], args.seed, args.instance, args.quiet)
        print(json.dumps(result, ensure_ascii=False, default=str))
        return

    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.pg_url else [])
    if not backends:
        raise SystemExit("nothing to run: --no-sqlite without --pg-url / GOVMALL_BENCH_PG_URL")
    print(f"mall.demo.seed benchmark (seed {args.seed}, {os.cpu_count()} CPUs)", flush=True)
    rows = []
    for n in args.products:
        for backend in backends:
            print(f"  {backend} {n:,} products …", flush=True)
            r = run_one(backend, n, args.seed, args.pg_url, args.keep, args.quiet)
            rows.append(r)
            size = f"{r['db_bytes'] / 1e6:8.1f} MB" if r.get("db_bytes") else "       —"
            print(f"  {backend:<10} {r['products']:>9,} products  {r['seconds']:8.1f} s  "
                  f"{r['products'] / r['seconds']:>9,.0f} products/s  peak RSS {r['peak_rss_mb']:6.0f} MB "
                  f"(after start-up {r['rss_before_mb']:4.0f} MB)  database {size}"
                  + (f"  kept: {r['kept']}" if r.get("kept") else ""), flush=True)
    s = rows[-1]["summary"]
    print(f"  world: {s['budget_units']} budget units, {s['suppliers']} suppliers "
          f"({s['sme_suppliers']} SMEs), "
          f"{s['agreements']} agreements, {s['solicitations']} solicitations, {s['users']} users", flush=True)


if __name__ == "__main__":
    main()
