"""The console in a real headless Chromium, against a real `alpr serve`, a real
redis-server, a real dispatcher (in a thread) and a SQLite store. Each test saves a
screenshot of its page (docs/img/console-*.png come from these)."""
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

pytest.importorskip("selenium", reason="selenium not installed (make venv installs it)")

from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException, StaleElementReferenceException)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from alpr.keys import Keys  # noqa: E402


def wait(browser, condition, timeout=10.0, poll=0.05):
    """Poll `condition(browser)` until truthy; an element of the page being left (stale) or
    of the page not there yet counts as not yet."""
    return WebDriverWait(browser, timeout, poll_frequency=poll, ignored_exceptions=(
        NoSuchElementException, StaleElementReferenceException)).until(condition)


def card(browser, plate):
    found = browser.find_elements(By.CSS_SELECTOR, 'article.event[data-plate="%s"]' % plate)
    return found[0] if found else None


def open_live(browser, server):
    browser.get(server.base + "/")
    wait(browser, lambda b: b.find_element(By.ID, "state").text == "live")


def test_live_shows_an_event_within_2_s_of_the_dispatcher_emitting_it(browser, server,
                                                                       dispatcher,
                                                                       redis_client, shots):
    open_live(browser, server)
    dispatcher.vehicle("gate-north", "KLM4821")
    dispatcher.wait_event("KLM4821")
    shown = wait(browser, lambda b: card(b, "KLM4821"), timeout=5.0)
    seen_at = time.time()
    delay = seen_at - dispatcher.emitted["KLM4821"]
    assert delay < 2.0, "the Live page showed the event %.2f s after its emission" % delay
    print("live delay: %.3f s" % delay)
    assert "gate-north" in shown.text and "unknown" in shown.text and "%" in shown.text
    crop = shown.find_element(By.CSS_SELECTOR, "img.crop")
    wait(browser, lambda b: b.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", crop) == 240)
    # the reads of the frames behind it arrived too (from the results stream)
    reads = browser.find_elements(By.CSS_SELECTOR, "#reads li")
    assert any("KLM4821" in r.text for r in reads)
    read_crop = reads[0].find_element(By.CSS_SELECTOR, "img.read-crop")  # from evidence:{id}
    wait(browser, lambda b: b.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", read_crop) == 240)
    # an alert the alert rules append to the alerts stream shows as a banner
    alert = {"rule": "deny-list", "plate": "KLM4821", "camera": "gate-north",
             "event_id": dispatcher.events[-1]["id"], "label": "deny", "at": time.time(),
             "message": "denied plate at the gate"}
    redis_client.xadd(Keys("alpr:").alerts, {"json": json.dumps(alert)})
    banner = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#alerts .alert"))[0]
    assert "KLM4821" in banner.text and "denied plate at the gate" in banner.text
    dispatcher.vehicle("gate-south", "RTX5093")
    wait(browser, lambda b: card(b, "RTX5093"), timeout=10.0)


def test_a_search_finds_a_plate_also_with_a_look_alike_swapped(browser, server, dispatcher,
                                                             shots):
    dispatcher.vehicle("gate-north", "BKR4821")
    event = dispatcher.wait_event("BKR4821")
    for asked in ("BKR4821", "8KR4821"):  # B -> 8: one look-alike swapped
        browser.get(server.base + "/search")
        box = browser.find_element(By.NAME, "plate")
        box.clear()
        box.send_keys(asked)
        Select(browser.find_element(By.NAME, "camera")).select_by_visible_text("gate-north")
        browser.find_element(By.CSS_SELECTOR, "form.search button").click()
        found = wait(browser, lambda b: card(b, "BKR4821"))
        assert found.get_attribute("data-id") == event["id"]
    browser.save_screenshot(os.path.join(shots, "console-search.png"))
    # the event's page: the best frame on a canvas with the plate box drawn in red
    found.find_element(By.CSS_SELECTOR, "a.plate").click()
    canvas = wait(browser, lambda b: b.find_element(By.ID, "frame")
                  if b.find_element(By.ID, "frame").get_attribute("data-drawn") else None)
    assert canvas.get_attribute("data-drawn") == "box"
    box = json.loads(canvas.get_attribute("data-box"))
    assert box == [260.0, 235.0, 380.0, 265.0]  # PLATE_BOX at the snapshot's half size
    edge, inside = browser.execute_script(
        "var c = arguments[0].getContext('2d');"
        "return [Array.from(c.getImageData(arguments[1], arguments[2], 1, 1).data),"
        "        Array.from(c.getImageData(arguments[1] + 60, arguments[3], 1, 1).data)];",
        canvas, int(box[0]), int((box[1] + box[3]) / 2), int(box[1]) + 4)  # edge; plate margin
    assert edge[0] > 200 and edge[1] < 90, "no red box edge at the plate: %r" % edge
    assert inside[0] > 150 and inside[1] > 150, "the plate is not inside the box: %r" % inside
    browser.save_screenshot(os.path.join(shots, "console-event.png"))


def test_adding_a_known_plate_labels_the_next_event_of_that_plate(browser, server, dispatcher,
                                                                  redis_client, shots,
                                                                  tmp_path):
    browser.get(server.base + "/known")
    form = browser.find_element(By.CSS_SELECTOR, "form.add")
    form.find_element(By.NAME, "plate").send_keys("DNY7312")
    Select(form.find_element(By.NAME, "label")).select_by_value("deny")
    form.find_element(By.NAME, "note").send_keys("banned since March")
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait(browser, lambda b: "saved DNY7312" in b.find_element(By.TAG_NAME, "main").text)
    row = browser.find_element(By.XPATH, "//table[contains(@class,'known')]//tr[td//span"
                                         "[text()='DNY7312']]")
    assert Select(row.find_element(By.NAME, "label")).first_selected_option.text == "deny"
    browser.find_element(By.CSS_SELECTOR, "form.add input[name=plate]").send_keys("STF1009")
    browser.find_element(By.CSS_SELECTOR, "form.add input[name=note]").send_keys("staff")
    browser.find_element(By.CSS_SELECTOR, "form.add button").click()
    wait(browser, lambda b: "saved STF1009" in b.find_element(By.TAG_NAME, "main").text)
    # import a CSV file through the file picker (the page's JS puts it in the form)
    csv_path = os.path.join(str(tmp_path), "plates.csv")
    with open(csv_path, "w") as fh:
        fh.write("plate,label,note\nVAN4410,allow,delivery van\nQRT0087,deny,tailgated\n")
    browser.find_element(By.ID, "csv-file").send_keys(csv_path)
    wait(browser, lambda b: "VAN4410" in b.find_element(By.ID, "csv-text").get_attribute(
        "value"))
    browser.find_element(By.CSS_SELECTOR, "form.import button").click()
    wait(browser, lambda b: "imported 2 plates" in b.find_element(By.TAG_NAME, "main").text)
    listed = browser.find_element(By.CSS_SELECTOR, "table.known").text
    assert all(p in listed for p in ("DNY7312", "QRT0087", "STF1009", "VAN4410"))
    browser.save_screenshot(os.path.join(shots, "console-known.png"))
    # edit in place: the row's note and its Save button (the row's own form)
    note = browser.find_element(By.CSS_SELECTOR, 'input[form="edit-STF1009"][name=note]')
    note.clear()
    note.send_keys("staff, night shift")
    browser.find_element(By.CSS_SELECTOR, 'button[form="edit-STF1009"]').click()
    wait(browser, lambda b: "saved STF1009" in b.find_element(By.TAG_NAME, "main").text)
    assert browser.find_element(By.CSS_SELECTOR, 'input[form="edit-STF1009"][name=note]'
                                ).get_attribute("value") == "staff, night shift"
    time.sleep(0.3)  # the dispatcher re-reads the store's list every 0.2 s here (10 s default)
    open_live(browser, server)
    dispatcher.vehicle("gate-north", "DNY7312")
    shown = wait(browser, lambda b: card(b, "DNY7312"), timeout=10.0)
    badge = shown.find_element(By.CSS_SELECTOR, ".label")
    assert "deny" in badge.get_attribute("class") and "banned since March" in badge.text
    redis_client.xadd(Keys("alpr:").alerts, {"json": json.dumps({
        "rule": "deny-list", "plate": "DNY7312", "camera": "gate-north", "label": "deny",
        "event_id": dispatcher.events[-1]["id"], "at": time.time(),
        "message": "denied plate (banned since March)"})})
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#alerts .alert"))
    dispatcher.vehicle("gate-south", "STF1009")
    allowed = wait(browser, lambda b: card(b, "STF1009"), timeout=10.0)
    assert "allow" in allowed.find_element(By.CSS_SELECTOR, ".label").get_attribute("class")
    browser.save_screenshot(os.path.join(shots, "console-live.png"))
    # on a phone's width the pages stack: nothing wider than the screen (tables scroll)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        for path in ("/", "/known", "/search?plate=DNY7312"):
            browser.get(server.base + path)
            assert browser.execute_script(
                "return document.documentElement.scrollWidth") <= 390, path
        browser.save_screenshot(os.path.join(shots, "console-phone.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_fleet_shows_nodes_and_accounting_and_drains_a_node(browser, server, dispatcher,
                                                            redis_client, shots):
    from worker.heartbeat import Heartbeat

    keys = Keys("alpr:")
    for name, fps in (("jetson-gate-1", "7.42"), ("cuda-box-2", "31.90")):
        Heartbeat(redis_client, keys, name, lambda fps=fps: {
            "engine": "pipeline", "fps": fps, "p50_ms": "128.4", "frames": 412},
            on_drained=lambda drained: None).beat()
    dispatcher.vehicle("gate-north", "FLT2024")
    dispatcher.wait_event("FLT2024")
    browser.get(server.base + "/fleet")
    nodes = browser.find_element(By.CSS_SELECTOR, "table.nodes").text
    assert "jetson-gate-1" in nodes and "7.42" in nodes and "pipeline" in nodes
    cameras = browser.find_element(By.CSS_SELECTOR, "table.cameras").text
    assert "gate-north" in cameras and "ok" in cameras
    assert "holds" in browser.find_element(By.CSS_SELECTOR, ".invariant").text
    row = browser.find_element(By.XPATH, "//tr[td[text()='jetson-gate-1']]")
    row.find_element(By.CSS_SELECTOR, "button.drain").click()
    wait(browser, lambda b: b.find_elements(By.XPATH, "//tr[td[text()='jetson-gate-1']]"
                                                      "//button[contains(@class,'undrain')]"))
    assert redis_client.sismember(keys.drained(), "jetson-gate-1")
    browser.save_screenshot(os.path.join(shots, "console-fleet.png"))
    browser.find_element(By.XPATH, "//tr[td[text()='jetson-gate-1']]//button").click()
    wait(browser, lambda b: b.find_elements(By.XPATH, "//tr[td[text()='jetson-gate-1']]"
                                                      "//button[contains(@class,'drain')]"))
    assert not redis_client.sismember(keys.drained(), "jetson-gate-1")


def _status(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=5) as answer:
            return answer.status, answer.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_a_login_is_required_when_configured(browser, login_server, dispatcher):
    dispatcher.vehicle("gate-north", "LGN3300")
    event = dispatcher.wait_event("LGN3300")
    base = login_server.base
    crop = "%s/api/events/%s/crop.jpg" % (base, urllib.parse.quote(event["id"], safe=""))
    # no evidence, no page, no stream without a login
    assert _status(crop)[0] == 401
    code, headers = _status(base + "/search?plate=LGN3300")
    assert code == 303 and headers["Location"].startswith("/login?next=")
    assert _status(base + "/stream")[0] == 401
    browser.delete_all_cookies()
    browser.get(base + "/search?plate=LGN3300")
    assert "/login" in browser.current_url
    secret = browser.find_element(By.NAME, "secret")
    secret.send_keys("wrong")
    browser.find_element(By.CSS_SELECTOR, ".login button").click()
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".login .error"))
    browser.find_element(By.NAME, "secret").send_keys("pass-456")
    browser.find_element(By.CSS_SELECTOR, ".login button").click()
    found = wait(browser, lambda b: card(b, "LGN3300"))  # back on the page asked for
    img = found.find_element(By.CSS_SELECTOR, "img.crop")
    wait(browser, lambda b: b.execute_script("return arguments[0].naturalWidth", img) > 0)
    cookie = browser.get_cookie("alpr_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    # a forged POST with the victim's session cookie but without its CSRF token is refused
    jar = "alpr_session=%s" % cookie["value"]
    body = urllib.parse.urlencode({"plate": "EVIL001", "label": "allow"}).encode()
    code, _ = _status(base + "/known", body, {"Cookie": jar, "Content-Type":
                                              "application/x-www-form-urlencoded"})
    assert code == 403
    assert _status(crop, headers={"Cookie": jar})[0] == 200  # the session may read evidence
    assert _status(crop, headers={"X-API-Token": "tok-123"})[0] == 200
    # the session cookie is no API token for writes
    code, _ = _status(base + "/api/known-plates", json.dumps(
        {"plate": "EVIL001", "label": "allow"}).encode(), {"Cookie": jar,
                                                           "Content-Type": "application/json"})
    assert code == 401
    browser.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait(browser, lambda b: "/login" in b.current_url)
    assert _status(crop, headers={"Cookie": jar})[0] == 401
