"""/metrics on the web as the Procfile starts it: several granian workers and the Celery worker's children, one
scrape that counts them all."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import ROOT, clean_env, free_port, start_procfile_web, stop, wait_for_http

pytestmark = pytest.mark.slow

TOKEN = "metrics-token-for-the-process-test-0123"


def test_a_scrape_counts_the_requests_every_worker_answered(tmp_path):
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    env = clean_env(
        DJANGO_DEBUG="1", VAR_DIR=str(tmp_path), METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    # Another process of the host (a Celery child, say) counted three processor calls and exited
    counted = "from core.metrics import processor_errors as m; m.labels('sandbox', 'refund', 'unavailable').inc(3)"
    subprocess.run([sys.executable, "-c", counted], env=env, cwd=ROOT, check=True)
    web = start_procfile_web(port, env, tmp_path / "web.log", workers=2, threads=4)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/api/v1/account", process=web, timeout=90)
        # Many connections at once, so that both workers answer some
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(lambda _: requests.get(f"{base}/api/v1/account", timeout=10).status_code, range(40))
            )
        assert statuses == [401] * 40
        refused = requests.get(f"{base}/metrics", timeout=10)
        assert refused.status_code == 401
        scraped = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert scraped.status_code == 200
    finally:
        stop(web)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
    }
    key = ("platform_http_requests_total", (("method", "GET"), ("route", "api/v1/account"), ("status", "4xx")))
    # wait_for_http's own requests come on top of the 40 (it polls until the first answer)
    assert samples[key] >= 40
    # The web's scrape added what the other process had counted
    other = (
        "platform_processor_errors_total",
        (("acquirer", "sandbox"), ("kind", "unavailable"), ("operation", "refund")),
    )
    assert samples[other] == 3
    # The web's worker(s) wrote their own files beside it, under the directory the Procfile passed them
    pids = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("counter_*.db")}
    assert len(pids) >= 2, sorted(path.name for path in metrics_dir.iterdir())
