"""skyql serve as real clients see it: STILTS taplint (0 errors, 0 warnings; uploads,
examples and the tables published beside the catalogue included) and pyvo (TAP sync and
async, UWS, SCS, uploads), answers equal to the same queries through the CLI, a query
cancelled at its time limit, a clean stop on SIGTERM.

Usage: check_service.py SKYQL_BINARY CATALOG_DIR
"""

import csv
import functools
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pyvo
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS
import requests
from pyvo.dal.exceptions import DALQueryError, DALServiceError, DALFormatError

problems = []


def problem(text):
    print(f"PROBLEM: {text}")
    problems.append(text)


def start(binary, catalog, config=None, tables=(), env=None):
    args = [binary, "serve", "--catalog", catalog, "--bind", "127.0.0.1:0"]
    if config:
        args += ["--config", config]
    for t in tables:
        args += ["--table", t]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    m = re.search(r"at (http://\S+)/tap", line)
    if not m:
        proc.kill()
        raise SystemExit(f"skyql serve did not start: {line!r} {proc.stderr.read()}")
    return proc, m.group(1)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        problem("the server did not stop within 20 s of SIGTERM")
        return
    if code != 0:
        problem(f"the server exited with {code} on SIGTERM")


def cli_csv(binary, catalog, sql):
    out = subprocess.run([binary, "query", "--catalog", catalog, "--format", "csv", sql],
                         capture_output=True, text=True, check=True).stdout
    return list(csv.DictReader(io.StringIO(out)))


def check_taplint(url):
    out = subprocess.run(["stilts", "taplint", f"tapurl={url}/tap"], capture_output=True,
                         text=True, timeout=600).stdout
    totals = [l for l in out.splitlines() if l.startswith("Totals:")]
    print(f"taplint: {totals[0] if totals else 'no totals line'}")
    if not totals or not re.search(r"Errors: 0; Warnings: 0;", totals[0]):
        for l in out.splitlines():
            if l.startswith(("E-", "W-")):
                print("  " + l)
        problem("taplint reports errors or warnings")
    # Failures may only be the optional feature this service does not offer (ObsLocTAP).
    for l in out.splitlines():
        if l.startswith("F-") and not re.match(r"F-LOC-", l):
            problem(f"taplint failure: {l}")
    # Uploads and examples were tested, not skipped.
    if not re.search(r"^I-UPL-QSUB", out, re.M):
        problem("taplint did not run its upload tests")
    m = re.search(r"^S-EXA-XVAL-1 .*Execution success/attempt: (\d+)/(\d+)", out, re.M)
    if not m or m.group(1) != m.group(2) or int(m.group(1)) < 6:
        problem(f"taplint's examples stage: {m.group(0) if m else 'not run'}")
    # The tables published beside the catalogue were checked with the others: five
    # schemas (TAP_SCHEMA, eros2, ivoa, ref, cds).
    m = re.search(r"^S-TMS-SUMM-1 Schemas: (\d+), Tables: (\d+)", out, re.M)
    if not m or int(m.group(1)) != 5:
        problem(f"taplint's TAP_SCHEMA summary: {m.group(0) if m else 'missing'} (5 schemas expected)")
    # ObsCore was tested, not skipped: its 30 mandatory columns were found and checked.
    if not re.search(r"^S-OBS-COLS-1 ivoa\.ObsCore columns: 30/30 required", out, re.M):
        problem("taplint did not test ivoa.obscore's 30 mandatory columns")


def check_pyvo(binary, catalog, url):
    tap = pyvo.dal.TAPService(f"{url}/tap")
    names = [t.name for t in tap.tables]
    published = {"eros2.stars", "TAP_SCHEMA.columns", "ref.pn", "cds.pancino", "ref.demo_stars"}
    if not published <= set(names):
        problem(f"pyvo tables: {names}")
    if tap.maxrec != 100000 or tap.hardlimit != 10000000:
        problem(f"pyvo maxrec {tap.maxrec} hardlimit {tap.hardlimit}")
    rows = tap.search("SELECT TOP 5 star_id, ra, dec FROM eros2.stars ORDER BY star_id")
    if len(rows) != 5:
        problem(f"TOP 5 gave {len(rows)} rows")
    cut = tap.run_sync("SELECT star_id FROM eros2.stars", maxrec=3)
    if len(cut) != 3 or cut.query_status != "OVERFLOW":
        problem(f"maxrec=3: {len(cut)} rows, status {cut.query_status}")
    # A cone through ADQL (async) equals the same cone through the CLI.
    star = cli_csv(binary, catalog, "SELECT ra, dec FROM stars WHERE ra IS NOT NULL ORDER BY star_id LIMIT 1")[0]
    ra, dec, r = float(star["ra"]), float(star["dec"]), 0.05
    adql = (f"SELECT star_id FROM eros2.stars WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
            f"CIRCLE('ICRS', {ra}, {dec}, {r}))")
    got = sorted(str(x) for x in tap.run_async(adql)["star_id"])
    want = sorted(x["star_id"] for x in cli_csv(
        binary, catalog, f"SELECT star_id FROM stars WHERE cone_contains(ra, dec, {ra}, {dec}, {r})"))
    if got != want or not want:
        problem(f"async cone: {len(got)} stars, CLI {len(want)}")
    # The UWS life cycle.
    job = tap.submit_job("SELECT TOP 10 star_id FROM eros2.stars")
    if job.phase != "PENDING":
        problem(f"a new job is {job.phase}, not PENDING")
    job.run().wait(timeout=60)
    if job.phase != "COMPLETED" or len(job.fetch_result()) != 10:
        problem(f"job ended {job.phase}")
    job.delete()
    # Bad queries raise, sync and async.
    for run in (lambda q: tap.run_sync(q), lambda q: tap.run_async(q)):
        try:
            run("SELECT nope FROM eros2.stars")
            problem("a bad query did not raise")
        except (DALQueryError, DALServiceError):
            pass
    # Simple Cone Search: records with .id and .pos, the stars of the CLI's cone.
    scs = pyvo.dal.SCSService(f"{url}/scs/stars")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scs.search(pos=(ra, dec), radius=r)
    ids = sorted(str(rec.id) for rec in result)
    if ids != want:
        problem(f"SCS: {len(ids)} stars, CLI {len(want)}")
    first = next(iter(result))
    if abs(first.pos.ra.deg - ra) > r or abs(first.pos.dec.deg - dec) > r:
        problem(f"SCS position {first.pos}")
    try:
        scs.search(pos=(ra, dec), radius=-1)
        problem("a negative radius was accepted")
    except (DALQueryError, DALFormatError, DALServiceError):
        pass
    print(f"pyvo: tables, maxrec, TOP, OVERFLOW, async cone ({len(got)} stars, as the CLI), "
          f"UWS life cycle, errors, SCS ({len(ids)} records with id and pos): checked")


def check_time_limit(binary, catalog):
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "service.toml")
        with open(config, "w") as f:
            f.write("sync_timeout_s = 2\n")
        proc, url = start(binary, catalog, config)
        try:
            # A client that gives up after 30 s: a service that never answers fails the
            # check instead of hanging CI.
            session = requests.Session()
            session.request = functools.partial(session.request, timeout=30)
            tap = pyvo.dal.TAPService(f"{url}/tap", session=session)
            t = time.time()
            # An expensive grouping, then a cross join of two huge series (once its left
            # side is read, it hands out one batch per left row, 10^8 of them, before it
            # reads its right side again: cancelled only because the service makes such
            # joins yield, docs/SERVICE.md).
            for what, query in [
                ("grouping", "SELECT COUNT(DISTINCT value % 1000003) FROM generate_series(1, 100000000000)"),
                ("cross join", "SELECT COUNT(*) AS n FROM (SELECT a.value FROM generate_series(1, 100000000) a "
                               "CROSS JOIN generate_series(1, 100000) b) t"),
            ]:
                t = time.time()
                try:
                    tap.run_sync(query)
                    problem(f"an expensive {what} was not cancelled")
                except (DALQueryError, DALServiceError) as e:
                    elapsed = time.time() - t
                    if "limit" not in str(e) or elapsed > 3.5:
                        problem(f"time limit, {what}: {elapsed:.1f} s, {e}")
                    else:
                        print(f"time limit: {what} cancelled after {elapsed:.1f} s (limit 2 s)")
                # The service still answers, at once: the cancelled query freed its threads.
                t = time.time()
                if len(tap.search("SELECT TOP 1 star_id FROM eros2.stars")) != 1:
                    problem(f"no answer after a cancelled {what}")
                elif time.time() - t > 3:
                    problem(f"the next query took {time.time() - t:.1f} s after a cancelled {what}")
        finally:
            stop(proc)


def check_datalink(binary, catalog, url):
    """pyvo follows a TAP result's DataLink service descriptor: each star's links, its light
    curve (rows equal to the CLI's named query), its plot, its reference images."""
    tap = pyvo.dal.TAPService(f"{url}/tap")
    result = tap.search("SELECT TOP 2 star_id FROM eros2.stars WHERE n_r > 0 AND n_b > 0 "
                        "AND ra IS NOT NULL ORDER BY star_id")
    checked = 0
    for row, links in zip(result, result.iter_datalinks()):
        star = str(row["star_id"])
        coderived = [l for l in links if l["semantics"] == "#coderived"
                     and l["content_type"] == "application/x-votable+xml"]
        if len(coderived) != 1:
            problem(f"datalink: {star}: {len(coderived)} VOTable light curves")
            continue
        curve = pyvo.dal.DALResults.from_result_url(coderived[0]["access_url"]).to_table()
        out = subprocess.run([binary, "query", "--catalog", catalog, "--format", "csv",
                              "--named", "lightcurve", "--param", f"star={star}"],
                             capture_output=True, text=True, check=True).stdout
        expected = list(csv.DictReader(io.StringIO(out)))
        got = [(str(r["star_id"]), f"{float(r['mjd']):.5f}", str(r["colour"])) for r in curve]
        want = [(r["star_id"], f"{float(r['mjd']):.5f}", r["colour"]) for r in expected]
        if got != want:
            problem(f"datalink: {star}: the light curve's rows differ from the CLI's")
        previews = [l for l in links if l["semantics"] == "#preview"]
        for link in previews:
            body = requests.get(link["access_url"], timeout=30)
            if body.headers.get("content-type") != link["content_type"] or not body.content:
                problem(f"datalink: {star}: the preview {link['content_type']} did not come back")
        if not any(l["semantics"] == "#auxiliary" for l in links):
            problem(f"datalink: {star}: no reference image")
        checked += 1
    if checked != 2:
        problem(f"datalink: {checked} of 2 stars followed")
    # A SODA cutout of a star's reference image, through the links' pre-filled descriptor:
    # its pixels are the image's over its SRCREGN, its WCS puts them where astropy puts
    # the image's own.
    links = pyvo.dal.adhoc.DatalinkResults.from_result_url(
        f"{url}/datalink/links?ID={result[0]['star_id']}")
    cutouts = [l for l in links if l["semantics"] == "#cutout"]
    if not cutouts:
        problem("soda: no #cutout link")
    else:
        proc = links.get_adhocservice_by_id(str(cutouts[0]["service_def"]))
        given = {p.name: p.value for p in proc.groups[0].entries}
        image_id = given["ID"]
        if isinstance(image_id, bytes):
            image_id = image_id.decode()
        circle = " ".join(str(v) for v in np.atleast_1d(given["CIRCLE"]))
        body = requests.get(f"{url}/soda/sync", params={"ID": image_id, "CIRCLE": circle},
                            timeout=30)
        if body.status_code != 200:
            problem(f"soda: {body.status_code} {body.text[:200]}")
        else:
            with fits.open(io.BytesIO(body.content)) as cut:
                header, data = cut[0].header, cut[0].data
            path = tap.search(f"SELECT path FROM eros2.images WHERE file_name = '{image_id}'")[0]["path"]
            with fits.open(str(path)) as full:
                hdu = next(h for h in full if h.data is not None)
                x0, x1, y0, y1 = [int(v) for v in re.findall(r"\d+", header["SRCREGN"])]
                same = np.array_equal(hdu.data[y0 - 1:y1, x0 - 1:x1], data, equal_nan=True)
                sky_cut = WCS(header).pixel_to_world_values(0.0, 0.0)
                sky_full = WCS(hdu.header).pixel_to_world_values(x0 - 1.0, y0 - 1.0)
                sep = np.hypot((sky_cut[0] - sky_full[0]) * np.cos(np.radians(sky_full[1])),
                               sky_cut[1] - sky_full[1]) * 3600
                # astropy's own cutout of the same box: the same pixels, the same sky.
                ny, nx = y1 - y0 + 1, x1 - x0 + 1
                theirs = Cutout2D(hdu.data, ((x0 + x1) / 2 - 1, (y0 + y1) / 2 - 1), (ny, nx),
                                  wcs=WCS(hdu.header), mode="strict")
                same_as_astropy = np.array_equal(theirs.data, data, equal_nan=True)
                corner = theirs.wcs.pixel_to_world_values(0.0, 0.0)
                sep_astropy = np.hypot((sky_cut[0] - corner[0]) * np.cos(np.radians(corner[1])),
                                       sky_cut[1] - corner[1]) * 3600
            if not same:
                problem("soda: the cutout's pixels are not the image's over its SRCREGN")
            if not same_as_astropy:
                problem("soda: the cutout's pixels are not astropy's Cutout2D's")
            if sep > 1e-6 or sep_astropy > 1e-6:
                problem(f"soda: the cutout's WCS is {max(sep, sep_astropy)} arcsec off astropy's")
            print(f"soda: a {data.shape[1]} x {data.shape[0]} cutout of {image_id}: pixels and WCS "
                  "as astropy reads the image and as its Cutout2D cuts it")
    # The links document and a TAP result with its descriptor pass votlint.
    star = str(result[0]["star_id"])
    for name, doc_url in [
        ("links", f"{url}/datalink/links?ID={star}&ID=nosuchstar"),
        ("tap", f"{url}/tap/sync?LANG=ADQL&QUERY=SELECT+TOP+3+star_id,ra,dec+FROM+eros2.stars"),
    ]:
        with tempfile.NamedTemporaryFile(suffix=".vot") as f:
            f.write(requests.get(doc_url, timeout=30).content)
            f.flush()
            out = subprocess.run(["stilts", "votlint", f"votable={f.name}"],
                                 capture_output=True, text=True)
            bad = [l for l in (out.stdout + out.stderr).splitlines()
                   if "ERROR" in l or "WARNING" in l]
            if bad:
                problem(f"datalink: votlint on the {name} document: {bad[:3]}")
    bad = pyvo.dal.adhoc.DatalinkResults.from_result_url(f"{url}/datalink/links?ID=nosuchstar")
    messages = [str(r["error_message"]) for r in bad]
    if len(messages) != 1 or not messages[0].startswith("NotFoundFault"):
        problem(f"datalink: an unknown ID gave {messages}")
    print(f"datalink: {checked} stars followed from a TAP result with pyvo: checked")


UPLOAD_ADQL = ("SELECT u.name, s.star_id FROM TAP_UPLOAD.mine AS u JOIN eros2.stars AS s "
               "ON 1 = CONTAINS(POINT('ICRS', s.ra, s.dec), CIRCLE('ICRS', u.ra, u.dec, 1.0/3600))")


@functools.lru_cache(maxsize=None)
def upload_list(binary, catalog):
    """300 positions near stars (a third moved beyond 1"), as CSV text, and the CLI's
    xmatch of them with the stars as (name, star_id) pairs."""
    stars = cli_csv(binary, catalog, "SELECT star_id, ra, dec FROM stars ORDER BY star_id LIMIT 300")
    text = "name,ra,dec\n"
    own = set()
    for i, r in enumerate(stars):
        moved = 5.0 if i % 3 == 2 else 0.3
        text += f"p{i},{float(r['ra'])!r},{float(r['dec']) + moved / 3600!r}\n"
        if i % 3 != 2:
            own.add((f"p{i}", str(r["star_id"])))
    with tempfile.NamedTemporaryFile("w", suffix=".csv") as f:
        f.write(text)
        f.flush()
        out = subprocess.run([binary, "query", "--catalog", catalog, "--format", "csv", "--table", f"mine={f.name}",
                              "SELECT name, star_id FROM xmatch(mine, stars, 1)"],
                             capture_output=True, text=True, check=True).stdout
    expected = frozenset((r["name"], r["star_id"]) for r in csv.DictReader(io.StringIO(out)))
    # Every position moved by 0.3 arcsec finds its own star.
    if not own or not own <= expected:
        problem(f"upload: the CLI's xmatch misses positions 0.3 arcsec from their star")
    return text, expected


def check_upload(binary, catalog, url):
    """pyvo's uploads: a list joined with the stars through TAP equals the CLI's xmatch."""
    from astropy.table import Table
    text, expected = upload_list(binary, catalog)
    mine = Table.read(text, format="ascii.csv")
    tap = pyvo.dal.TAPService(f"{url}/tap")
    got = {(str(r["name"]), str(r["star_id"])) for r in tap.search(UPLOAD_ADQL, uploads={"mine": mine})}
    job = tap.submit_job(UPLOAD_ADQL, uploads={"mine": mine})
    job.run().wait(timeout=60)
    by_job = {(str(r["name"]), str(r["star_id"])) for r in job.fetch_result()}
    job.delete()
    if got != expected or by_job != expected:
        problem(f"upload: TAP sync {len(got)} pairs, async {len(by_job)}, CLI xmatch {len(expected)}")
    else:
        print(f"upload: {len(mine)} positions joined with the stars through pyvo (sync and async) = CLI xmatch ({len(got)} pairs)")


def https_server(work, body):
    """A loopback https server with a certificate of a certificate authority of its own:
    /list.csv answers `body`, /moved a redirect to a cloud metadata address. Returns the
    server, its port and the authority's certificate file."""
    import http.server
    import ssl
    import threading

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=skyql test CA",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "host.key", "-out", "host.csr")
    with open(os.path.join(work, "host.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "host.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "host.ext", "-out", "host.pem")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/list.csv":
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(work, "host.pem"), os.path.join(work, "host.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1], os.path.join(work, "ca.pem")


def check_upload_by_https(binary, catalog, work):
    """An upload by https URL from a host of upload_url_hosts equals the CLI's xmatch;
    a redirect is not followed and a certificate of an unknown authority is refused."""
    text, expected = upload_list(binary, catalog)
    server, port, ca = https_server(work, text)
    config = os.path.join(work, "upload-by-url.toml")
    with open(config, "w") as f:
        f.write(f'upload_url_hosts = ["localhost:{port}"]\n')
    try:
        trusting = dict(os.environ, SSL_CERT_FILE=ca)
        proc, url = start(binary, catalog, config=config, env=trusting)
        try:
            tap = pyvo.dal.TAPService(f"{url}/tap")
            list_url = f"https://localhost:{port}/list.csv"
            got = {(str(r["name"]), str(r["star_id"])) for r in tap.search(UPLOAD_ADQL, uploads={"mine": list_url})}
            if got != expected:
                problem(f"upload by https: {len(got)} pairs, CLI xmatch {len(expected)}")
            else:
                print(f"upload by https URL through pyvo = CLI xmatch ({len(got)} pairs)")
            try:
                tap.search(UPLOAD_ADQL, uploads={"mine": f"https://localhost:{port}/moved"})
                problem("upload by https: a redirect was followed")
            except DALQueryError as e:
                if "redirects are not followed" not in str(e):
                    problem(f"upload by https: a redirect gave {e}")
        finally:
            stop(proc)
        # Without the authority's certificate the same URL is refused.
        untrusting = {k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT")}
        proc, url = start(binary, catalog, config=config, env=untrusting)
        try:
            pyvo.dal.TAPService(f"{url}/tap").search(UPLOAD_ADQL, uploads={"mine": f"https://localhost:{port}/list.csv"})
            problem("upload by https: a certificate of an unknown authority was accepted")
        except DALQueryError as e:
            if "certificate" not in str(e).lower():
                problem(f"upload by https from an unknown authority gave {e}")
            else:
                print("upload by https: a redirect and an unknown certificate authority refused")
        finally:
            stop(proc)
    finally:
        server.shutdown()


def published_tables(binary, catalog, work):
    """--table arguments publishing a VOTable, a CDS table and a HATS export of the stars."""
    here = os.path.dirname(os.path.abspath(__file__))
    data = os.path.join(here, "..", "data")
    hats = os.path.join(work, "demo_stars_hats")
    subprocess.run([binary, "hats", "export", "stars", "--catalog", catalog, "--out", hats],
                   capture_output=True, check=True)
    return [
        f"ref.pn={os.path.join(data, 'votable', 'vizier_b2_votable.xml')}",
        f"cds.pancino={os.path.join(data, 'catalogues', 'vizier_J_A+A_511_A56', 'table1.dat')}",
        f"ref.demo_stars={hats}",
    ]


def main():
    binary, catalog = sys.argv[1:3]
    with tempfile.TemporaryDirectory() as work:
        proc, url = start(binary, catalog, tables=published_tables(binary, catalog, work))
        try:
            check_taplint(url)
            check_pyvo(binary, catalog, url)
            check_upload(binary, catalog, url)
            check_datalink(binary, catalog, url)
        finally:
            stop(proc)
        check_upload_by_https(binary, catalog, work)
    check_time_limit(binary, catalog)
    if problems:
        print(f"{len(problems)} problem(s)")
        sys.exit(1)
    print("service: all checks passed")


if __name__ == "__main__":
    main()
