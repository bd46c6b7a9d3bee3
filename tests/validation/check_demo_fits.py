"""Checks the demo survey's FITS files with fitsverify and astropy.

Run by .ci/run after the cargo tests, on a small demo written by `skyql demo`. Fails (exit
status 1) on any fitsverify error or warning, on a file astropy cannot read, or when a
star's position through astropy's WCS of its reference image differs from the catalogue's
RA/Dec by more than 1e-6 arcsec, or when the star's flux is not where the WCS says.

Usage: check_demo_fits.py DEMO_DIR
"""

import csv
import glob
import os
import subprocess
import sys

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS


def fitsverify(paths):
    bad = []
    for p in paths:
        out = subprocess.run(["fitsverify", p], capture_output=True, text=True)
        text = out.stdout + out.stderr
        if "Verification found 0 warning(s) and 0 error(s)" not in text:
            bad.append(f"{p}:\n{text}")
    return bad


def main():
    demo = sys.argv[1]
    images = sorted(glob.glob(os.path.join(demo, "raw", "images", "**", "*.fits"), recursive=True))
    if not images:
        sys.exit("no FITS image found")
    problems = fitsverify(images)
    print(f"fitsverify: {len(images)} files, {len(problems)} with errors or warnings")

    # Stars of the catalogue, exported with their reference pixel and sky position.
    skyql = os.environ.get("SKYQL", os.path.join(os.environ["CARGO_TARGET_DIR"], "debug", "skyql"))
    out = subprocess.run(
        [skyql, "query", "--catalog", os.path.join(demo, "catalog"), "--format", "csv",
         "SELECT star_id, x_r, y_r, x_b, y_b, ra, dec, position_source FROM stars WHERE ra IS NOT NULL"],
        capture_output=True, text=True, check=True)
    stars = list(csv.DictReader(out.stdout.splitlines()))
    if not stars:
        sys.exit("no star with a position in the catalogue")
    worst = 0.0
    flux_ok = 0
    for s in stars:
        with fits.open(s["position_source"]) as hdul:
            header = hdul[0].header
            data = hdul[0].data.astype(float)
            w = WCS(header)
            # The image that placed the star is a reference quarter (code d); its camera
            # digit (after the 5-letter field) says which pixel position applies.
            # FITS 1-based pixels: astropy origin=1.
            name = os.path.basename(s["position_source"])
            if name[8:10] != "bd":
                sys.exit(f"{s['star_id']} was placed by {name}, not a reference image")
            colour = "r" if name[5] == "1" else "b"
            x, y = float(s["x_" + colour]), float(s["y_" + colour])
            ra, dec = w.all_pix2world([[x, y]], 1)[0]
        d = np.hypot((ra - float(s["ra"])) * np.cos(np.radians(dec)), dec - float(s["dec"])) * 3600
        worst = max(worst, d)
        # Some light where the star is: the pixel at its position is above the median sky.
        i, j = int(round(x)) - 1, int(round(y)) - 1
        if 0 <= j < data.shape[0] and 0 <= i < data.shape[1] and data[j, i] > np.median(data):
            flux_ok += 1
    print(f"astropy: {len(stars)} stars, largest position difference {worst:.2e} arcsec, "
          f"{flux_ok} with light above the sky at their pixel")
    if worst > 1e-6:
        problems.append(f"position difference {worst} arcsec > 1e-6")
    if flux_ok < 0.8 * len(stars):
        problems.append(f"only {flux_ok} of {len(stars)} stars are rendered where their WCS says")
    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
