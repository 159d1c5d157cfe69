"""Checkout benchmark: orders per second through the HTTP API, every rule on, on PostgreSQL.

    GOVMALL_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/govmall_bench_checkout \\
        .venv/bin/python -m bench.checkout_bench [--port 5066] [--seconds 10] [--workers 2 --threads 3]

Steps:
1. a fresh schema in the given PostgreSQL database (``DROP SCHEMA public CASCADE``,
   ``db.create_all``) — the database must be one you can throw away;
2. seed: the 品目 classification, a policy version in force (centralized catalog, thresholds,
   split refusal), a framework agreement with an admitted supplier, ten 集采区 computers under the
   agreement and ten 自采区 desks under an open solicitation (stock for every order), ``--units``
   budget units each with a buyer, an API token and a budget line;
3. gunicorn (``--workers`` gthread workers) on ``--port`` with the app on that database;
4. for 1, 4 and 16 concurrent clients (threads of this process, each with one keep-alive urllib3
   connection): each client posts ``POST /api/v1/orders`` (products in turn, its own units in turn, a fresh
   ``Idempotency-Key``) for ``--seconds``; every answer must be 201.
   The CPU used per order by the app server, the PostgreSQL backends and the client is measured
   too (the machine may be shared: the capacity it implies on idle CPUs is printed).
   Prints orders/s and p50/p95 latency per level, then checks the database: orders placed ==
   201 answers, budget reserved == sum of order totals, stock consumed == quantities ordered.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = 10          # of each kind: orders spread over 20 products, as buyers' orders are
STOCK = 10 ** 7


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def make_app(url: str, instance: str):
    os.environ["GOVMALL_INSTANCE_PATH"] = instance
    from mall import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "CELERY_ALWAYS_EAGER": True, "CELERY_BROKER_URL": "memory://"})


def seed(app, units: int) -> dict:
    """A fresh schema and the mall's minimum for checkouts; returns tokens and ids."""
    import datetime as dt

    from sqlalchemy import text
    from werkzeug.security import generate_password_hash

    from catalog.models import (Agreement, AgreementCategory, AgreementPrice, AgreementSupplier, CentralizedItem,
                                PolicyVersion, Product, Solicitation)
    from mall.accounts import uscc
    from mall.accounts.models import ApiToken, Organisation, User
    from mall.cli import load_base_data
    from mall.extensions import db
    from mall.timeutil import today
    from orders.models import BudgetLine
    from suppliers.models import SupplierProfile

    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.create_all()
        load_base_data()
        s = db.session
        s.info["audit_disabled"] = True  # seeding is not a business event
        year = today().year
        seq = iter(range(1, 10 ** 6))

        def org(kind, name):
            o = Organisation(kind=kind, name=name, uscc=uscc.make(f"91350100{next(seq):09d}"))
            s.add(o)
            s.flush()
            return o

        def user(o, role, name):
            u = User(username=name, display_name=name, role=role, organisation_id=o.id,
                     password_hash=generate_password_hash(uuid.uuid4().hex, method="pbkdf2:sha256:1000"))
            s.add(u)
            s.flush()
            return u

        policy = PolicyVersion(name=f"{year}年版", effective_from=dt.date(year, 1, 1), status="published",
                               decentralized_threshold_goods=Decimal("1000000"),
                               decentralized_threshold_services=Decimal("1000000"),
                               decentralized_threshold_works=Decimal("1200000"),
                               open_tender_threshold_goods=Decimal("2000000"),
                               open_tender_threshold_services=Decimal("2000000"),
                               open_tender_threshold_works=Decimal("4000000"),
                               direct_purchase_limit=Decimal("200000"), sme_price_deduction=Decimal("0.10"),
                               split_window_days=90, split_action="refuse", cumulative_warning_ratio=Decimal("0.80"))
        for code in ("A02010105", "A02010108", "A02021000", "A02010104"):
            policy.items.append(CentralizedItem(category_code=code))
        s.add(policy)
        supplier = org("supplier", "福州联信科技有限公司")
        s.add(SupplierProfile(organisation_id=supplier.id, status="active", sme_size="small"))
        agreement = Agreement(number="FA-BENCH-0001", title="台式计算机框架协议", kind="closed", subject="goods",
                              zone_code="central", second_stage="direct", status="active",
                              term_start=dt.date(year, 1, 1), term_end=dt.date(year, 12, 31))
        agreement.categories.append(AgreementCategory(category_code="A02010105"))
        agreement.entrants.append(AgreementSupplier(supplier_id=supplier.id, status="admitted"))
        prices = [AgreementPrice(supplier_id=supplier.id, brand="联想", model=f"启天M{450 + i}",
                                 max_price=Decimal("5000"), category_code="A02010105") for i in range(PRODUCTS)]
        agreement.prices.extend(prices)
        s.add(agreement)
        s.add(Solicitation(category_code="A05010201", title="办公桌公开征集", valid_from=dt.date(year, 1, 1),
                           status="open"))
        s.flush()
        products = []
        for i, price in enumerate(prices):
            # a 集采区 computer under the agreement and a 自采区 desk, PRODUCTS of each
            products.append(Product(supplier_id=supplier.id, zone_code="central", category_code="A02010105",
                                    agreement_price_id=price.id, title=f"联想启天M{450 + i}台式计算机", brand="联想",
                                    model=f"启天M{450 + i}", price=Decimal("4800"), market_price=Decimal("5600"),
                                    stock=STOCK, status="listed", is_sme=True, specs={}))
            products.append(Product(supplier_id=supplier.id, zone_code="self", category_code="A05010201",
                                    title=f"钢木办公桌 D-{1200 + i}", brand="震旦", model=f"D-{1200 + i}",
                                    price=Decimal("1200"), market_price=Decimal("1500"), stock=STOCK, status="listed",
                                    is_sme=True, specs={}))
        s.add_all(products)
        s.flush()
        clients = []
        for i in range(units):
            unit = org("budget_unit", f"基准测试单位{i + 1:03d}")
            u = user(unit, "buyer", f"bench_buyer_{i + 1:03d}")
            b = BudgetLine(unit_id=unit.id, year=year, project_code=f"P{year}-{i + 1:03d}", project_name="办公设备购置",
                           economic_class="31002", economic_class_name="办公设备购置", amount=Decimal("100000000"))
            s.add(b)
            s.flush()
            _, token = ApiToken.issue(u, "bench")
            clients.append({"token": token, "budget_line_id": b.id})
        s.commit()
        return {"clients": clients, "products": [p.id for p in products], "supplier_id": supplier.id}


def start_server(url: str, port: int, workers: int, threads: int, instance: str) -> subprocess.Popen:
    env = {**os.environ, "GOVMALL_DATABASE_URL": url, "GOVMALL_INSTANCE_PATH": instance,
           "GOVMALL_CELERY_ALWAYS_EAGER": "1", "GOVMALL_SECRET_KEY": "bench-" + uuid.uuid4().hex}
    cmd = [str(ROOT / ".venv/bin/gunicorn"), "--preload", "-w", str(workers), "-k", "gthread", "--threads",
           str(threads), "-b", f"127.0.0.1:{port}", "--log-level", "warning", "mall:create_app()"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    import requests

    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode} (port {port} taken?)")
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code in (200, 503):
                return proc
        except requests.RequestException:
            time.sleep(0.3)
    stop_server(proc)
    raise SystemExit("gunicorn did not start")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_pids(root: int) -> list[int]:
    pids, out = [root], []
    while pids:
        pid = pids.pop()
        out.append(pid)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        pids.extend(int(c) for c in children)
    return out


class CpuMeter:
    """CPU used by the app server (gunicorn master + workers), by the PostgreSQL backends serving the
    benchmark database and by this client process: the cost of one order, whatever else runs."""

    def __init__(self, server_pid: int, url: str):
        self.server_pid = server_pid
        self.url = url

    def _pg_pids(self) -> list[int]:
        import psycopg

        dbname = self.url.rsplit("/", 1)[-1].split("?")[0]
        conninfo = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> "
                                               "pg_backend_pid()", (dbname,))]

    def sample(self) -> dict:
        return {"app": {p: proc_cpu(p) for p in tree_pids(self.server_pid)},
                "pg": {p: proc_cpu(p) for p in self._pg_pids()}, "client": time.process_time()}

    @staticmethod
    def used(before: dict, after: dict) -> dict:
        def delta(kind):
            return sum(v - before[kind].get(p, 0.0) for p, v in after[kind].items())
        return {"app": delta("app"), "pg": delta("pg"), "client": after["client"] - before["client"]}


def run_level(port: int, world: dict, concurrency: int, seconds: float, offset: int) -> dict:
    # urllib3 (what requests is built on) with one keep-alive connection per client: the load
    # generator shares the 2 CPUs with the server, so it should cost as little as it can
    import json

    import urllib3

    stop_at = time.perf_counter() + seconds
    latencies, statuses, errors = [], {}, []
    quantities = {pid: 0 for pid in world["products"]}
    lock = threading.Lock()

    def client(k: int):
        http = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1, retries=False, timeout=30)
        units = world["clients"]
        n = 0
        while time.perf_counter() < stop_at:
            # the client's orders go to its units in turn (client k: units k, k + c, k + 2c, …, never
            # another client's), as a city's units buy: one unit alone would soon reach its
            # thresholds (rules 4 and 5) and be refused, rightly
            mine = units[(offset + k + n * concurrency) % len(units)]
            headers = {"Authorization": f"Bearer {mine['token']}", "Content-Type": "application/json"}
            pid = world["products"][(k * 7 + n) % len(world["products"])]
            body = json.dumps({"budget_line_id": mine["budget_line_id"], "payment_method": "treasury",
                               "lines": [{"product_id": pid, "quantity": 1}]})
            t0 = time.perf_counter()
            text = ""
            try:
                r = http.request("POST", "/api/v1/orders", body=body,
                                 headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
                code = r.status
                text = r.data.decode("utf-8", "replace")
            except urllib3.exceptions.HTTPError as exc:
                code = "error"
                with lock:
                    errors.append(repr(exc))
            dt_ms = (time.perf_counter() - t0) * 1000
            with lock:
                statuses[code] = statuses.get(code, 0) + 1
                if code == 201:
                    latencies.append(dt_ms)
                    quantities[pid] += 1
                elif len(errors) < 5 and code != "error":
                    errors.append(f"{code}: {text[:300]}")
            n += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = statuses.get(201, 0)
    return {"concurrency": concurrency, "ok": ok, "statuses": statuses, "wall": wall, "rate": ok / wall,
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
            "mean": statistics.fmean(latencies) if latencies else float("nan"), "errors": errors,
            "quantities": quantities}


def verify(app, world: dict, expected_orders: int, quantities: dict) -> list[str]:
    from sqlalchemy import func, select

    from catalog.models import Product
    from mall.extensions import db
    from orders.models import BudgetLine, Order

    problems = []
    with app.app_context():
        placed = db.session.scalar(select(func.count()).select_from(Order))
        if placed != expected_orders:
            problems.append(f"orders in database {placed} != 201 answers {expected_orders}")
        reserved = db.session.scalar(select(func.coalesce(func.sum(BudgetLine.reserved), 0)))
        totals = db.session.scalar(select(func.coalesce(func.sum(Order.total), 0)))
        if Decimal(reserved) != Decimal(totals):
            problems.append(f"budget reserved {reserved} != sum of order totals {totals}")
        for pid in world["products"]:
            stock = db.session.get(Product, pid).stock
            if stock != STOCK - quantities[pid]:
                problems.append(f"product {pid}: stock {stock} != {STOCK} - {quantities[pid]}")
        numbers = db.session.scalar(select(func.count(func.distinct(Order.number))))
        if numbers != placed:
            problems.append("duplicate order numbers")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=5066)
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each concurrency level")
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=3, help="threads per gunicorn worker (gthread)")
    ap.add_argument("--units", type=int, default=64, help="budget units (each client takes its own share of them in turn)")
    args = ap.parse_args(argv)

    url = os.environ.get("GOVMALL_BENCH_PG_URL")
    if not url or not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        print("set GOVMALL_BENCH_PG_URL to a PostgreSQL database that may be wiped, e.g. "
              "postgresql://postgres@127.0.0.1:5432/govmall_bench_checkout", file=sys.stderr)
        return 2
    port = next((p for p in range(args.port, args.port + 40) if port_free(p)), None)
    if port is None:
        print(f"no free port from {args.port}; choose another with --port", file=sys.stderr)
        return 2
    args.port = port
    instance = tempfile.mkdtemp(prefix="govmall-checkout-bench-")
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    print(f"checkout benchmark: PostgreSQL {url.rsplit('/', 1)[-1]}, gunicorn {args.workers}x{args.threads} "
          f"gthread on :{args.port}, {os.cpu_count()} CPUs, {args.seconds:.0f}s per level", flush=True)
    app = make_app(url, instance)
    t0 = time.perf_counter()
    world = seed(app, max(args.units, max(levels)))
    print(f"  seeded {len(world['clients'])} budget units, {len(world['products'])} products in {time.perf_counter() - t0:.1f}s", flush=True)

    proc = start_server(url, args.port, args.workers, args.threads, instance)
    results = []
    try:
        # warm-up: every worker imports, connects and loads the 品目 tree once
        warm = run_level(args.port, world, max(levels), 2.0, offset=0)
        offset = max(levels)
        meter = CpuMeter(proc.pid, url)
        for c in levels:
            load0 = os.getloadavg()[0]
            before = meter.sample()
            res = run_level(args.port, world, c, args.seconds, offset)
            cpu = meter.used(before, meter.sample())
            offset += c
            res["cpu"] = cpu
            results.append(res)
            bad = {k: v for k, v in res["statuses"].items() if k != 201}
            per = {k: (v / res["ok"] * 1000 if res["ok"] else float("nan")) for k, v in cpu.items()}
            res["cpu_ms"] = sum(per.values())
            print(f"  {c:>3} clients: {res['rate']:7.1f} orders/s   p50 {res['p50']:6.1f} ms   p95 {res['p95']:6.1f} ms"
                  f"   ({res['ok']} orders in {res['wall']:.1f}s{', other answers: ' + str(bad) if bad else ''})"
                  f"   CPU/order: app {per['app']:.1f} ms, PostgreSQL {per['pg']:.1f} ms, client {per['client']:.1f} ms"
                  f"   load avg {load0:.1f}→{os.getloadavg()[0]:.1f}", flush=True)
            for e in res["errors"][:3]:
                print("      ", e)
    finally:
        stop_server(proc)

    # consistency: every 201 is an order; budget and stock moved by exactly the orders placed
    from sqlalchemy import func, select

    from mall.extensions import db
    from orders.models import Order, OrderLine

    with app.app_context():
        total_orders = db.session.scalar(select(func.count()).select_from(Order))
        q = dict(db.session.execute(select(OrderLine.product_id, func.sum(OrderLine.quantity))
                                    .group_by(OrderLine.product_id)).all())
    answered = sum(r["ok"] for r in results) + warm["ok"]
    problems = verify(app, world, answered, {pid: int(q.get(pid, 0)) for pid in world["products"]})
    sent = {pid: warm["quantities"][pid] + sum(r["quantities"][pid] for r in results) for pid in world["products"]}
    if sent != {pid: int(q.get(pid, 0)) for pid in world["products"]}:
        problems.append(f"quantities ordered {sent} != order lines {q}")
    print(f"  consistency: {total_orders} orders in the database, {answered} answered 201 (incl. warm-up); "
          + ("OK — budget reserved = sum of totals, stock consumed = quantities ordered" if not problems
             else "PROBLEMS: " + "; ".join(problems)), flush=True)
    best = max((r["rate"] for r in results), default=0)
    print(f"  best: {best:.1f} orders/s (target >= 100)", flush=True)
    if results:
        cost = min(r["cpu_ms"] for r in results if r["ok"])
        cpus = os.cpu_count() or 1
        print(f"  CPU cost: {cost:.1f} ms per order (app + PostgreSQL + client) → at most "
              f"{cpus * 1000 / cost:.0f} orders/s on {cpus} otherwise idle CPUs", flush=True)
    import shutil

    shutil.rmtree(instance, ignore_errors=True)
    return 1 if problems or any(k != 201 for r in results for k in r["statuses"]) else 0


if __name__ == "__main__":
    sys.exit(main())
