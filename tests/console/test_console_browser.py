"""The console in a real browser (headless Chromium) against the demo: a Telegram sandbox,
a gateway on a real port and a webhook receiver. Sign in, log in by QR (decoded from the
screenshot, regenerated on screen when it expires, accepted by a sandbox user, the page
turning ``authorized`` without a reload), log in by code with 2FA, start the runtime, see
an inbound message in the live event tail, redeliver it; /docs; and no request to any
host but the gateway, ever."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.console.browser import (
    WAIT,
    Background,
    chromium,
    decode_qr,
    element,
    follow,
    foreign,
    requested_urls,
    screenshots,
    text_of,
    wait,
)
from unifyport.cli.demo import API_HASH, API_ID, PASSWORD_2FA, USERS
from unifyport_telegram.sandbox.testing import ControlClient, ControlError

QR_TTL = 6.0
Shot = Callable[[WebDriver, str], None]


@pytest.fixture(scope="module")
def bg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Background]:
    background = Background(tmp_path_factory.mktemp("demo"), QR_TTL)
    try:
        yield background
    finally:
        background.close()


@pytest.fixture(scope="module")
def control(bg: Background) -> Iterator[ControlClient]:
    client = ControlClient(bg.demo.control_url)
    yield client
    bg.run(client.close())


@pytest.fixture(scope="module")
def browser(bg: Background) -> Iterator[WebDriver]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shot]:
    with screenshots(tmp_path_factory.mktemp("shots")) as take:
        yield take


@pytest.fixture(autouse=True)
def only_the_gateway(browser: WebDriver, bg: Background) -> Iterator[None]:
    """After each test: the pages asked the gateway for everything, and nothing else."""
    requested_urls(browser)  # start afresh
    yield
    urls = requested_urls(browser)
    assert urls, "the browser's request log is empty: the check would prove nothing"
    assert foreign(urls, bg.demo.url) == []


def patient(browser: WebDriver, until: Callable[[WebDriver], Any],
            timeout: float = WAIT) -> Any:
    """``wait`` that tolerates elements being replaced while it looks (live regions)."""
    try:
        return WebDriverWait(browser, timeout, 0.25, ignored_exceptions=(
            StaleElementReferenceException, NoSuchElementException, AssertionError)
        ).until(until)
    except TimeoutException:
        main = browser.find_elements(By.TAG_NAME, "main")
        raise AssertionError(f"timed out on {browser.current_url}: "
                             f"{main[0].text if main else browser.page_source[:3000]}") from None


def create_account(browser: WebDriver, mode: str, name: str, fields: dict[str, str]) -> str:
    follow(browser, "nav-accounts")
    follow(browser, "new-account")
    follow(browser, f"mode-telegram-{mode}")
    wait(browser, lambda b: element(b, "field-name")).send_keys(name)
    for key, value in fields.items():
        element(browser, f"field-{key}").send_keys(value)
    follow(browser, "create-submit")
    patient(browser, lambda b: text_of("account-status")(b) == "pending")
    return browser.current_url.rsplit("/", 1)[-1]


def test_sign_in_sets_a_strict_httponly_session(browser: WebDriver, bg: Background,
                                                 shot: Shot) -> None:
    demo = bg.demo
    browser.get(demo.url + "/console")
    wait(browser, lambda b: b.current_url.endswith("/console/sign-in"))
    shot(browser, "sign-in")
    element(browser, "login-api-key").send_keys("upk_not-a-key")
    follow(browser, "login-submit")
    assert "not valid" in wait(browser, text_of("login-error"))
    element(browser, "login-api-key").send_keys(demo.key)
    follow(browser, "login-submit")
    wait(browser, lambda b: b.current_url.endswith("/console/accounts"))
    (cookie,) = [c for c in browser.get_cookies() if c["name"] == "unifyport_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and "expiry" in cookie
    assert demo.key not in browser.page_source and demo.key not in browser.current_url
    assert browser.execute_script("return document.cookie").find("unifyport_console") < 0


def test_qr_login_regenerates_and_turns_authorized_without_reload(
        browser: WebDriver, bg: Background, control: ControlClient, shot: Shot) -> None:
    create_account(browser, "qrcode", "Ada by QR", {"api_id": str(API_ID),
                                                    "api_hash": API_HASH})
    follow(browser, "qr-start")
    qr = patient(browser, lambda b: element(b, "qr"))
    assert text_of("account-status")(browser) == "awaiting_qr_scan"
    # on a dark card: the code must carry its own white background and quiet zone
    browser.execute_script("window.__noReload = 1;"
                           "arguments[0].parentElement.style.background = '#1b1f24'", qr)
    first, quiet = decode_qr(qr.screenshot_as_png)
    assert first.startswith("tg://login?token=") and quiet >= 3.5, (first, quiet)
    shown = base64.b64decode(qr.get_attribute("src").split(",", 1)[1]).decode()
    assert shown.startswith("<svg") and 'fill="#fff"' in shown  # the API's SVG, verbatim
    shot(browser, "qr-login")

    def regenerated(b: WebDriver) -> str | None:
        text, _ = decode_qr(element(b, "qr").screenshot_as_png)
        return text if text != first else None

    patient(browser, regenerated, timeout=QR_TTL * 3 + WAIT)
    ada = bg.demo.users["Ada"]
    for _ in range(5):  # the code on screen may expire between the screenshot and the scan
        token, _ = patient(browser, lambda b: decode_qr(element(b, "qr").screenshot_as_png))
        assert token == patient(browser, lambda b: element(b, "qr-url").get_attribute(
            "textContent"))
        try:
            bg.run(control.accept_qr(token, ada["id"]))
            break
        except ControlError as exc:
            assert exc.status == 410, exc
    patient(browser, lambda b: text_of("account-status")(b) == "authorized")
    assert browser.execute_script("return window.__noReload") == 1  # no page load happened
    assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="qr"]') == []


def test_runtime_event_tail_and_redeliver(browser: WebDriver, bg: Background,
                                          control: ControlClient, shot: Shot) -> None:
    account_id = browser.current_url.rsplit("/", 1)[-1]
    follow(browser, "runtime-start")
    patient(browser, lambda b: text_of("runtime-status")(b) == "running")
    shot(browser, "account")
    follow(browser, "nav-events")
    wait(browser, lambda b: element(b, "events-table"))
    browser.execute_script("window.__noReload = 1")
    users = bg.demo.users
    bg.run(control.push_message(users["Ada"]["id"], users["Carol"]["id"], "Hello from Carol"))
    row = patient(browser, lambda b: next((r for r in b.find_elements(
        By.CSS_SELECTOR, '[data-testid="event-row"][data-event-type="message.received"]')
        if "Hello from Carol" in r.text), None))
    assert account_id in row.text and browser.execute_script("return window.__noReload") == 1
    event_id = row.get_attribute("data-event-id")
    shot(browser, "events")
    row.find_element(By.TAG_NAME, "a").click()
    wait(browser, lambda b: element(b, "event-deliveries"))

    def delivered(b: WebDriver) -> bool:  # the first delivery lands within moments
        b.refresh()
        return "succeeded" in text_of("delivery-status")(b)

    patient(browser, delivered)
    follow(browser, "redeliver")
    assert "again" in patient(browser, text_of("notice"))

    def delivered_twice(_: WebDriver) -> bool:
        same = [d for d in bg.demo.deliveries if d["headers"]["webhook-id"] == event_id]
        return len(same) >= 2 and b"Hello from Carol" in same[-1]["body"]

    patient(browser, delivered_twice)

    def recorded_twice(b: WebDriver) -> bool:  # outcomes are recorded in batches
        b.refresh()
        return len(b.find_elements(By.CSS_SELECTOR, '[data-testid="attempt-row"]')) >= 2

    patient(browser, recorded_twice)
    shot(browser, "event")


def test_code_login_with_2fa_shows_api_errors_at_the_field(
        browser: WebDriver, bg: Background, control: ControlClient, shot: Shot) -> None:
    phone = USERS[1][0]  # Bob, who has a 2FA password
    create_account(browser, "code", "Bob by code", {
        "api_id": str(API_ID), "api_hash": API_HASH, "phone": phone})
    follow(browser, "start")
    patient(browser, lambda b: text_of("account-status")(b) == "awaiting_code")
    element(browser, "field-code").send_keys("00000")
    follow(browser, "code")
    assert patient(browser, text_of("field-error-code"))
    assert element(browser, "field-code").get_attribute("aria-invalid") == "true"
    shot(browser, "code-error")
    code = bg.run(control.get_code(phone.lstrip("+")))
    element(browser, "field-code").send_keys(code)
    follow(browser, "code")
    patient(browser, lambda b: text_of("account-status")(b) == "awaiting_password")
    element(browser, "field-password").send_keys(PASSWORD_2FA)
    follow(browser, "password")
    patient(browser, lambda b: text_of("account-status")(b) == "authorized")


def test_accounts_list_fits_a_phone_and_filters(browser: WebDriver, shot: Shot) -> None:
    follow(browser, "nav-accounts")
    rows = patient(browser, lambda b: b.find_elements(By.CSS_SELECTOR,
                                                      '[data-testid="account-row"]'))
    assert len(rows) == 2
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth")
    shot(browser, "accounts")
    element(browser, "filter-status").send_keys("awaiting_code")
    follow(browser, "filter-submit")
    patient(browser, lambda b: "No accounts" in element(b, "accounts-table").text)
    assert "status=awaiting_code" in urllib.parse.urlsplit(browser.current_url).query


def test_webhook_endpoints_show_state_and_recover(browser: WebDriver) -> None:
    follow(browser, "nav-webhooks")
    endpoint = patient(browser, lambda b: b.find_element(
        By.CSS_SELECTOR, '[data-testid="webhook-row"][data-endpoint="demo"]'))
    assert "enabled" in element(endpoint, "webhook-state").text
    assert "succeeded" in element(endpoint, "webhook-state").text
    since = endpoint.find_element(By.NAME, "since")
    since.clear()
    since.send_keys("2020-01-01T00:00:00Z")
    follow(browser, "webhook-recover")
    assert "recover:demo" in patient(browser, text_of("notice"))


def test_delete_asks_first_then_sign_out(browser: WebDriver, bg: Background) -> None:
    follow(browser, "nav-accounts")
    link = patient(browser, lambda b: next((
        r for r in b.find_elements(By.CSS_SELECTOR, '[data-testid="account-row"]')
        if "Bob by code" in r.text), None)).find_element(By.TAG_NAME, "a")
    link.click()
    follow(browser, "delete-account")
    follow(browser, "delete-confirm")
    assert "deleted" in patient(browser, text_of("notice"))
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="account-row"]')) == 1
    follow(browser, "sign-out")
    wait(browser, lambda b: b.current_url.endswith("/console/sign-in"))
    browser.get(bg.demo.url + "/console/accounts")
    wait(browser, lambda b: b.current_url.endswith("/console/sign-in"))


def test_docs_render_offline(browser: WebDriver, bg: Background, shot: Shot,
                             tmp_path: Path) -> None:
    browser.get(bg.demo.url + "/docs")
    title = patient(browser, lambda b: b.find_element(By.CSS_SELECTOR, ".swagger-ui .title"))
    assert "UnifyPort" in title.text
    patient(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock-tag"))
    shot(browser, "api-docs")
