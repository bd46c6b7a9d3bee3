"""Light-curve formats read from their description files, checked against independent
readers: every real file of tests/data/lightcurves is ingested by skyql, then read again
with pandas (whitespace and comma layouts) or astropy's IPAC reader, and every row is
compared (time converted to MJD here, magnitudes, fluxes), with the accounting.

Usage: check_formats.py SKYQL WORKDIR
"""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import ascii as astropy_ascii

SKYQL, WORK = sys.argv[1], Path(sys.argv[2])
DATA = Path("tests/data/lightcurves")
CATALOG = WORK / "formats_catalog"


def to_mjd(t):
    """Full or abbreviated (JD - 2450000) Julian dates to MJD, independently of skyql."""
    t = np.asarray(t, dtype=float)
    return np.where(t < 1e6, t + 2450000.0 - 2400000.5, t - 2400000.5)


def whitespace(path, columns):
    return pd.read_csv(path, sep=r"\s+", comment="#", header=None).iloc[:, columns]


def comma(path, columns):
    return pd.read_csv(path, sep=",", comment="#", header=None).iloc[:, columns]


def ipac(path, names):
    table = astropy_ascii.read(path, format="ipac")
    return table.to_pandas()[names]


# (file, --format, star id, band, reader, what the reader's columns are: time, mag, err,
# flux, flux_err; None when the layout has no such value)
CASES = [
    ("ogle/phot_ob08092_O4.dat", "ogle", "phot_ob08092_O4", "I",
     lambda p: whitespace(p, [0, 1, 2]), ("t", "mag", "err", None, None)),
    ("ogle/ob140939_OGLE.dat", "ogle", "ob140939_OGLE", "I",
     lambda p: whitespace(p, [0, 1, 2]), ("t", "mag", "err", None, None)),
    ("ogle/starBLG234.6.I.218982.dat", "ogle", "BLG234.6.218982", "I",
     lambda p: whitespace(p, [0, 1, 2]), ("t", "mag", "err", None, None)),
    ("moa/lcMB20208.moa2r", "moa", "MB20208", "R",
     lambda p: whitespace(p, [0, 1, 2]), ("t", None, None, "flux", "ferr")),
    ("kmtnet/KMTA12_I.pysis", "kmtnet", "KMTA12", "I",
     lambda p: whitespace(p, [0, 1, 2, 3, 4]), ("t", "flux", "ferr", "mag", "err")),
    ("kmtnet/KMTC14_I.pysis", "kmtnet", "KMTC14", "I",
     lambda p: whitespace(p, [0, 1, 2, 3, 4]), ("t", "flux", "ferr", "mag", "err")),
    ("asas/217801.dat", "asas", "217801", "V",
     lambda p: comma(p, [0, 1, 2]), ("t", "mag", "err", None, None)),
    ("asas/247327.dat", "asas", "247327", "V",
     lambda p: comma(p, [0, 1, 2]), ("t", "mag", "err", None, None)),
    ("ipac/OB03235_OGLE.tbl.txt", "ipac", "OGLE 2003-BLG-235L", "I",
     lambda p: ipac(p, ["JD", "RELATIVE_MAGNITUDE", "MAGNITUDE_UNCERTAINTY"]),
     ("t", "mag", "err", None, None)),
    ("ipac/OB03235_MOA.tbl.txt", "ipac", "OGLE 2003-BLG-235L", "R",
     lambda p: ipac(p, ["HJD", "Relative_Flux", "Relative_Flux_Uncertainty"]),
     ("t", None, None, "flux", "ferr")),
    ("ipac/Canopus_0300089_PLC_003.tbl", "ipac", "MOA 2008-BLG-310L", "I",
     lambda p: ipac(p, ["JD", "RELATIVE_MAGNITUDE", "MAGNITUDE_UNCERTAINTY"]),
     ("t", "mag", "err", None, None)),
]


def skyql(*args):
    out = subprocess.run([SKYQL, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"skyql {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def query(sql):
    return pd.read_csv(io.StringIO(skyql("query", sql, "--catalog", str(CATALOG), "--format", "csv")),
                       keep_default_na=True)


def ingest():
    for fmt in sorted({c[1] for c in CASES}):
        files = [str(DATA / c[0]) for c in CASES if c[1] == fmt]
        skyql("ingest", *files, "--catalog", str(CATALOG), "--format", fmt)


def check(case):
    rel, fmt, star, band, reader, roles = case
    path = DATA / rel
    expected = reader(path)
    expected.columns = [r for r in roles if r is not None]
    # A row of the file without a magnitude (nan) keeps its flux; none is dropped.
    expected = expected.assign(mjd=to_mjd(expected["t"])).sort_values("mjd", kind="stable")
    got = query(
        "SELECT mjd, mag, mag_err, flux, flux_err FROM measurements "
        f"WHERE star_id = '{star}' AND colour = '{band}' ORDER BY mjd"
    )
    assert len(got) == len(expected), f"{rel}: {len(got)} rows, the file has {len(expected)}"
    assert np.allclose(got["mjd"], expected["mjd"], atol=1e-7, rtol=0), f"{rel}: dates differ"
    for mine, theirs, tol in [("mag", "mag", 1e-5), ("mag_err", "err", 1e-6),
                              ("flux", "flux", 1e-9), ("flux_err", "ferr", 1e-3)]:
        if theirs in expected:
            a = got[mine].to_numpy(dtype=float)
            b = expected[theirs].to_numpy(dtype=float)
            same = np.isclose(a, b, atol=tol, rtol=1e-6) | (np.isnan(a) & np.isnan(b))
            assert same.all(), f"{rel}: {mine} differs at rows {np.where(~same)[0][:5]}"
        else:
            assert got[mine].isna().all(), f"{rel}: {mine} should be null"
    accounting = query(
        "SELECT rows_read, rows_written, rows_missing, rows_rejected, format FROM inputs "
        f"WHERE path LIKE '%{Path(rel).name}'"
    ).iloc[0]
    assert accounting["format"] == fmt, f"{rel}: read as {accounting['format']}"
    assert accounting["rows_read"] == len(expected), f"{rel}: {accounting.to_dict()}"
    assert accounting["rows_written"] == len(expected) and accounting["rows_rejected"] == 0, \
        f"{rel}: {accounting.to_dict()}"
    first, last = expected.iloc[0], expected.iloc[-1]
    print(f"ok  {rel:36} {fmt:7} {star:20} {band} {len(expected):5} rows, "
          f"MJD {first['mjd']:.5f} .. {last['mjd']:.5f}")


def detect():
    for rel, fmt, *_ in CASES:
        out = skyql("ingest", "--detect", str(DATA / rel))
        best = out.strip().splitlines()[-1]
        assert best == f"best: --format {fmt}", f"{rel}: {best}"
    print(f"ok  --detect names the right description for all {len(CASES)} files")


def main():
    ingest()
    for case in CASES:
        check(case)
    detect()


if __name__ == "__main__":
    main()
