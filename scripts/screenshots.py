"""Takes the screenshots in docs/img/ of the HTML report and the web
console, in headless Chromium (run by scripts/screenshots.sh, which makes
the cassette and the report and starts the console).

Usage: screenshots.py REPORT.html ADMIN_ADDR REDIS_PORT OUT_DIR
"""

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
from harness import console_errors, driver  # noqa: E402


def main():
    report, admin, port, out = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    out.mkdir(parents=True, exist_ok=True)
    d = driver(width=1400, height=1000)
    try:
        d.get(Path(report).resolve().as_uri())
        time.sleep(0.5)
        d.save_screenshot(str(out / "report.png"))
        # The slowest interaction, focused on the timeline from its link.
        links = d.find_elements("css selector", "#slowest a[data-e]")
        if links:
            links[0].click()
            time.sleep(0.3)
            d.execute_script("document.getElementById('timeline').scrollIntoView()")
            time.sleep(0.2)
            d.save_screenshot(str(out / "report-timeline.png"))
        errors = console_errors(d)
        if errors:
            raise SystemExit(f"the report logged errors: {errors}")

        d.get(f"http://{admin}/ui")
        time.sleep(1.0)
        # Traffic for the live tail, from a real client.
        for args in (["SET", "py:greeting", "hello"], ["GET", "py:greeting"],
                     ["HGETALL", "py:user"], ["LRANGE", "py:list", "0", "-1"],
                     ["GET", "py:greeting"], ["GET", "not-recorded"]):
            subprocess.run(["redis-cli", "-p", port, *args], check=False, capture_output=True)
        time.sleep(1.5)
        d.save_screenshot(str(out / "console.png"))
        errors = console_errors(d)
        if errors:
            raise SystemExit(f"the console logged errors: {errors}")
    finally:
        d.quit()


main()
