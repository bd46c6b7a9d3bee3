"""Checks the images skyql generates from SQL with fitsverify and astropy.

Run by .ci/run after `skyql demo`. Fails (exit status 1) when:
- fitsverify reports an error or a warning on a public image or a cutout of the demo, or
  on a cutout of a real image; or astropy cannot read one;
- a star of the demo catalogue, measured (centroid) in a public image or a cutout and
  converted to the sky with astropy's WCS of that file, is more than 0.1 pixel from the
  catalogue's RA/Dec;
- a cutout's pixels differ from the source image's pixels, or its WCS (through astropy)
  gives a sky position more than 1e-6 arcsec from the source's for the same pixel (real
  images: TAN-SIP, and ZPN in an extension HDU; cutouts inside, across an edge, and
  partly off the image, which must be padded and say so).

Usage: check_images.py SKYQL_BINARY DEMO_DIR REAL_FITS_DIR
"""

import csv
import glob
import io
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

warnings.simplefilter("ignore", FITSFixedWarning)

problems = []


def problem(text):
    problems.append(text)
    print("PROBLEM:", text)


def fitsverify(path):
    out = subprocess.run(["fitsverify", path], capture_output=True, text=True)
    text = out.stdout + out.stderr
    if "Verification found 0 warning(s) and 0 error(s)" not in text:
        problem(f"fitsverify {path}:\n{text}")
        return False
    return True


def skyql_csv(binary, *args):
    out = subprocess.run([binary, "query", "--format", "csv", *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"skyql query {args} failed:\n{out.stderr}")
    return list(csv.DictReader(io.StringIO(out.stdout)))


def sep_arcsec(ra1, dec1, ra2, dec2):
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    s = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(s))) * 3600


def centroid(data, x, y, half=5, sigma=1.1):
    """Windowed centroid (SExtractor's XWIN: Gaussian-weighted, iterated) in 0-based
    pixel coordinates, after subtracting the median of a surrounding ring; (x, y, flux)."""
    cx, cy = int(round(x)), int(round(y))
    ny, nx = data.shape
    if cx - half - 4 < 0 or cy - half - 4 < 0 or cx + half + 4 >= nx or cy + half + 4 >= ny:
        return None
    ring = data[cy - half - 4 : cy + half + 5, cx - half - 4 : cx + half + 5].astype(float)
    mask = np.ones_like(ring, dtype=bool)
    mask[4:-4, 4:-4] = False
    sky = np.median(ring[mask])
    box = data[cy - half : cy + half + 1, cx - half : cx + half + 1].astype(float) - sky
    yy, xx = np.mgrid[cy - half : cy + half + 1, cx - half : cx + half + 1]
    total = box.sum()
    if total <= 0:
        return None
    px, py = x, y
    for _ in range(20):
        w = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sigma**2))
        norm = (w * box).sum()
        if norm <= 0:
            return None
        dx = 2 * (w * box * (xx - px)).sum() / norm
        dy = 2 * (w * box * (yy - py)).sum() / norm
        px, py = px + dx, py + dy
        if abs(dx) < 1e-6 and abs(dy) < 1e-6:
            break
    return px, py, total


def check_star_positions(binary, demo):
    catalog = os.path.join(demo, "catalog")
    stars = skyql_csv(binary, "--catalog", catalog,
                      "SELECT star_id, field, ccd, ra, dec, mean_mag_r, mean_mag_b FROM stars")
    by_field = {}
    for s in stars:
        by_field.setdefault(s["field"], []).append(s)
    products = os.path.join(catalog, "products")
    files = sorted(glob.glob(os.path.join(products, "public", "*", "*.fits")))
    files += sorted(glob.glob(os.path.join(products, "cutouts", "*", "*.fits")))
    if not files:
        problem("no public image or cutout in the demo's products")
        return
    measured, worst = 0, 0.0
    for path in files:
        if not fitsverify(path):
            continue
        with fits.open(path) as hdul:
            h = hdul[0].header
            data = hdul[0].data
        w = WCS(h)
        field = h.get("OBJECT")
        scale = np.sqrt(abs(np.linalg.det(w.pixel_scale_matrix))) * 3600
        saturation = h.get("SATURATE", 65535) * 0.8
        candidates = by_field.get(field, [])
        positions = [(float(s["ra"]), float(s["dec"])) for s in candidates]
        if not positions:
            continue
        px, py = w.all_world2pix(np.array(positions), 0).T
        for k, s in enumerate(candidates):
            x, y = px[k], py[k]
            if not (6 <= x < data.shape[1] - 7 and 6 <= y < data.shape[0] - 7):
                continue
            # Isolated stars only: no other catalogue star within 7 pixels.
            d = np.hypot(px - x, py - y)
            if np.sum(d < 7) > 1:
                continue
            c = centroid(data, x, y)
            if c is None:
                continue
            cx, cy, flux = c
            peak = data[int(round(cy)), int(round(cx))]
            if flux < 3000 or peak > saturation:
                continue
            ra, dec = w.all_pix2world([[cx, cy]], 0)[0]
            err_pix = sep_arcsec(ra, dec, float(s["ra"]), float(s["dec"])) / scale
            measured += 1
            worst = max(worst, err_pix)
            if err_pix > 0.1:
                problem(f"{os.path.basename(path)}: star {s['star_id']} measured "
                        f"{err_pix:.3f} pixel from its catalogue position")
    if measured < 10:
        problem(f"only {measured} star positions measured in public images and cutouts")
    print(f"demo products: {len(files)} files, {measured} star positions, "
          f"worst {worst:.4f} pixel from the catalogue")


def check_real_cutouts(binary, real_dir):
    with tempfile.TemporaryDirectory() as work:
        for name in ["apogee_alta_sip.fits", "ukidss_wfcam_zpn_image.fits"]:
            source = os.path.join(real_dir, name)
            with fits.open(source) as hdul:
                hdu = next(h for h in hdul if h.data is not None and h.data.ndim == 2)
                src_data = hdu.data.astype(float)
                src_wcs = WCS(hdu.header)
            ny, nx = src_data.shape
            # Inside, across the lower-left corner, across the upper-right edge.
            for label, (x, y) in {
                "inside": (nx * 0.4, ny * 0.6),
                "corner": (3.0, 4.0),
                "edge": (nx - 2.0, ny * 0.5),
            }.items():
                ra, dec = src_wcs.all_pix2world([[x, y]], 1)[0]
                out = skyql_csv(binary, "--output-root", work, "--overwrite",
                                f"SELECT cutout('{source}', {float(ra)!r}, {float(dec)!r}, 40, "
                                f"'{label}_{name}') AS path")
                path = out[0]["path"]
                if not path:
                    problem(f"{name} {label}: no cutout")
                    continue
                fitsverify(path)
                with fits.open(path) as hdul:
                    h = hdul[0].header
                    data = hdul[0].data.astype(float)
                region = h["SRCREGN"].strip("[]").replace(":", ",").split(",")
                x0, x1, y0, y1 = map(int, region)
                padded = x0 < 1 or y0 < 1 or x1 > nx or y1 > ny
                if bool(h["PADDED"]) != padded:
                    problem(f"{name} {label}: PADDED {h['PADDED']} but region {h['SRCREGN']}")
                cut_wcs = WCS(h)
                jj, ii = np.mgrid[0:40, 0:40]
                sx, sy = ii + x0 - 1, jj + y0 - 1  # 0-based source pixels
                a = cut_wcs.all_pix2world(np.c_[ii.ravel(), jj.ravel()], 0)
                b = src_wcs.all_pix2world(np.c_[sx.ravel(), sy.ravel()], 0)
                worst = sep_arcsec(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).max()
                if worst > 1e-6:
                    problem(f"{name} {label}: cutout WCS differs by {worst:.2e} arcsec")
                inside = (sx >= 0) & (sx < nx) & (sy >= 0) & (sy < ny)
                same = data[inside] == src_data[sy[inside], sx[inside]]
                if not same.all():
                    problem(f"{name} {label}: {np.sum(~same)} pixels differ from the source")
                # Padding: NaN, or BLANK (raw, or scaled when astropy reads unsigned
                # integers without applying BLANK).
                pad = data[~inside]
                blank = h.get("BLANK")
                nulls = [blank, blank * h.get("BSCALE", 1) + h.get("BZERO", 0)] if blank is not None else []
                if pad.size and not (np.isnan(pad) | np.isin(pad, nulls)).all():
                    problem(f"{name} {label}: padding is not null")
                print(f"real cutout {name} {label}: WCS within {worst:.1e} arcsec, "
                      f"{inside.sum()} pixels equal, padded {padded}")


def main():
    binary, demo, real_dir = sys.argv[1:4]
    check_star_positions(binary, demo)
    check_real_cutouts(binary, real_dir)
    if problems:
        print(f"{len(problems)} problem(s)")
        sys.exit(1)
    print("images: all checks passed")


if __name__ == "__main__":
    main()
