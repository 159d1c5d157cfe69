"""Every benchmark in turn, each printing its own figures (``make bench``).

    .venv/bin/python -m bench.run_all [--pg postgresql://postgres@127.0.0.1:5432] [--no-pg]

The SQLite runs always happen. The PostgreSQL runs happen when the server given by ``--pg``
(default ``$GOVMALL_BENCH_PG_SERVER`` or the local one) answers. Each runs in a database of its own:
``govmall_bench_*``, made when missing. The checkout and supervision benchmarks wipe theirs.
A benchmark that fails is reported and the others still run; the exit status says whether all passed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432"


def pg_database(server: str, name: str) -> str | None:
    """URL of database ``name`` on ``server`` (made when missing), or None if the server is down."""
    try:
        import psycopg

        with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=3) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL runs
        print(f"PostgreSQL at {server} is not available ({exc.__class__.__name__}): its runs are skipped")
        return None
    return f"{server}/{name}"


def plan(server: str | None) -> list[tuple[str, list[str], dict]]:
    runs = [("demo catalog generation", ["bench.seed_bench", "--products", "5000", "100000"], {}),
            ("search, SQLite, 100k", ["bench.search_bench", "--db", "sqlite", "--products", "100000"], {})]
    if server and pg_database(server, "postgres"):
        runs[0][2]["GOVMALL_BENCH_PG_URL"] = f"{server}/postgres"
        runs.append(("search, PostgreSQL, 100k", ["bench.search_bench", "--db", "postgres", "--products", "100000"], {}))
        runs.append(("checkout, PostgreSQL", ["bench.checkout_bench"],
                     {"GOVMALL_BENCH_PG_URL": pg_database(server, "govmall_bench_checkout")}))
        runs.append(("supervision, PostgreSQL", ["bench.supervision_bench", "--orders", "20000"],
                     {"GOVMALL_BENCH_PG_URL": pg_database(server, "govmall_bench_sup")}))
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg", default=os.environ.get("GOVMALL_BENCH_PG_SERVER", DEFAULT_SERVER),
                    help="PostgreSQL server URL without a database name")
    ap.add_argument("--no-pg", action="store_true", help="SQLite runs only")
    args = ap.parse_args()
    failed = []
    for title, module_args, env in plan(None if args.no_pg else args.pg.rstrip("/")):
        print(f"\n######## {title}: python -m {' '.join(module_args)}", flush=True)
        started = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", *module_args], env={**os.environ, **env})
        print(f"######## {title}: exit {rc} after {time.perf_counter() - started:.0f} s", flush=True)
        if rc != 0:
            failed.append(title)
    print("\nall benchmarks ran" if not failed else f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
