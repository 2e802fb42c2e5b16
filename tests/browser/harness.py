"""What the browser tests share: a headless Chromium driven by selenium,
with the page's console kept so that a test can fail on its errors.

Needs Debian's chromium and chromium-driver and selenium from PyPI;
`bash scripts/browser-venv.sh` installs them (so does .ci/run)."""

import shutil

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def driver(width=1400, height=900):
    """A headless Chromium. No network is needed: the pages under test
    load nothing from elsewhere, and a test checks that they did not."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(chromedriver), options=options)


def console_errors(d):
    """The page's console errors so far (SEVERE entries of the browser log)."""
    return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def resources_loaded(d):
    """The URLs the page fetched besides itself: a report that works from
    file:// must fetch none."""
    return d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )


class Checks:
    """Collects PASS/FAIL lines, so that one run shows every failed check
    (the Rust side prints them when the script exits non-zero)."""

    def __init__(self):
        self.failed = 0

    def check(self, name, ok, detail=""):
        print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)
        if not ok:
            self.failed += 1

    def exit(self):
        raise SystemExit(1 if self.failed else 0)
