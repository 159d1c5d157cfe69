"""A real Celery worker process for integration tests (Redis broker, the suite's database)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running_worker(app, instance_path: str):
    env = {**os.environ,
           "GOVMALL_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "GOVMALL_CELERY_BROKER_URL": app.config["CELERY_BROKER_URL"],
           "GOVMALL_CELERY_ALWAYS_EAGER": "0",
           "GOVMALL_SECRET_KEY": "test-secret",
           "GOVMALL_INSTANCE_PATH": instance_path}
    log = open(Path(instance_path) / "worker.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mall.celery_worker", "worker", "--pool=solo",
         "--concurrency=1", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, process=None):
    """Poll ``predicate`` until it returns a truthy value (integration with another process);
    fail at once if ``process`` (the worker) has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the worker exited with code {process.returncode}")
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met within %.0fs" % timeout)
