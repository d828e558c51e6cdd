"""The playground in a real headless browser (Debian's chromium via selenium) against the
real bundled model: load the page, ask three profiles for suggestions, run a small sweep."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import stop_process

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run")
CODE = 'def fibonacci(n: int) -> int:\n    """Return the n-th Fibonacci number."""\n    '



@pytest.fixture(autouse=True, scope="module")
def _browser_installed() -> None:
    """A missing browser fails (scripts/test installs it), it is not skipped."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    assert not missing, f"missing {missing}: run .ci/install-playground.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
        try:
            with urllib.request.urlopen(url + "api/status", timeout=5) as r:
                status = json.load(r)
            if status["state"] in ("ready", "failed"):
                return status
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError("playground did not get ready")


@pytest.fixture(scope="module")
def playground():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "server")}
    proc = subprocess.Popen([sys.executable, "-m", "distill_lsp", "playground", "--port", str(port),
                             "--threads", "1", "--max-new-tokens", "16"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        status = wait_ready(url, proc)
        assert status["state"] == "ready", status
        yield url
    finally:
        stop_process(proc, 20)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float = 120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def test_suggestions_of_three_profiles_side_by_side(playground, browser) -> None:
    from selenium.webdriver.common.by import By

    browser.get(playground)
    _wait(browser, lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "ready", 30)
    assert "SmolLM2" in browser.find_element(By.ID, "status").text
    columns = browser.find_elements(By.CSS_SELECTOR, ".column")
    assert [c.find_element(By.CSS_SELECTOR, ".base").get_attribute("value") for c in columns] == [
        "greedy", "precise", "creative"]
    # edit a profile: precise at temperature 0.3
    field = columns[1].find_element(By.CSS_SELECTOR, "[data-key=temperature]")
    field.clear()
    field.send_keys("0.3")
    browser.execute_script("const c = document.getElementById('code'); c.value = arguments[0]; c.focus();"
                           "c.setSelectionRange(c.value.length, c.value.length);"
                           "c.dispatchEvent(new Event('input'));", CODE)
    assert browser.find_element(By.ID, "cursor").text == str(len(CODE))
    browser.find_element(By.ID, "suggest").click()
    _wait(browser, lambda d: all(p.get_attribute("data-done") for p in d.find_elements(By.CSS_SELECTOR, ".suggestion")))
    shown = [p.text for p in browser.find_elements(By.CSS_SELECTOR, ".suggestion")]
    profiles = [p.get_attribute("data-profile") for p in browser.find_elements(By.CSS_SELECTOR, ".suggestion")]
    assert profiles == ["greedy", "precise (edited)", "creative"]
    assert shown[0].strip() and not shown[0].startswith("(no suggestion"), shown
    assert browser.find_element(By.ID, "suggest-error").text == ""


def test_small_sweep_with_plot(playground, browser) -> None:
    from selenium.webdriver.common.by import By

    browser.get(playground)
    _wait(browser, lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "ready", 30)
    for element_id, value in (("temperatures", "0.2,1.2"), ("samples", "2")):
        box = browser.find_element(By.ID, element_id)
        box.clear()
        box.send_keys(value)
    browser.find_element(By.ID, "sweep").click()
    _wait(browser, lambda d: d.find_element(By.ID, "sweep-table").get_attribute("data-done"))
    table = browser.find_element(By.ID, "sweep-table").text
    for column in ("consistency", "distinct", "syntax errors", "mean length", "pass rate"):
        assert column in table
    assert "| 0.2 |" in table and "| 1.2 |" in table
    plot = browser.find_element(By.ID, "sweep-plot")
    assert plot.is_displayed()
    assert browser.execute_script("return arguments[0].naturalWidth", plot) > 100
