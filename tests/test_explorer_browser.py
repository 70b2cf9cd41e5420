"""The policy explorer end to end in headless Chromium (Debian's chromium and chromium-driver, via selenium).

A real uvicorn server on 127.0.0.1; nothing is downloaded (the driver's path is given). Screenshots
go to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from recnav_rules.service import forms
from recnav_rules.service.config import ServiceConfig
from recnav_rules.service.running import running_service
from tests.components import require

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
HIU = "bnssg-hiu-pilot"

# The example referral's six calls (examples/hiu-referral.json): five from a private dwelling in the month.
CALLS = [
    ("2026-10-25T22:14:00+01:00", "emergency", "private_dwelling"),
    ("2026-11-02T03:40:00Z", "urgent", "private_dwelling"),
    ("2026-11-07T19:05:00Z", "emergency", "private_dwelling"),
    ("2026-11-12T23:50:00Z", "emergency", "public_place"),
    ("2026-11-15T01:22:00Z", "urgent", "private_dwelling"),
    ("2026-11-19T17:30:00Z", "emergency", "private_dwelling"),
]
ACCEPTED = {
    "referral_date": "2026-11-20", "date_of_birth": "1988-02-29", "gp_practice_code": "L81004",
    "primary_mental_health_need": "Yes", "known_mental_health_disorder": "Yes", "diagnosed_learning_disability": "No",
    "substance_misuse": "No", "primary_dementia_diagnosis": "No", "mhsd_triage_completed": "Yes",
    "mhsd_triage_outcome": "signposting", "consent_to_referral": "Yes", "open_to_secondary_mental_health_services": "No",
    "receiving_mints_support": "No", "risk_of_violence": "No", "in_custody": "No", "cad_hiu_flag": "No",
    "name": "Alice Example",
}


def _browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_service(ServiceConfig(port=0)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require(_browser_available(), "chromium", "install the Debian packages chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="recnav-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1600", f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shot(driver: object, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"explorer-{name}.png"
    from selenium.webdriver.common.by import By

    driver.execute_script("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    body = driver.find_element(By.TAG_NAME, "body")  # type: ignore[attr-defined]
    driver.set_window_size(1280, max(900, min(body.size["height"] + 40, 2400)))  # type: ignore[attr-defined]
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    driver.set_window_size(1280, 1600)  # type: ignore[attr-defined]
    assert path.stat().st_size > 10_000
    return path


def click_and_wait(driver: object, element: object) -> None:
    """Click something that loads a new page, and wait until the old page is gone."""
    from selenium.webdriver.common.by import By

    page = driver.find_element(By.TAG_NAME, "html")  # type: ignore[attr-defined]
    element.click()  # type: ignore[attr-defined]
    wait_until_gone(driver, page)


def wait_until_gone(driver: object, page: object) -> None:
    """Wait until ``page`` (the old document's root) is gone and the new document has loaded.

    While Chrome swaps documents, asking about the old node can fail with an inspector error
    ("Node with given id does not belong to the document") rather than a stale-element error:
    both mean the old page is gone.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def gone(_: object) -> bool:
        try:
            page.is_enabled()  # type: ignore[attr-defined]
        except WebDriverException:
            return True
        return False

    WebDriverWait(driver, 60).until(gone)  # type: ignore[arg-type]
    WebDriverWait(driver, 60, ignored_exceptions=(WebDriverException,)).until(  # type: ignore[arg-type]
        lambda d: d.execute_script("return document.readyState") == "complete"  # type: ignore[attr-defined]
    )


def fill(driver: object, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for name, value in values.items():
        element = driver.find_element(By.ID, f"fact-{name}")  # type: ignore[attr-defined]
        if element.tag_name == "select":
            Select(element).select_by_visible_text(value.replace("_", " "))
        else:
            element.clear()
            element.send_keys(value)


def fill_calls(driver: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    rows = driver.find_elements(By.CSS_SELECTOR, "#fact-emergency_calls tr.record-row")  # type: ignore[attr-defined]
    if len(rows) < len(CALLS):
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "#fact-emergency_calls button[value='more:emergency_calls']"))  # type: ignore[attr-defined]
        rows = driver.find_elements(By.CSS_SELECTOR, "#fact-emergency_calls tr.record-row")  # type: ignore[attr-defined]
        assert len(rows) == forms.MIN_ROWS + 3
    for row, (at, category, location) in enumerate(CALLS):
        driver.find_element(By.ID, f"fact-emergency_calls-{row}-at").send_keys(at)  # type: ignore[attr-defined]
        Select(driver.find_element(By.ID, f"fact-emergency_calls-{row}-category")).select_by_value(category)  # type: ignore[attr-defined]
        Select(driver.find_element(By.ID, f"fact-emergency_calls-{row}-location")).select_by_value(location)  # type: ignore[attr-defined]


def open_form(driver: object, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base_url + "/")  # type: ignore[attr-defined]
    click_and_wait(driver, driver.find_element(By.LINK_TEXT, "BNSSG 999 high-intensity user pilot - Recovery Navigators (Second Step with SWASFT)"))  # type: ignore[attr-defined]
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith("BNSSG 999 high-intensity user pilot")  # type: ignore[attr-defined]
    click_and_wait(driver, driver.find_element(By.LINK_TEXT, "Try a referral"))  # type: ignore[attr-defined]
    assert "Try a referral" in driver.find_element(By.TAG_NAME, "h1").text  # type: ignore[attr-defined]
    driver.find_element(By.ID, "as_of").clear()  # type: ignore[attr-defined]
    driver.find_element(By.ID, "as_of").send_keys("2026-11-20")  # type: ignore[attr-defined]


def decide(driver: object) -> str:
    from selenium.webdriver.common.by import By

    click_and_wait(driver, driver.find_element(By.ID, "decide"))  # type: ignore[attr-defined]
    return str(driver.find_element(By.ID, "outcome").text)  # type: ignore[attr-defined]


def test_policy_page_shows_rules_in_order_quotes_and_the_flowchart(browser: object, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    import recnav_rules

    browser.get(f"{base_url}/")  # type: ignore[attr-defined]
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".card h2")]  # type: ignore[attr-defined]
    assert titles == [i.title for i in recnav_rules.list_policies()]
    shot(browser, "index")
    browser.get(f"{base_url}/policies/{HIU}")  # type: ignore[attr-defined]
    rules = browser.find_elements(By.CSS_SELECTOR, "ol.rules > li")  # type: ignore[attr-defined]
    assert [r.get_attribute("id") for r in rules] == [f"rule-{i}" for i in recnav_rules.load_policy(HIU).rule_ids]
    assert browser.find_elements(By.CSS_SELECTOR, "ol.rules blockquote.quote")  # type: ignore[attr-defined]
    chart = browser.find_element(By.CSS_SELECTOR, "figure.flow svg")  # type: ignore[attr-defined]
    assert chart.size["height"] > 400
    assert "adult_age" in browser.find_element(By.ID, "parameters").find_element(By.XPATH, "following-sibling::table").text  # type: ignore[attr-defined]
    shot(browser, "policy")


def test_accept_then_reject_with_explanation_and_a_link_without_personal_facts(browser: object, base_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_form(browser, base_url)
    fill(browser, ACCEPTED)
    fill_calls(browser)
    shot(browser, "form")
    assert decide(browser) == "ACCEPT"
    explanation = browser.find_element(By.ID, "explanation").text  # type: ignore[attr-defined]
    assert "ACCEPT: the referral meets the criteria for this service." in explanation
    browser.find_element(By.CSS_SELECTOR, "#trace summary").click()  # type: ignore[attr-defined]
    assert "in_hiu_cohort" in browser.find_element(By.ID, "trace").text  # type: ignore[attr-defined]
    shot(browser, "accept")
    link = browser.find_element(By.ID, "share-link").get_attribute("value")  # type: ignore[attr-defined]
    assert "f.date_of_birth=1988-02-29" in link
    assert "Alice" not in link and "f.name" not in link
    # The form keeps what was typed; one change gives a reject.
    Select(browser.find_element(By.ID, "fact-risk_of_violence")).select_by_visible_text("Yes")  # type: ignore[attr-defined]
    assert decide(browser) == "REJECT"
    assert "risk-of-violence" in browser.find_element(By.CSS_SELECTOR, "ol.reasons").text  # type: ignore[attr-defined]
    shot(browser, "reject")
    # The shared link gives the first decision again, personal facts left out.
    browser.get(link)  # type: ignore[attr-defined]
    assert browser.find_element(By.ID, "outcome").text == "ACCEPT"  # type: ignore[attr-defined]
    assert browser.find_element(By.ID, "fact-name").get_attribute("value") == ""  # type: ignore[attr-defined]
    click_and_wait(browser, browser.find_element(By.ID, "report-link"))  # type: ignore[attr-defined]
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Decision report")  # type: ignore[attr-defined]
    assert browser.find_element(By.ID, "outcome").text == "ACCEPT"  # type: ignore[attr-defined]
    shot(browser, "report")


def test_a_bad_date_is_shown_at_its_field(browser: object, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    open_form(browser, base_url)
    fill(browser, {"date_of_birth": "1988-02-30", "referral_date": "2026-11-20"})
    click_and_wait(browser, browser.find_element(By.ID, "decide"))  # type: ignore[attr-defined]
    summary = browser.find_element(By.ID, "error-summary")  # type: ignore[attr-defined]
    assert "date_of_birth: '1988-02-30' is not a date (YYYY-MM-DD)" in summary.text
    assert browser.switch_to.active_element.get_attribute("id") == "error-summary"  # type: ignore[attr-defined]
    message = browser.find_element(By.ID, "fact-date_of_birth-error")  # type: ignore[attr-defined]
    assert "is not a date" in message.text
    field = browser.find_element(By.ID, "fact-date_of_birth")  # type: ignore[attr-defined]
    assert field.get_attribute("aria-invalid") == "true"
    assert "fact-date_of_birth-error" in field.get_attribute("aria-describedby")
    assert field.get_attribute("value") == "1988-02-30"
    assert not browser.find_elements(By.ID, "outcome")  # type: ignore[attr-defined]
    shot(browser, "bad-date")
    browser.find_element(By.LINK_TEXT, "date_of_birth: '1988-02-30' is not a date (YYYY-MM-DD)").click()  # type: ignore[attr-defined]
    assert browser.switch_to.active_element.get_attribute("id") == "fact-date_of_birth"  # type: ignore[attr-defined]


def test_a_bad_call_time_is_located_at_its_row(browser: object, base_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_form(browser, base_url)
    row = 2  # rows 0 and 1 left empty: the engine sees this as the first call
    browser.find_element(By.ID, f"fact-emergency_calls-{row}-at").send_keys("2026-11-31T10:00")  # type: ignore[attr-defined]
    Select(browser.find_element(By.ID, f"fact-emergency_calls-{row}-category")).select_by_value("urgent")  # type: ignore[attr-defined]
    Select(browser.find_element(By.ID, f"fact-emergency_calls-{row}-location")).select_by_value("other")  # type: ignore[attr-defined]
    click_and_wait(browser, browser.find_element(By.ID, "decide"))  # type: ignore[attr-defined]
    text = browser.find_element(By.ID, "error-summary").text  # type: ignore[attr-defined]
    assert "emergency calls, row 3, at: '2026-11-31T10:00' is not a date and time" in text
    assert browser.find_element(By.ID, f"fact-emergency_calls-{row}-at-error").is_displayed()  # type: ignore[attr-defined]


def test_the_form_works_from_the_keyboard(browser: object, base_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{base_url}/policies/somerset-integrated-model/try")  # type: ignore[attr-defined]
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # type: ignore[attr-defined]
    assert browser.switch_to.active_element.text == "Skip to main content"  # type: ignore[attr-defined]
    field = browser.find_element(By.ID, "as_of")  # type: ignore[attr-defined]
    field.clear()
    page = browser.find_element(By.TAG_NAME, "html")  # type: ignore[attr-defined]
    field.send_keys("2026-11-20", Keys.ENTER)  # Enter submits the form as "Decide"
    wait_until_gone(browser, page)
    assert browser.find_element(By.ID, "outcome").text in {"ACCEPT", "REJECT", "SIGNPOST"}  # type: ignore[attr-defined]
    labels = {e.get_attribute("for") for e in browser.find_elements(By.CSS_SELECTOR, "form.referral label")}  # type: ignore[attr-defined]
    inputs = {e.get_attribute("id") for e in browser.find_elements(By.CSS_SELECTOR, "form.referral input:not([type=hidden]), form.referral select")}  # type: ignore[attr-defined]
    assert inputs <= labels


def test_decision_log_browser_finds_a_decision_by_id_and_shows_the_check(browser: object, tmp_path: Path) -> None:
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    example = Path(__file__).parent.parent / "examples" / "hiu-referral.json"
    import json

    with running_service(ServiceConfig(port=0, log_path=str(tmp_path / "log.db"))) as url:
        ids = [
            httpx.post(f"{url}/v1/policies/{HIU}/decisions", json={"facts": json.loads(example.read_text()), "as_of": "2026-11-20"}, timeout=30).json()["decision_id"]
            for _ in range(2)
        ]
        browser.get(url + "/")  # type: ignore[attr-defined]
        click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Decision log"))  # type: ignore[attr-defined]
        assert browser.find_element(By.ID, "verify").text.startswith("Log check: verified")  # type: ignore[attr-defined]
        Select(browser.find_element(By.ID, "policy")).select_by_value(HIU)  # type: ignore[attr-defined]
        click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form.search button"))  # type: ignore[attr-defined]
        listed = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "table.log tbody td:first-child")]  # type: ignore[attr-defined]
        assert listed == ids
        shot(browser, "log")
        browser.find_element(By.ID, "id").send_keys(ids[1])  # type: ignore[attr-defined]
        click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form.search button"))  # type: ignore[attr-defined]
        assert browser.find_element(By.ID, "decision-id").text == ids[1]  # type: ignore[attr-defined]
        assert browser.find_element(By.ID, "outcome").text == "ACCEPT"  # type: ignore[attr-defined]
