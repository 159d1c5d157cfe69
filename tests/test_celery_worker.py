"""Celery with a real worker process and a Redis broker (``.ci/run`` runs this module with
GOVMALL_TEST_CELERY_BROKER and PostgreSQL). Without a broker configured these tests skip;
``test_beat_schedule_names_real_tasks`` always runs."""
from __future__ import annotations

import datetime as dt
import os

import pytest

from mall.celery_app import BEAT_SCHEDULE, celery
from mall.extensions import db
from mall.timeutil import today
from tests.celery_harness import running_worker, wait_for

needs_worker = pytest.mark.skipif(not os.environ.get("GOVMALL_TEST_CELERY_BROKER"),
                                  reason="set GOVMALL_TEST_CELERY_BROKER (Redis) to run with a real worker")


def test_beat_schedule_names_real_tasks(app):
    missing = [entry["task"] for entry in BEAT_SCHEDULE.values() if entry["task"] not in celery.tasks]
    assert missing == []


@pytest.fixture
def worker(app, _instance_dir):
    with running_worker(app, _instance_dir) as proc:
        yield proc


@needs_worker
@pytest.mark.celery_worker
def test_worker_expires_agreement_and_halts_its_products(app, make, worker):
    from catalog.models import Agreement, Product
    from catalog.tasks import sweep_agreements

    supplier = make.supplier_org()
    ended = today() - dt.timedelta(days=1)
    agreement = make.agreement(categories=("A02010105",), suppliers=(supplier,),
                               term_start=ended - dt.timedelta(days=200), term_end=ended,
                               prices=((supplier, "联想", "启天M437", "5200.00"),))
    product = make.product(supplier, zone="central", category_code="A02010105", price="4999.00", brand="联想",
                           model="启天M437", agreement_price=agreement.prices[0])
    agreement_id, product_id = agreement.id, product.id
    assert product.halted_reason is None

    result = sweep_agreements.delay()
    assert result.id  # queued on the broker, not run here

    def expired():
        db.session.expire_all()
        a = db.session.get(Agreement, agreement_id)
        p = db.session.get(Product, product_id)
        return a.status == "expired" and p.halted_reason

    reason = wait_for(expired, timeout=90, process=worker)
    assert agreement.number in reason
    assert worker.poll() is None  # the worker is still serving


@needs_worker
@pytest.mark.celery_worker
def test_worker_runs_the_risk_scan(app, make, worker):
    from orders.models import RiskFlag
    from supervision.tasks import scan_risks
    from tests import supervision_helpers as sh

    unit = make.org("budget_unit")
    supplier = make.supplier_org()
    # one unit buying everything from one supplier, orders just under the direct-purchase limit
    for _ in range(6):
        sh.order(make, unit=unit, supplier=supplier, lines=(("A02010105", "199000.00", 1),), status="confirmed")
    scan_risks.delay()

    def flagged():
        db.session.expire_all()
        return db.session.query(RiskFlag).filter(RiskFlag.source == "scan").count()

    assert wait_for(flagged, timeout=90, process=worker) > 0
