"""The web console in a real browser, against a running resplay (recording)
and a real Redis behind it: publish to a subscribed redis-py client, watch
the live tail show a client's commands as they are recorded, switch to
replay through the mode form and see them served and missed, filter the
tail, add a fault rule a client then meets, remove it; no console errors,
nothing fetched from anywhere else.

    console.py ADMIN_ADDR RESPLAY_PORT CASSETTE [TOKEN]

With TOKEN, the API wants it: the page must ask for it (its own form, not
prompt()), and the API's 401 answers before that are the only errors
allowed in the console."""

import sys
import time

import redis
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from harness import Checks, console_errors, driver

admin, port, cassette = sys.argv[1], int(sys.argv[2]), sys.argv[3]
token = sys.argv[4] if len(sys.argv) > 4 else None
origin = f"http://{admin}"
checks = Checks()
d = driver()


def wait(what, condition, timeout=20):
    """Waits for condition(); a FAIL line (not an exception) when it never holds."""
    try:
        # The page re-renders its tables as it polls: an element read a
        # moment ago may be gone, which is a reason to look again.
        WebDriverWait(
            d, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
        ).until(lambda _: condition())
        checks.check(what, True)
        return True
    except TimeoutException:
        checks.check(what, False, "timed out")
        return False


def text(element_id):
    return d.find_element(By.ID, element_id).text


def fill(element_id, value):
    """Types into a field as a user would (clear() fires no input event)."""
    field = d.find_element(By.ID, element_id)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE)
    if value:
        field.send_keys(value)


def submit(form_id):
    d.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]").click()


def tail_rows():
    """The live tail's rows as dicts, newest first."""
    return d.execute_script(
        """return [...document.querySelectorAll('#tail tbody tr')].map(tr => ({
             conn: tr.cells[1].textContent, db: tr.cells[2].textContent,
             outcome: tr.cells[3].textContent, cmd: tr.cells[4].textContent,
             reply: tr.cells[5].textContent }))"""
    )


def fault_rows():
    return d.execute_script(
        """return [...document.querySelectorAll('#faults tbody tr')].map(tr => ({
             id: tr.cells[0].textContent, rule: tr.cells[1].textContent,
             seen: tr.cells[2].textContent, fired: tr.cells[3].textContent }))"""
    )


def remove_first_fault():
    """Clicks the first rule's Remove (the table may be re-rendered under it)."""
    d.find_element(By.CSS_SELECTOR, "#faults tbody tr button").click()
    return True


def has_row(cmd, outcome):
    return any(r["cmd"] == cmd and r["outcome"] == outcome for r in tail_rows())


try:
    d.get(f"{origin}/ui")
    checks.check("the page loads", d.title == "resplay console", d.title)

    if token:
        wait(
            "the page asks for the token",
            lambda: d.find_element(By.ID, "token-dialog").get_attribute("open") is not None,
        )
        fill("token", "not-the-token")
        d.find_element(By.CSS_SELECTOR, "#token-form button").click()
        wait(
            "a wrong token is refused, and asked for again",
            lambda: d.find_element(By.ID, "token-wrong").is_displayed(),
        )
        fill("token", token)
        d.find_element(By.CSS_SELECTOR, "#token-form button").click()
        wait(
            "the token is taken",
            lambda: d.find_element(By.ID, "token-dialog").get_attribute("open") is None,
        )
        kept = d.execute_script("return sessionStorage.getItem('resplay-admin-token')")
        checks.check("the token is kept for the tab", kept == token, kept)

    wait("the status shows the mode", lambda: text("st-mode") == "record")
    checks.check("the status shows the cassette", text("st-cassette") == cassette, text("st-cassette"))
    wait("the live tail is connected", lambda: "●" in text("tail-h"))

    client = redis.Redis(port=port, decode_responses=True)

    # Publish to a subscriber of resplay's.
    pubsub = client.pubsub()
    pubsub.subscribe("news")
    first = pubsub.get_message(timeout=10)
    checks.check("the subscriber is subscribed", first and first["type"] == "subscribe", first)
    wait("the status counts the subscriber's connection", lambda: int(text("st-connections")) >= 1)
    fill("channel", "news")
    fill("message", "hello from the console")
    submit("publish-form")
    wait("the page says who received it", lambda: "1 receiver(s)" in text("inject-result"))
    got = None
    deadline = time.time() + 10
    while time.time() < deadline and got is None:
        message = pubsub.get_message(timeout=1)
        if message and message["type"] == "message":
            got = message
    checks.check(
        "the subscriber received the message",
        got is not None and got["channel"] == "news" and got["data"] == "hello from the console",
        got,
    )
    pubsub.close()

    # The tail as the client's commands are recorded.
    client.set("console:key", "value")
    client.get("console:key")
    wait("the tail shows a recorded SET", lambda: has_row("SET console:key value", "recorded"))
    wait("the tail shows a recorded GET", lambda: has_row("GET console:key", "recorded"))
    get = next(r for r in tail_rows() if r["cmd"] == "GET console:key")
    checks.check("with its reply", get["reply"] == '"value"', get)
    wait("the status counts what was recorded", lambda: int(text("st-recorded") or 0) >= 2)

    # Switch to replay with the mode form: the cassette typed in, the
    # options replay takes shown, record's hidden.
    Select(d.find_element(By.ID, "mode")).select_by_value("replay")
    checks.check(
        "replay's options show, record's do not",
        d.find_element(By.ID, "record-misses").is_displayed()
        and not d.find_element(By.ID, "append").is_displayed(),
    )
    fill("cassette", cassette)
    fill("ignore", "SET lock:* <any>")
    submit("mode-form")
    wait("the switch answers", lambda: text("mode-result").startswith("now replay"))
    checks.check(
        "with what the recording did",
        "recorded" in text("mode-result") and "interaction(s)" in text("mode-result"),
        text("mode-result"),
    )
    wait("the status shows replay", lambda: text("st-mode") == "replay")
    wait("and its counters", lambda: d.find_element(By.ID, "st-served").is_displayed())

    client = redis.Redis(port=port, decode_responses=True)
    checks.check("replay serves the recording", client.get("console:key") == "value")
    wait("the tail shows it served", lambda: has_row("GET console:key", "served"))
    try:
        client.get("console:never")
        missed = None
    except redis.ResponseError as e:
        missed = str(e)
    checks.check("a command never recorded misses", missed and "no recorded reply" in missed, missed)
    wait("the tail shows the miss", lambda: has_row("GET console:never", "missed"))
    wait("the status counts the miss", lambda: text("st-missed") == "1")

    # Filters: by command, then by connection.
    fill("filter-cmd", "never")
    wait(
        "filtering by command leaves only what matches",
        lambda: [r["cmd"] for r in tail_rows()] == ["GET console:never"],
    )
    fill("filter-cmd", "")
    served_conn = next(r["conn"] for r in tail_rows() if r["outcome"] == "served")
    fill("filter-conn", served_conn)
    wait(
        "filtering by connection leaves only its commands",
        lambda: tail_rows() and all(r["conn"] == served_conn for r in tail_rows()),
    )
    fill("filter-conn", "")

    # A fault rule, added from the page, met by a client, then removed.
    fill("fault-rule", 'GET console:key => error="ERR from the console"')
    submit("fault-form")
    wait(
        "the rule is listed",
        lambda: any("GET console:key => error" in f["rule"] for f in fault_rows()),
    )
    try:
        client.get("console:key")
        faulted = None
    except redis.ResponseError as e:
        faulted = str(e)
    # redis-py takes the error code off the message.
    checks.check("a client meets the fault", faulted == "from the console", faulted)
    wait("the rule counts what it fired", lambda: [f["fired"] for f in fault_rows()] == ["1"])
    wait("the rule's remove button is clicked", remove_first_fault)
    wait("the rule is removed", lambda: not fault_rows())
    checks.check("the client is served again", client.get("console:key") == "value")

    # A refused switch says why, and changes nothing.
    Select(d.find_element(By.ID, "mode")).select_by_value("replay")
    fill("cassette", cassette + ".missing")
    submit("mode-form")
    wait("a refused switch shows the API's reason", lambda: "400" in text("mode-result"))
    checks.check("still replaying", text("st-mode") == "replay")

    # Only the page's own server was asked for anything.
    urls = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    elsewhere = [u for u in urls if not u.startswith(origin + "/")]
    checks.check("nothing fetched from elsewhere", not elsewhere, elsewhere)

    errors = console_errors(d)
    # Expected: the 400 of the refused switch, and with a token the 401s
    # before it was given (Chrome logs every failed response).
    allowed = ["status of 400", "status of 401"] if token else ["status of 400"]
    unexpected = [e for e in errors if not any(a in e["message"] for a in allowed)]
    checks.check("no console errors", not unexpected, unexpected)
finally:
    d.quit()

checks.exit()
