"""The web page of `skyql serve` in a real browser (Debian's chromium, headless): a cone
search shows the rows the CLI's cone gives and a sky plot of them; a star page shows its
facts, its light curve in both colours, a periodogram and the folded curve, its downloads
and its reference images with cutouts, at desktop and phone sizes, with no script error in
the browser's console; the page's downloads answer. Then, driven by Playwright (PyPI) on
the same chromium: a search typed with the keyboard alone, a click on the sky plot, the
light curve's zoom, the page's best period against astropy's LombScargle and the demo's
true period, a fold, an injected microlensing event's fit (equal to the CLI's, the truth
within 3 sigma, drawn over the light curve), "send to TOPCAT / Aladin" received by a SAMP client (pyvo's) through
a hub's Web Profile, and axe-core (the npm registry's release, fetched here)
finds no serious or critical accessibility violation on the results and a star page, at
1280 x 800 and at 390 x 844. Screenshots go to the directory given (docs/images when run
by hand).

Usage: check_portal.py SKYQL DEMO_DIR [SCREENSHOT_DIR]
"""

import contextlib
import csv
import glob
import io
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
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


def fetch(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.status, r.read()


def query(binary, catalog, sql):
    """The rows of a query by the CLI, as dicts."""
    return list(csv.DictReader(io.StringIO(subprocess.run(
        [binary, "query", "--catalog", catalog, "--format", "csv", sql],
        capture_output=True, text=True, check=True).stdout)))


AXE_URL = "https://registry.npmjs.org/axe-core/-/axe-core-4.10.2.tgz"


def axe_source():
    import tarfile
    with urllib.request.urlopen(AXE_URL, timeout=60) as r:
        data = r.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return t.extractfile("package/axe.min.js").read().decode()


# --- chromium --dump-dom: what the page shows once its scripts ran ---------------------

def check_cone(base, ra, dec, cli):
    for size in ("1280,900", "390,844"):
        dom, log = chromium(f"{base}/#cone={ra},{dec},120", size=size)
        shown = re.findall(r'<td><a href="#star=([^"]+)"', dom)
        if sorted(shown) != sorted(r["star_id"] for r in cli):
            problem(f"cone at {size}: the page shows {sorted(shown)}, the CLI {sorted(r['star_id'] for r in cli)}")
        if f"Rows 1 to {len(cli)} of {len(cli)}." not in dom:
            problem(f"cone at {size}: no row count for {len(cli)} rows")
        if not re.search(rf'<figure id="sky" data-points="{len(cli)}">\s*<div[^>]*><svg', dom):
            problem(f"cone at {size}: no sky plot of {len(cli)} rows")
        for e in console_errors(log):
            problem(f"cone at {size}: console: {e}")
    # The results' VOTable download, as the page offers it, passes STILTS votlint.
    link = re.search(r'<a href="(tap/sync\?[^"]*RESPONSEFORMAT=votable[^"]*)"', dom)
    if not link:
        problem("cone: no VOTable download")
        return
    status, body = fetch(f"{base}/{link[1].replace('&amp;', '&')}")
    with tempfile.NamedTemporaryFile(suffix=".vot") as f:
        f.write(body)
        f.flush()
        lint = subprocess.run(["stilts", "votlint", f"votable={f.name}"], capture_output=True,
                              text=True, timeout=120)
    complaints = [l for l in (lint.stdout + lint.stderr).splitlines()
                  if "ERROR" in l or "WARNING" in l]
    if status != 200 or lint.returncode != 0 or complaints:
        problem(f"cone: the VOTable download fails votlint: {status} {complaints[:3]}")
    else:
        print(f"cone: the page's VOTable download ({body.count(b'<TR>')} rows) passes votlint")


def check_star_dom(base, star, counts):
    """The star page's facts, charts, downloads, images and cutouts; answers the number of
    reference images."""
    dom, log = chromium(f"{base}/#star={star}")
    if f"<dd>{star}</dd>" not in dom:
        problem("star page: its facts are not shown")
    shown = re.search(r'<figure id="lightcurve" data-points-r="(\d+)" data-points-b="(\d+)">', dom)
    if not shown or (int(shown[1]), int(shown[2])) != (counts["R"], counts["B"]):
        problem(f"star page: the light curve shows {shown and shown.groups()}, the catalogue has {counts}")
    for chart in ("lightcurve", "periodogram", "folded"):
        if not re.search(rf'<div id="{chart}-chart"><svg [^>]*role="img" aria-label="[^"]+"', dom):
            problem(f"star page: no {chart} chart with a text alternative")
    if not re.search(r'<output id="best-period" data-days="[0-9.]+">Best period: ', dom):
        problem("star page: no best period")
    downloads = re.findall(r'href="(datalink/lightcurve\?[^"]+)"', dom)
    if len(downloads) != 3:
        problem(f"star page: {len(downloads)} light-curve downloads, not 3")
    plots = re.findall(r'href="(datalink/plot\?[^"]+)"', dom)
    if len(plots) != 4 or sum("PERIOD=" in p for p in plots) != 2:
        problem(f"star page: the service's plots in time and folded, PNG and SVG, are not all offered: {plots}")
    for d in downloads + plots:
        status, body = fetch(f"{base}/{d.replace('&amp;', '&')}")
        if status != 200 or not body[:100]:
            problem(f"star page: the download {d} did not answer")
    cutouts = re.findall(r'href="([^"]*soda/sync\?[^"]+)"', dom)
    images = re.findall(r'href="([^"]*datalink/image\?[^"]+)"', dom)
    if not cutouts or len(cutouts) != len(images):
        problem(f"star page: {len(images)} reference images, {len(cutouts)} cutouts")
    for c in cutouts[:1]:
        if not fetch(c.replace("&amp;", "&"))[1].startswith(b"SIMPLE  ="):
            problem("star page: the cutout link is not a FITS file")
    pictures = re.findall(r'<img src="([^"]*soda/sync\?[^"]+)"[^>]* alt="[^"]+" class="cutout"', dom)
    if len(pictures) != len(cutouts):
        problem(f"star page: {len(pictures)} cutout pictures with a text alternative, {len(cutouts)} cutouts")
    for c in pictures[:1]:
        if not fetch(c.replace("&amp;", "&"))[1].startswith(b"\x89PNG"):
            problem("star page: the cutout picture is not a PNG")
    if fetch(f"{base}/datalink/plot?ID={star}&FORMAT=svg")[1].count(b'r="2.5"') == 0:
        problem("the service's plot has no point")
    for e in console_errors(log):
        problem(f"star page: console: {e}")
    # A catalogue value is text, never markup: a star id with markup is shown as typed.
    dom, _ = chromium(f"{base}/#star=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    if "<img src=\"x\"" in dom or "<img src=x" in dom:
        problem("star page: a star id was read as HTML")
    return len(images)


# --- the periodogram against astropy ---------------------------------------------------

def astropy_best_period(base, star):
    """astropy's best period for the light curve the page reads, prepared as the page does
    (each colour's mean subtracted, errors as weights), on a grid twice as fine as the
    page's, over the same periods (0.1 d to the time span)."""
    import numpy as np
    from astropy.timeseries import LombScargle
    rows = [r for r in csv.DictReader(io.StringIO(
        fetch(f"{base}/datalink/lightcurve?ID={star}&RESPONSEFORMAT=csv")[1].decode()))
        if r["mag"] not in ("", "NaN") and r["colour"] in ("R", "B")]
    t = np.array([float(r["mjd"]) for r in rows])
    mag = np.array([float(r["mag"]) for r in rows])
    err = np.array([float(r["mag_err"]) for r in rows])
    colour = np.array([r["colour"] for r in rows])
    y = mag.copy()
    for c in ("R", "B"):
        y[colour == c] -= mag[colour == c].mean()
    span = t.max() - t.min()
    frequency = np.linspace(1 / span, 10, int((10 - 1 / span) * span * 10) + 1)
    power = LombScargle(t, y, err).power(frequency)
    return 1 / frequency[power.argmax()]


def true_period(demo, star):
    """The period the demo survey gave the star (its raw light curve's header)."""
    for path in glob.glob(f"{demo}/raw/lightcurves/*/*/{star}.time"):
        with open(path) as f:
            m = re.search(r"Periodic variable: P = ([0-9.]+) d", f.read(2000))
            if m:
                return float(m[1])
    return None


def check_periodogram(page, base, demo, star):
    page.wait_for_selector("#best-period[data-days]", timeout=30000)
    shown = float(page.get_attribute("#best-period", "data-days"))
    reference = astropy_best_period(base, star)
    truth = true_period(demo, star)
    print(f"best period of {star}: the page {shown:.5f} d, astropy {reference:.5f} d, the demo's truth {truth} d")
    if abs(shown - reference) > 0.01 * reference:
        problem(f"periodogram: the page's best period {shown} d, astropy's {reference} d")
    if truth is None or abs(shown - truth) > 0.01 * truth:
        problem(f"periodogram: the page's best period {shown} d, the demo's true period {truth} d")
    # The page's periodogram of 2000 measurements over 7 years, timed in the browser.
    ms = page.evaluate("""() => {
        const points = Array.from({length: 2000}, (_, i) => ({
            t: 50000 + 2555 * i / 2000 + (i % 7) * 0.3, mag: 15 + 0.3 * Math.sin(i), err: 0.01,
            colour: i % 2 ? 'R' : 'B'}));
        const start = performance.now();
        periodogram(points);
        return performance.now() - start; }""")
    print(f"the page's periodogram of 2000 measurements over 7 years: {ms:.0f} ms")
    if ms > 1500:
        problem(f"periodogram: 2000 measurements took {ms:.0f} ms (aimed at 500 ms at most)")


# --- Playwright: the console, axe-core, the keyboard, the sky plot, zoom, fold ---------

def watch_console(page):
    """The page's console errors and uncaught exceptions, gathered as they come; but for
    the SAMP hub's port refusing the connection (the check of the page without a hub)."""
    errors = []

    def console(m):
        hub_absent = m.text.startswith("Failed to load resource") and ":21012" in m.location.get("url", "")
        if m.type == "error" and not hub_absent:
            errors.append(m.text)

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def audit(page, axe, name):
    # axe is injected as a script: only the audit's context bypasses the page's CSP.
    page.add_script_tag(content=axe)
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']}))"
        ".violations.map(v => [v.id, v.impact, v.nodes.length])")
    serious = [v for v in found if v[1] in ("serious", "critical")]
    if serious:
        problem(f"accessibility ({name}): {serious}")
    print(f"axe-core on the {name}: {len(found)} violation(s), {len(serious)} serious or critical")


def keyboard_search(page, base, ra, dec, expected):
    """Tab to the position, type it, Tab to the radius, Enter."""
    page.goto(f"{base}/")
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


def click_sky(page, star):
    """A click on the ringed point of the first row (the cone's centre) opens its star."""
    x, y = page.evaluate("""() => {
        const svg = document.querySelector('#sky svg');
        const m = svg.querySelector('.sky-page').getAttribute('d').match(/^M([-0-9.]+),([-0-9.]+)/);
        const p = new DOMPoint(Number(m[1]) + 5, Number(m[2])).matrixTransform(svg.getScreenCTM());
        return [p.x, p.y]; }""")
    page.mouse.click(x, y)
    page.wait_for_selector(f"#star-title:text-is('Star {star}')", timeout=10000)
    page.wait_for_selector("#lightcurve-chart svg", timeout=30000)


def lightcurve_label(page):
    return page.get_attribute("#lightcurve-chart svg", "aria-label")


def check_zoom(page):
    """The buttons, from the keyboard, and a drag across the plot zoom in time."""
    whole = lightcurve_label(page)
    page.focus("#zoom-in")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    zoomed = lightcurve_label(page)
    if zoomed == whole or "zoomed on" not in page.text_content("#lightcurve-caption"):
        problem(f"zoom: the buttons do not zoom ({zoomed})")
    page.focus("#zoom-reset")
    page.keyboard.press("Enter")
    if lightcurve_label(page) != whole:
        problem("zoom: 'Whole light curve' does not come back to the whole light curve")
    box = page.locator("#lightcurve-chart svg").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.up()
    if "zoomed on" not in page.text_content("#lightcurve-caption"):
        problem("zoom: a drag across the light curve does not zoom")
    page.click("#zoom-reset")


def check_fold(page):
    page.fill("#period", "2.5")
    page.press("#period", "Enter")
    if "folded on 2.5 d" not in page.text_content("#folded-caption"):
        problem("fold: a period typed does not fold the light curve")
    page.click("#use-best")
    best = float(page.get_attribute("#best-period", "data-days"))
    if abs(float(page.input_value("#period")) - best) > 1e-4 * best:
        problem("fold: 'Use best period' does not fold on the best period")


# --- the microlensing fit over the light curve -----------------------------------------

FIT_SQL = ("SELECT f['t0'] AS t0, f['te'] AS te, f['te_err'] AS te_err, f['u0'] AS u0, "
           "f['delta_chi2'] AS delta_chi2 FROM (SELECT paczynski_fit(mjd, mag, mag_err, colour) AS f "
           "FROM measurements WHERE star_id = '{}') AS fit")


def brightest_event(binary, demo):
    """The demo's injected event with the largest delta chi-square of the CLI's fit, with
    its truth and that fit."""
    (path,) = glob.glob(f"{demo}/**/truth/events.csv", recursive=True)
    with open(path) as f:
        events = list(csv.DictReader(f))
    if not events:
        problem(f"{path}: the demo injected no microlensing event")
        return None
    fits = [(e, query(binary, f"{demo}/catalog", FIT_SQL.format(e["star_id"]))[0]) for e in events]
    return max(fits, key=lambda ef: float(ef[1]["delta_chi2"] or 0))


def check_fit(page, base, event):
    """The star page of an injected event shows the service's fit, equal to the CLI's, the
    truth within 3 sigma, and the model drawn in both colours."""
    truth, cli = event
    star = truth["star_id"]
    page.goto(f"{base}/#star={star}")
    # The title changes with the page's reset of the previous star's fit.
    page.wait_for_selector(f"#star-title:text-is('Star {star}')", timeout=10000)
    page.wait_for_selector("#fit-summary[data-status]", timeout=60000)
    status = page.get_attribute("#fit-summary", "data-status")
    print(f"fit of the injected event {star}: {page.text_content('#fit-summary')}")
    if status != "ok" or page.get_attribute("#fit-summary", "data-significant") != "true":
        problem(f"fit: the star page of the injected event {star} shows no significant fit ({status})")
        return
    te = float(page.get_attribute("#fit-summary", "data-te"))
    t0 = float(page.get_attribute("#fit-summary", "data-t0"))
    if abs(te - float(cli["te"])) > 1e-6 * te or abs(t0 - float(cli["t0"])) > 1e-6:
        problem(f"fit: the page's tE {te}, t0 {t0}; the CLI's {cli['te']}, {cli['t0']}")
    if not cli["te_err"]:
        problem(f"fit: the CLI's fit of {star} has no tE error ({cli})")
    elif abs(te - float(truth["te_days"])) > 3 * float(cli["te_err"]):
        problem(f"fit: tE {te} ± {cli['te_err']} d, the injected {truth['te_days']} d")
    page.wait_for_function("document.querySelectorAll('#lightcurve-chart path.model').length === 2",
                           timeout=30000)
    lines = page.eval_on_selector_all("#lightcurve-chart path.model",
                                      "(all) => all.map((p) => p.getAttribute('d').split('L').length)")
    if min(lines) < 100:
        problem(f"fit: the model's lines have {lines} points")
    if "point-lens model" not in lightcurve_label(page):
        problem("fit: the light curve's description does not mention the model")


# --- SAMP: a hub with its Web Profile, and a client that loads tables -----------------

class Consent:
    """The hub's user, who accepts (or, accept set to False, refuses) every web page asking
    to register: the hub hands its requests to queue_request and waits for True or False on
    queue_result."""

    def __init__(self):
        self.queue_request = self.queue_result = None
        self.running = True
        self.accept = True

    def answer(self):
        while self.running:
            try:
                self.queue_request.get(timeout=0.1)
            except queue.Empty:
                continue
            self.queue_result.put(self.accept)


def port_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@contextlib.contextmanager
def samp_hub():
    """A SAMP hub with the Web Profile (port 21012), its consent answered yes, and a
    standard-profile client that takes table.load.votable: yields the queue of the
    messages' parameters, the client and the consent. pyvo's (astropy's before pyvo 1.7; astropy 8
    deprecates its own)."""
    try:
        from pyvo.samp import SAMPHubServer, SAMPIntegratedClient
    except ImportError:
        from astropy.samp import SAMPHubServer, SAMPIntegratedClient
    consent = Consent()
    hub = SAMPHubServer(web_profile=True, web_profile_dialog=consent, mode="multiple")
    hub.start(wait=False)
    threading.Thread(target=consent.answer, daemon=True).start()
    client = SAMPIntegratedClient(name="check_portal")
    received = queue.Queue()
    try:
        client.connect(hub=hub)
        client.bind_receive_notification(
            "table.load.votable",
            lambda private_key, sender_id, mtype, params, extra: received.put(params))
        yield received, client, consent
    finally:
        consent.running = False
        if client.is_connected:
            client.disconnect()
        hub.stop()


def votable_rows(url):
    from astropy.io.votable import parse_single_table
    return len(parse_single_table(io.BytesIO(fetch(url)[1])).array)


def check_samp_sent(page, received, button, expected):
    """Clicks the button; the client receives the table within 10 s, and its URL gives
    the expected number of rows."""
    page.click(button)
    try:
        params = received.get(timeout=10)
    except queue.Empty:
        problem(f"SAMP: {button} sent nothing to the client within 10 s; "
                f"the page says {page.text_content('#message')!r}")
        return
    rows = votable_rows(params["url"])
    print(f"SAMP: {button} sent {params['name']!r}, a VOTable of {rows} rows")
    if rows != expected:
        problem(f"SAMP: {button} sent a VOTable of {rows} rows, not {expected}")
    if not page.text_content("#status").startswith("Sent "):
        problem(f"SAMP: the page does not say the table was sent: {page.text_content('#status')!r}")


def check_samp(chrome, base, star, ra, dec, expected, counts):
    context = chrome.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = watch_console(page)
    page.goto(f"{base}/#cone={ra},{dec},120")
    page.wait_for_selector("#results-table tbody tr", timeout=30000)
    if port_free(21012):
        page.click("#results-samp")
        page.wait_for_selector("#message:not(:empty)", timeout=10000)
        print(f"SAMP without a hub: {page.text_content('#message')!r}")
        if not page.text_content("#message").startswith("No SAMP hub answers"):
            problem(f"SAMP without a hub: the page says {page.text_content('#message')!r}")
    else:
        print("SAMP without a hub: not checked (port 21012 is taken)")
    with samp_hub() as (received, client, consent):
        consent.accept = False
        page.click("#results-samp")
        page.wait_for_selector("#message:text-matches('SAMP hub refused')", timeout=10000)
        print(f"SAMP refused: {page.text_content('#message')!r}")
        if not page.text_content("#message").startswith("The SAMP hub refused this page"):
            problem(f"SAMP refused: the page says {page.text_content('#message')!r}")
        consent.accept = True
        check_samp_sent(page, received, "#results-samp", expected)
        page.goto(f"{base}/#star={star}")
        page.wait_for_selector("#lightcurve-chart svg", timeout=30000)
        check_samp_sent(page, received, "#star-samp", counts["R"] + counts["B"])
        # The page unregisters when it is left.
        page.goto("about:blank")
        page.wait_for_timeout(1000)
        if any(client.get_metadata(c).get("samp.name") == "skyql" for c in client.get_registered_clients()):
            problem("SAMP: the page is still registered with the hub once left")
        context.close()
    for e in errors:
        problem(f"console (SAMP): {e}")


# --- the phone, and all of Playwright's checks ----------------------------------------

def check_phone(chrome, axe, base, star, ra, dec):
    context = chrome.new_context(bypass_csp=True, viewport={"width": 390, "height": 844},
                                 is_mobile=True, has_touch=True)
    page = context.new_page()
    errors = watch_console(page)
    for name, url, ready in [
            ("results on a phone", f"{base}/#cone={ra},{dec},120", ["#sky svg"]),
            ("star page on a phone", f"{base}/#star={star}", ["#best-period[data-days]", "#star-images li"])]:
        page.goto(url)
        for selector in ready:
            page.wait_for_selector(selector, timeout=30000)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            problem(f"{name}: the page is {width} px wide, wider than the phone's 390")
        audit(page, axe, name)
    context.close()
    for e in errors:
        problem(f"console (phone): {e}")


def check_cutout_pictures(page):
    """The cutouts' PNGs are loaded and drawn by the browser."""
    page.wait_for_selector("img.cutout", timeout=30000)
    page.wait_for_function(
        "[...document.querySelectorAll('img.cutout')].every((i) => i.complete)", timeout=30000)
    drawn = page.eval_on_selector_all("img.cutout", "(all) => all.map((i) => i.naturalWidth)")
    if not drawn or min(drawn) == 0:
        problem(f"star page: cutout pictures not drawn (widths {drawn})")


def check_with_playwright(base, demo, star, ra, dec, expected, counts, event):
    from playwright.sync_api import sync_playwright
    axe = axe_source()
    with sync_playwright() as p:
        chrome = p.chromium.launch(executable_path=shutil.which(browser()), args=["--no-sandbox"])
        try:
            context = chrome.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
            page = context.new_page()
            errors = watch_console(page)
            keyboard_search(page, base, ra, dec, expected)
            audit(page, axe, "results")
            click_sky(page, star)
            check_periodogram(page, base, demo, star)
            # The fit may redraw the light curve: zoom once it has come.
            page.wait_for_selector("#fit-summary[data-status]", timeout=60000)
            check_zoom(page)
            check_fold(page)
            page.wait_for_selector("#star-images li", timeout=30000)
            check_cutout_pictures(page)
            audit(page, axe, "star page")
            if event:
                check_fit(page, base, event)
                audit(page, axe, "star page of an event")
            context.close()
            for e in errors:
                problem(f"console: {e}")
            check_phone(chrome, axe, base, star, ra, dec)
            check_samp(chrome, base, star, ra, dec, expected, counts)
        finally:
            chrome.close()


def main():
    binary, demo = sys.argv[1], sys.argv[2]
    shots = sys.argv[3] if len(sys.argv) > 3 else None
    catalog = f"{demo}/catalog"
    # A periodic variable of the demo survey, at the centre of the cone.
    star = "lm0353k532"
    (row,) = query(binary, catalog, f"SELECT ra, dec FROM stars WHERE star_id = '{star}'")
    ra, dec = float(row["ra"]), float(row["dec"])
    cli = query(binary, catalog,
                f"SELECT star_id FROM stars WHERE cone_contains(ra, dec, {ra}, {dec}, 120.0 / 3600)")
    counts = {r["colour"]: int(r["n"]) for r in query(
        binary, catalog, f"SELECT colour, COUNT(*) AS n FROM measurements "
        f"WHERE star_id = '{star}' AND mag IS NOT NULL GROUP BY colour")}
    with served(binary, catalog) as base:
        check_cone(base, ra, dec, cli)
        images = check_star_dom(base, star, counts)
        event = brightest_event(binary, demo)
        check_with_playwright(base, demo, star, ra, dec, len(cli), counts, event)
        if shots:
            for name, url, size in [
                ("portal-search.png", f"{base}/#cone={ra},{dec},120", "1280,900"),
                ("portal-star.png", f"{base}/#star={star}", "1280,2900"),
                ("portal-phone.png", f"{base}/#cone={ra},{dec},120", "390,844"),
            ]:
                chromium(url, f"--screenshot={shots}/{name}", size=size)
    if problems:
        print(f"{len(problems)} problem(s)")
        sys.exit(1)
    print(f"portal: a cone of {len(cli)} stars with its sky plot at desktop and phone sizes; a star page "
          f"with its light curve ({counts['R']} R, {counts['B']} B), periodogram, folded curve, downloads, "
          f"{images} reference images and cutouts; no console error; a keyboard search, a click on the sky "
          "plot, zoom, the best period against astropy's, a fold, an injected event's microlensing fit "
          "(the CLI's, the truth within 3 sigma, drawn in both colours), SAMP to a pyvo client, and "
          "axe-core at desktop and phone sizes: checked")


if __name__ == "__main__":
    main()
