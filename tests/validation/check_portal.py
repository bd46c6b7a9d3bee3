"""The web page of `skyql serve` in a real browser (Debian's chromium, headless): a cone
search shows the rows the CLI's cone gives, a star page shows its facts, its plot, three
downloads and its reference images with cutouts, at desktop and phone sizes, with no
script error in the browser's console; the page's downloads answer. Then, driven by
Playwright (PyPI) on the same chromium: a search typed with the keyboard alone, and
axe-core (the npm registry's release, fetched here) finds no serious or critical
accessibility violation on the search, the results and a star page. Screenshots go to the
directory given (docs/images when run by hand).

Usage: check_portal.py SKYQL DEMO_DIR [SCREENSHOT_DIR]
"""

import csv
import io
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

from served import served

problems = []


def problem(text):
    print(f"PROBLEM: {text}")
    problems.append(text)


def browser():
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return name
    raise SystemExit("no chromium: CI installs Debian's chromium")


def chromium(url, *extra, size="1280,900"):
    """The page's DOM after its scripts ran (or, given --screenshot, its picture), and the
    browser's log."""
    if not any(e.startswith("--screenshot") for e in extra):
        extra = (*extra, "--dump-dom")
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=10000", f"--window-size={size}", *extra, url],
            capture_output=True, text=True, timeout=120)
    return out.stdout, out.stderr


def console_errors(log):
    return [l for l in log.splitlines()
            if "CONSOLE" in l and ("Uncaught" in l or "Error" in l or "Refused" in l)]


AXE_URL = "https://registry.npmjs.org/axe-core/-/axe-core-4.10.2.tgz"


def axe_source():
    import tarfile
    with urllib.request.urlopen(AXE_URL, timeout=60) as r:
        data = r.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return t.extractfile("package/axe.min.js").read().decode()


def check_with_playwright(base, star, ra, dec, expected):
    from playwright.sync_api import sync_playwright
    axe = axe_source()
    with sync_playwright() as p:
        chrome = p.chromium.launch(executable_path=shutil.which(browser()), args=["--no-sandbox"])
        try:
            # axe is injected as a script: only the audit's context bypasses the page's CSP.
            context = chrome.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/")
            # The keyboard alone: Tab to the position, type it, Tab to the radius, Enter.
            page.keyboard.press("Tab")
            for _ in range(10):
                if page.evaluate("document.activeElement.id") == "position":
                    break
                page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") != "position":
                problem("keyboard: Tab does not reach the position field")
            page.keyboard.type(f"{ra} {dec}")
            page.keyboard.press("Tab")
            page.keyboard.press("Control+A")
            page.keyboard.type("120")
            page.keyboard.press("Enter")
            page.wait_for_selector("#results-table tbody tr", timeout=30000)
            rows = page.locator("#results-table tbody tr").count()
            if rows != expected:
                problem(f"keyboard: the search typed shows {rows} rows, not {expected}")
            for name, url in [("results", None), ("star page", f"{base}/#star={star}")]:
                if url:
                    page.goto(url)
                    page.wait_for_selector("#star-images li", timeout=30000)
                page.add_script_tag(content=axe)
                found = page.evaluate(
                    "async () => (await axe.run(document, {resultTypes: ['violations']}))"
                    ".violations.map(v => [v.id, v.impact, v.nodes.length])")
                serious = [v for v in found if v[1] in ("serious", "critical")]
                if serious:
                    problem(f"accessibility ({name}): {serious}")
                print(f"axe-core on the {name}: {len(found)} violation(s), "
                      f"{len(serious)} serious or critical")
            for e in errors:
                problem(f"console: {e}")
        finally:
            chrome.close()


def main():
    binary, demo = sys.argv[1], sys.argv[2]
    shots = sys.argv[3] if len(sys.argv) > 3 else None
    catalog = f"{demo}/catalog"
    with served(binary, catalog) as base:
        star = "lm0353k532"
        ra, dec = [float(v) for v in subprocess.run(
            [binary, "query", "--catalog", catalog, "--format", "csv",
             f"SELECT ra, dec FROM stars WHERE star_id = '{star}'"],
            capture_output=True, text=True, check=True).stdout.splitlines()[1].split(",")]
        # The cone, in the page and by the CLI.
        cli = list(csv.DictReader(io.StringIO(subprocess.run(
            [binary, "query", "--catalog", catalog, "--format", "csv",
             f"SELECT star_id FROM stars WHERE cone_contains(ra, dec, {ra}, {dec}, 120.0 / 3600)"],
            capture_output=True, text=True, check=True).stdout)))
        for size in ("1280,900", "390,844"):
            dom, log = chromium(f"{base}/#cone={ra},{dec},120", size=size)
            shown = re.findall(r'<td><a href="#star=([^"]+)"', dom)
            if sorted(shown) != sorted(r["star_id"] for r in cli):
                problem(f"cone at {size}: the page shows {sorted(shown)}, the CLI {sorted(r['star_id'] for r in cli)}")
            if f"Rows 1 to {len(cli)} of {len(cli)}." not in dom:
                problem(f"cone at {size}: no row count for {len(cli)} rows")
            for e in console_errors(log):
                problem(f"cone at {size}: console: {e}")
        # The star page.
        dom, log = chromium(f"{base}/#star={star}")
        if f"<dd>{star}</dd>" not in dom:
            problem("star page: its facts are not shown")
        if not re.search(rf'<img id="plot" [^>]*src="datalink/plot\?ID={star}&amp;FORMAT=svg"', dom):
            problem("star page: no plot of the star")
        downloads = re.findall(r'href="(datalink/lightcurve\?[^"]+)"', dom)
        if len(downloads) != 3:
            problem(f"star page: {len(downloads)} light-curve downloads, not 3")
        for d in downloads:
            with urllib.request.urlopen(f"{base}/{d.replace('&amp;', '&')}") as r:
                if r.status != 200 or not r.read(100):
                    problem(f"star page: the download {d} did not answer")
        cutouts = re.findall(r'href="([^"]*soda/sync\?[^"]+)"', dom)
        images = re.findall(r'href="([^"]*datalink/image\?[^"]+)"', dom)
        if not cutouts or len(cutouts) != len(images):
            problem(f"star page: {len(images)} reference images, {len(cutouts)} cutouts")
        for c in cutouts[:1]:
            with urllib.request.urlopen(c.replace("&amp;", "&")) as r:
                if not r.read(30).startswith(b"SIMPLE  ="):
                    problem("star page: the cutout link is not a FITS file")
        with urllib.request.urlopen(f"{base}/datalink/plot?ID={star}&FORMAT=svg") as r:
            if r.read().count(b'r="2.5"') == 0:
                problem("the plot has no point")
        for e in console_errors(log):
            problem(f"star page: console: {e}")
        # A catalogue value is text, never markup: a star id with markup is shown as typed.
        dom, _ = chromium(f"{base}/#star=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
        if "<img src=\"x\"" in dom or "<img src=x" in dom:
            problem("star page: a star id was read as HTML")
        check_with_playwright(base, star, ra, dec, len(cli))
        if shots:
            for name, url, size in [
                ("portal-search.png", f"{base}/#cone={ra},{dec},120", "1280,900"),
                ("portal-star.png", f"{base}/#star={star}", "1280,1400"),
                ("portal-phone.png", f"{base}/#cone={ra},{dec},120", "390,844"),
            ]:
                chromium(url, f"--screenshot={shots}/{name}", size=size)
    if problems:
        print(f"{len(problems)} problem(s)")
        sys.exit(1)
    print(f"portal: a cone of {len(cli)} stars at desktop and phone sizes, a star page with its plot, "
          f"3 downloads, {len(images)} reference images and cutouts, no console error; "
          "a keyboard search and axe-core: checked")


if __name__ == "__main__":
    main()
