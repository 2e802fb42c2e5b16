"""What a person sees in a `resplay report` page, in headless Chromium.

Usage: report.py REPORT.html CONNECTIONS INTERACTIONS SLOWEST_COMMAND
                 [--miss COMMAND CLOSEST CLOSEST_STATE]

Opens the page from file://, and checks: the summary's counts, a lane per
connection, the slowest command named first and its link focusing its mark
on the timeline, a mark's text shown on hover, zooming, dark mode, the
misses (with an overlay) linking to their closest recording; no console
errors and no request leaving the page.
"""

import sys
import time
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from harness import Checks, console_errors, driver, resources_loaded


def text(d, css):
    found = d.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else None


def main():
    args = sys.argv[1:]
    page, connections, interactions, slowest = args[:4]
    miss = args[5:8] if len(args) > 4 and args[4] == "--miss" else None
    c = Checks()
    d = driver()
    try:
        d.get(Path(page).resolve().as_uri())
        time.sleep(0.3)

        c.check("summary connections", text(d, "#summary [data-stat=connections] dd") == connections,
                text(d, "#summary [data-stat=connections] dd"))
        c.check("summary interactions", text(d, "#summary [data-stat=interactions] dd") == interactions,
                text(d, "#summary [data-stat=interactions] dd"))
        c.check("summary RESP3 connections", text(d, "#summary [data-stat=resp3] dd") == "1",
                text(d, "#summary [data-stat=resp3] dd"))
        lanes = d.find_elements(By.CSS_SELECTOR, "#timeline .lane")
        c.check("a lane per connection", len(lanes) == int(connections), len(lanes))
        c.check("lanes are labelled", all(l.text.startswith("conn ") for l in lanes),
                [l.text for l in lanes])
        c.check("not sampled", d.find_element(By.ID, "sampling").get_attribute("data-sampled") == "false")

        first = d.find_element(By.CSS_SELECTOR, "#slowest tbody tr:first-child")
        c.check("slowest command named first", slowest in first.text, first.text)

        # The slowest row's link focuses its mark: detail, lane, zoom.
        before = text(d, "#view-range")
        link = first.find_element(By.CSS_SELECTOR, "a[data-e]")
        link.click()
        time.sleep(0.2)
        detail = d.find_element(By.ID, "detail")
        c.check("link shows the mark's command", slowest in detail.text, detail.text)
        c.check("link shows the mark's reply", "(nil)" in detail.text, detail.text)
        c.check("detail is the linked mark", detail.get_attribute("data-e") == link.get_attribute("data-e"))
        c.check("timeline zoomed to it", text(d, "#view-range") != before, text(d, "#view-range"))
        hl = d.find_elements(By.CSS_SELECTOR, ".lane.hl")
        c.check("its lane is highlighted", len(hl) == 1, len(hl))

        # Hovering the focused mark (centred in the track) shows its text.
        canvas = d.find_element(By.ID, "timeline-canvas")
        if hl:
            crect = d.execute_script("return arguments[0].getBoundingClientRect().toJSON()", canvas)
            lrect = d.execute_script("return arguments[0].getBoundingClientRect().toJSON()", hl[0])
            gutter, pad = 120, 8
            x = gutter + (crect["width"] - gutter - pad) / 2
            y = lrect["top"] + lrect["height"] / 2 - crect["top"]
            ActionChains(d).move_to_element_with_offset(
                canvas, int(x - crect["width"] / 2), int(y - crect["height"] / 2)).perform()
            time.sleep(0.2)
            tip = d.find_element(By.ID, "tooltip")
            c.check("hover shows the command", tip.is_displayed() and slowest in tip.text, tip.text)

        d.find_element(By.ID, "zoom-reset").click()
        full = text(d, "#view-range")
        d.find_element(By.ID, "zoom-in").click()
        c.check("zoom in narrows the view", text(d, "#view-range") != full, full)

        groups = d.find_elements(By.CSS_SELECTOR, "#errors .error-group")
        c.check("errors grouped", len(groups) >= 2 and any("WRONGTYPE" in g.text for g in groups),
                [g.text for g in groups])
        lat = d.find_elements(By.CSS_SELECTOR, "#latency-table tr[data-command=GET] svg rect")
        c.check("a latency histogram per command", len(lat) >= 1, len(lat))

        if miss:
            c.check("misses section shown", d.find_element(By.ID, "misses").is_displayed())
            rows = d.find_elements(By.CSS_SELECTOR, "#misses tr.miss")
            c.check("one miss listed", len(rows) == 1, len(rows))
            if rows:
                c.check("the miss's command", miss[0] in rows[0].text, rows[0].text)
                closest = rows[0].find_element(By.CSS_SELECTOR, ".closest a[data-e]")
                c.check("its closest recording", closest.text == miss[1], closest.text)
                closest.click()
                time.sleep(0.2)
                c.check("closest link shows the recording", miss[1] in text(d, "#detail"),
                        text(d, "#detail"))
                state = d.find_elements(By.CSS_SELECTOR, "#detail .tag." + miss[2])
                c.check("the recording's replay state", len(state) == 1, text(d, "#detail"))
            c.check("summary missed", text(d, "#summary [data-stat=missed] dd") == "1",
                    text(d, "#summary [data-stat=missed] dd"))
        else:
            c.check("no misses section without a replay", not d.find_element(By.ID, "misses").is_displayed())

        # Dark mode: the page follows the system's colour scheme.
        d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                          {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        time.sleep(0.1)
        bg = d.execute_script("return getComputedStyle(document.body).backgroundColor")
        rgb = [int(v) for v in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]]
        c.check("dark background in dark mode", sum(rgb) < 150, bg)

        errors = console_errors(d)
        c.check("no console errors", not errors, errors)
        loaded = resources_loaded(d)
        c.check("nothing fetched", loaded == [], loaded)
    finally:
        d.quit()
    c.exit()


if __name__ == "__main__":
    main()
