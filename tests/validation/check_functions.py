"""Checks skyql's time functions against astropy.

Run by .ci/run: hjd(mjd, ra, dec) against astropy's heliocentric light travel time
(erfa's built-in ephemeris, observer at the geocentre) to 0.5 s, and mjd_to_iso against
astropy's ISO dates. Exit status 1 on any difference beyond the bound.

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
    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
