"""Celery: a real worker (celery.contrib.testing) on the test's vhost, the result over rpc://."""

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

app = Celery("shop")


@app.task
def add_vat(cents):
    """The code under test: a task."""
    return round(cents * 1.2)


@pytest.fixture
def worker(amqp_url):
    app.conf.update(broker_url=amqp_url, result_backend="rpc://", task_always_eager=False)
    with start_worker(app, perform_ping_check=False) as worker:
        yield worker
        # stop it now: left alone, its event loop notices only at its next poll, up to 10 s later
        app.control.shutdown(destination=[worker.hostname])


def test_the_worker_runs_the_task(worker):
    result = add_vat.delay(1000)
    assert result.get(timeout=5) == 1200
    assert result.state == "SUCCESS"
