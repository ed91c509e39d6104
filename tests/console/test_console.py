"""The web console in a real browser (Playwright driving Debian's Chromium), effects checked over AMQP.

One broker and one browser for the module; each test has its own browser context (its own
sessionStorage) and logs in through the form. Outside CI a machine without /usr/bin/chromium
skips these; in CI they run (and fail without it: scripts/bootstrap.sh installs it as root).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import httpx
import pika
import pytest
from playwright.sync_api import expect

from tests.support.server import BrokerThread

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not IN_CI,
                                reason="Debian's chromium is not installed (scripts/bootstrap.sh installs it as root)")


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerThread]:
    started = BrokerThread().start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    assert CHROMIUM.exists(), "chromium is missing: scripts/bootstrap.sh installs Debian's package as root"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, broker):
    context = browser.new_context(base_url=broker.api)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())  # the confirm() of purge, delete, close
    yield opened
    context.close()


@pytest.fixture
def channel(broker) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    yield conn.channel()
    if conn.is_open:
        conn.close()


def login(page, hash_: str = "#/", user: str = "guest", password: str = "guest") -> None:
    page.goto(f"/{hash_}")
    page.fill("#login-username", user)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#menu:not([hidden])")


def depth(channel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


def test_login_refuses_a_wrong_password_and_logs_out(page):
    page.goto("/")
    page.fill("#login-username", "guest")
    page.fill("#login-password", "wrong")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("Login failed")
    expect(page.locator("#menu")).to_be_hidden()
    login(page)
    expect(page.locator("#who")).to_have_text("guest")
    expect(page.locator("#login")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('amqpd-auth')") == "Z3Vlc3Q6Z3Vlc3Q="  # guest:guest
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('amqpd-auth')") is None


def test_the_files_are_served_without_auth_and_api_404s_keep_their_body(broker):
    with httpx.Client(base_url=broker.api) as client:
        index = client.get("/")
        assert (index.status_code, index.headers["content-type"]) == (200, "text/html; charset=utf-8")
        assert 'id="login-username"' in index.text
        assert client.get("/console/console.js").status_code == 200
        assert client.get("/api/nothing/here").json() == {"error": "Object Not Found", "reason": "Not Found"}
        assert client.get("/console/missing.js").json() == {"error": "Object Not Found", "reason": "Not Found"}
        assert client.get("/api/overview").status_code == 401


def test_each_page_of_rabbitmqs_url_scheme_loads(page, channel):
    channel.queue_declare("url-q")
    login(page)
    for hash_, title in (("#/", "Overview"), ("#/connections", "Connections"), ("#/channels", "Channels"),
                         ("#/exchanges", "Exchanges"), ("#/exchanges/%2F/amq.direct", "Exchange: amq.direct"),
                         ("#/exchanges/%2F/amq.default", "Exchange: (AMQP default)"), ("#/queues", "Queues"),
                         ("#/queues/%2F/url-q", "Queue: url-q"), ("#/users", "Users"),
                         ("#/vhosts", "Virtual hosts"), ("#/policies", "Policies")):
        page.goto(f"/{hash_}")
        expect(page.locator("#page h1")).to_have_text(title)
        expect(page.locator("[data-part] table, [data-part] p").first).to_be_visible()  # the API answered
        expect(page.locator("#page .error")).to_have_count(0)
    page.goto("/#/queues")
    page.click("a[href='#/queues/%2F/url-q']")
    page.wait_for_selector("text=Queue: url-q")


def test_overview_shows_totals_after_amqp_traffic(page, channel, broker):
    channel.queue_declare("ov-q")
    for _ in range(3):
        channel.basic_publish("", "ov-q", b"x")
    assert depth(channel, "ov-q") == 3
    queues = httpx.get(f"{broker.api}/api/queues", auth=("guest", "guest")).json()
    login(page)
    assert sum(q["messages"] for q in queues) >= 3
    expect(page.locator("[data-total='messages']")).to_have_text(str(sum(q["messages"] for q in queues)))
    expect(page.locator("[data-total='queues']")).to_have_text(str(len(queues)))
    expect(page.locator("[data-total='connections']")).to_have_text("1")
    expect(page.locator("svg.chart polyline[data-series='publish']")).to_have_count(1)
    expect(page.locator("[data-part='listeners']")).to_contain_text("amqp")
    channel.queue_delete("ov-q")


def test_queue_page_counts_browse_publish_get_purge_delete(page, channel):
    channel.queue_declare("qp")
    for body in (b"one", b"two", b"three"):
        channel.basic_publish("", "qp", body)
    login(page, "#/queues/%2F/qp")
    expect(page.locator("[data-count='messages_ready']")).to_have_text("3")

    page.fill("[data-form='peek'] input[name='count']", "2")
    page.click("[data-form='peek'] button")
    expect(page.locator("#browsed pre.payload")).to_have_text(["one", "two"])
    assert depth(channel, "qp") == 3

    page.fill("[data-form='publish'] textarea[name='payload']", "four")
    page.click("[data-form='publish'] button")
    page.wait_for_selector("text=Message published.")
    assert depth(channel, "qp") == 4

    page.select_option("[data-form='get'] select[name='ackmode']", "ack_requeue_false")
    page.click("[data-form='get'] button")
    expect(page.locator("#got pre.payload")).to_have_text(["one"])
    assert depth(channel, "qp") == 3

    page.click("button[data-action='purge']")
    page.wait_for_selector("text=Queue purged.")
    assert depth(channel, "qp") == 0
    expect(page.locator("[data-count='messages_ready']")).to_have_text("0")

    page.click("button[data-action='delete']")
    page.wait_for_selector("#page h1:text-is('Queues')")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        depth(channel, "qp")
    assert closed.value.reply_code == 404


def test_exchange_page_publishes_and_explains_routes(page, channel):
    channel.exchange_declare("xp", "topic")
    channel.queue_declare("xp-q")
    channel.queue_bind("xp-q", "xp", "a.*")
    login(page, "#/exchanges/%2F/xp")
    page.wait_for_selector("[data-part='bindings'] td:text-is('a.*')")

    page.fill("[data-form='publish'] input[name='routing_key']", "a.b")
    page.fill("[data-form='publish'] textarea[name='payload']", "hello")
    page.click("[data-form='publish'] button")
    page.wait_for_selector("text=Message published.")
    method, _, body = channel.basic_get("xp-q", auto_ack=True)
    assert (body, method.routing_key) == (b"hello", "a.b")

    page.fill("[data-form='route'] input[name='routing_key']", "a.c")
    page.click("[data-form='route'] button")
    expect(page.locator("#route-result a[href='#/queues/%2F/xp-q']")).to_be_visible()
    expect(page.locator("#route-result tbody td")).to_have_text(["xp", "xp-q", "queue", "a.*", "{}", "binding"])
    page.fill("[data-form='route'] input[name='routing_key']", "b.c")
    page.click("[data-form='route'] button")
    page.wait_for_selector("#route-result [data-unroutable='true']")
    assert depth(channel, "xp-q") == 0  # explaining published nothing
    channel.exchange_delete("xp")
    channel.queue_delete("xp-q")


def test_force_close_a_connection(page, broker):
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", broker.port, client_properties={"connection_name": "close-me"}))
    login(page, "#/connections")
    row = page.locator("tr", has_text="close-me")
    row.wait_for()
    row.locator("button[data-close]").click()
    page.wait_for_selector("text=closed.")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        conn.process_data_events(time_limit=5)
        conn.channel()
    assert closed.value.reply_code == 320


def test_the_rate_chart_draws_the_apis_samples_when_it_sends_them(page):
    """RabbitMQ's msg_rates_age samples (cumulative counts, newest first) become rates; the page
    asks for them. The overview is answered here with samples, as the API gives them."""
    asked = []

    def with_samples(route):
        asked.append(route.request.url)
        reply = route.fetch()
        body = reply.json()
        now = page.evaluate("Date.now()")
        body["message_stats"] = {"publish": 150, "publish_details": {"rate": 0.0, "samples": [
            {"sample": 150, "timestamp": now}, {"sample": 100, "timestamp": now - 5000},
            {"sample": 0, "timestamp": now - 10000}]}}
        route.fulfill(response=reply, json=body)

    page.route("**/api/overview?*", with_samples)
    login(page)
    expect(page.locator("[data-rate='publish']")).to_have_text("10.0")  # (150 - 100) / 5 s
    assert page.locator("polyline[data-series='publish']").get_attribute("points").count(",") == 2
    assert "msg_rates_age=600" in asked[0] and "msg_rates_incr=5" in asked[0]


def test_a_page_the_user_may_not_see_shows_the_refusal_and_keeps_the_login(page, broker):
    with httpx.Client(base_url=broker.api, auth=("guest", "guest")) as admin:
        assert admin.put("/api/users/watcher", json={"password": "pw", "tags": "management"}).status_code == 201
        assert admin.put("/api/permissions/%2F/watcher", json={"configure": "", "write": "", "read": ".*"}).status_code == 201
    login(page, "#/users", user="watcher", password="pw")
    expect(page.locator("#page .error")).to_contain_text("not_authorised")
    page.goto("/#/queues")
    expect(page.locator("#page h1")).to_have_text("Queues")
    expect(page.locator("#who")).to_have_text("watcher")
