"""Checks skyql's time functions against astropy.

Run by .ci/run: hjd(mjd, ra, dec) against astropy's heliocentric light travel time
(erfa's built-in ephemeris, observer at the geocentre) to 0.5 s, mjd_to_iso against
astropy's ISO dates, pix2sky for CAR/AIT/STG/ARC, and pix2sky/sky2pix on 10,000 points of
a real TAN-SIP header of order 4 against astropy's all_pix2world/all_world2pix. Exit
status 1 on any difference beyond the bound.

Usage: check_functions.py  (SKYQL or CARGO_TARGET_DIR says where the binary is)
"""

import csv
import itertools
import os
import subprocess
import sys

import astropy.units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time


def main():
    skyql = os.environ.get("SKYQL", os.path.join(os.environ["CARGO_TARGET_DIR"], "debug", "skyql"))
    epochs = [50270.3, 50800.9, 51544.5, 51623.3, 52100.7, 52700.1, 55805.089641204]
    positions = [(80.0, -69.0), (0.0, 0.0), (180.0, 45.0), (266.4, -29.0), (10.0, 89.0)]
    rows = ", ".join(f"({m}, {ra}, {dec})" for m, (ra, dec) in itertools.product(epochs, positions))
    sql = (f"SELECT column1 AS mjd, column2 AS ra, column3 AS dec, hjd(column1, column2, column3) AS hmjd, "
           f"mjd_to_iso(column1) AS iso FROM (VALUES {rows})")
    out = subprocess.run([skyql, "query", "--format", "csv", sql], capture_output=True, text=True, check=True)
    worst = 0.0
    problems = []
    geocentre = EarthLocation.from_geocentric(0, 0, 0, unit=u.m)
    for r in csv.DictReader(out.stdout.splitlines()):
        t = Time(float(r["mjd"]), format="mjd", scale="utc", location=geocentre)
        star = SkyCoord(float(r["ra"]) * u.deg, float(r["dec"]) * u.deg)
        ltt = t.light_travel_time(star, "heliocentric", ephemeris="builtin").to_value(u.s)
        ours = (float(r["hmjd"]) - float(r["mjd"])) * 86400.0
        worst = max(worst, abs(ours - ltt))
        iso = t.isot
        if r["iso"] != iso:
            problems.append(f"mjd_to_iso({r['mjd']}) = {r['iso']}, astropy {iso}")
    print(f"hjd: {len(epochs) * len(positions)} cases, largest difference from astropy {worst:.3f} s")
    if worst > 0.5:
        problems.append(f"hjd differs from astropy by {worst} s > 0.5 s")
    problems += check_projections(skyql)
    problems += check_sip_order_4(skyql)
    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


def check_projections(skyql):
    """pix2sky for CAR and AIT (no WCSLIB reference file holds them) against astropy."""
    from astropy.io import fits
    from astropy.wcs import WCS
    import numpy as np
    problems = []
    worst = 0.0
    cases = 0
    for code in ["CAR", "AIT", "STG", "ARC"]:
        for crval in [(120.0, -30.0), (300.0, 45.0), (10.0, 0.0), (200.0, -75.0)]:
            cards = [f"CTYPE1  = 'RA---{code}'", f"CTYPE2  = 'DEC--{code}'", f"CRVAL1  = {crval[0]}",
                     f"CRVAL2  = {crval[1]}", "CRPIX1  = 100.0", "CRPIX2  = 50.0", "CDELT1  = -0.5",
                     "CDELT2  = 0.5", "PC1_2   = 0.1", "PC2_1   = -0.05"]
            header = fits.Header.fromstring("\n".join(cards), sep="\n")
            w = WCS(header)
            pts = [(x, y) for x in (1.0, 60.0, 100.0, 170.0) for y in (1.0, 30.0, 50.0, 95.0)]
            text = "\n".join(cards).replace("'", "''")
            values = ", ".join(f"({x}, {y})" for x, y in pts)
            sql = (f"SELECT column1 AS x, column2 AS y, pix2sky(column1, column2, wcs_from_header('{text}')) AS p "
                   f"FROM (VALUES {values})")
            out = subprocess.run([skyql, "query", "--format", "csv",
                                  f"SELECT x, y, p['ra'] AS ra, p['dec'] AS dec FROM ({sql})"],
                                 capture_output=True, text=True, check=True)
            for r in csv.DictReader(out.stdout.splitlines()):
                ra, dec = w.all_pix2world([[float(r["x"]), float(r["y"])]], 1)[0]
                cases += 1
                if np.isnan(ra) or r["ra"] == "":
                    if not (np.isnan(ra) and r["ra"] == ""):
                        problems.append(f"{code} {crval} ({r['x']}, {r['y']}): skyql {r['ra']!r}, astropy {ra}")
                    continue
                d = np.hypot(((float(r["ra"]) - ra + 180) % 360 - 180) * np.cos(np.radians(dec)),
                             float(r["dec"]) - dec) * 3600
                worst = max(worst, d)
    print(f"pix2sky CAR/AIT/STG/ARC: {cases} points, largest difference from astropy {worst:.2e} arcsec")
    if worst > 1e-4:
        problems.append(f"pix2sky differs from astropy by {worst} arcsec")
    return problems


def check_sip_order_4(skyql):
    """pix2sky and sky2pix through the whole skyql query process on 10,000 points spread
    over a real survey CCD with SIP polynomials of order 4 (udfs/tests/data/wcs/PTF_SIP4.hdr),
    against astropy: positions to 1e-4 arcsec, and the pixels of those positions back to
    1e-6 pixel."""
    from astropy.io import fits
    from astropy.wcs import WCS
    import numpy as np
    import warnings
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "udfs", "tests", "data", "wcs")
    text = open(os.path.join(root, "PTF_SIP4.hdr")).read()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = WCS(fits.Header.fromstring(text, sep="\n"))
    n = 10_000
    x_sql = "1.0 + 2047.0 * (value * 0.6180339887498949 - floor(value * 0.6180339887498949))"
    y_sql = "1.0 + 4095.0 * (value * 0.7548776662466927 - floor(value * 0.7548776662466927))"
    hdr = text.replace("'", "''")
    sql = (f"SELECT value AS i, p['ra'] AS ra, p['dec'] AS dec, s['x'] AS x, s['y'] AS y FROM ("
           f"SELECT value, pix2sky({x_sql}, {y_sql}, wcs_from_header('{hdr}')) AS p, "
           f"sky2pix(pix2sky({x_sql}, {y_sql}, wcs_from_header('{hdr}'))['ra'], "
           f"pix2sky({x_sql}, {y_sql}, wcs_from_header('{hdr}'))['dec'], wcs_from_header('{hdr}')) AS s "
           f"FROM range({n})) ORDER BY i")
    out = subprocess.run([skyql, "query", "--format", "csv", sql], capture_output=True, text=True, check=True)
    rows = list(csv.DictReader(out.stdout.splitlines()))
    problems = []
    if len(rows) != n:
        return [f"pix2sky order 4: {len(rows)} rows, expected {n}"]
    i = np.array([float(r["i"]) for r in rows])
    x = 1.0 + 2047.0 * (i * 0.6180339887498949 - np.floor(i * 0.6180339887498949))
    y = 1.0 + 4095.0 * (i * 0.7548776662466927 - np.floor(i * 0.7548776662466927))
    ra, dec = w.all_pix2world(x, y, 1)
    ours_ra = np.array([float(r["ra"]) for r in rows])
    ours_dec = np.array([float(r["dec"]) for r in rows])
    d = np.hypot(((ours_ra - ra + 180) % 360 - 180) * np.cos(np.radians(dec)), ours_dec - dec) * 3600
    back_x = np.array([float(r["x"]) for r in rows])
    back_y = np.array([float(r["y"]) for r in rows])
    astropy_x, astropy_y = w.all_world2pix(ours_ra, ours_dec, 1, tolerance=1e-10, maxiter=100)
    worst_back = max(np.max(np.abs(back_x - astropy_x)), np.max(np.abs(back_y - astropy_y)))
    print(f"pix2sky TAN-SIP order 4: {n} points, largest difference from astropy {np.max(d):.2e} arcsec; "
          f"sky2pix of them: {worst_back:.2e} pixel")
    if not np.max(d) < 1e-4:
        problems.append(f"pix2sky (SIP order 4) differs from astropy by {np.max(d)} arcsec")
    if not worst_back < 1e-6:
        problems.append(f"sky2pix (SIP order 4) differs from astropy by {worst_back} pixel")
    return problems


if __name__ == "__main__":
    main()
