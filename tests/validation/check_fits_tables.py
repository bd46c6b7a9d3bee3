"""FITS tables in: astropy writes a BINTABLE with every column type (logicals, bits,
signed and unsigned bytes, 16/32/64-bit integers with TNULL, unsigned ones through TZERO,
a TSCAL/TZERO-scaled column, floats with NaN, complex numbers, strings, vectors and
variable-length arrays) and an ASCII TABLE; skyql reads them (`--table NAME=file.fits`,
`file.fits#HDU`) with the values astropy reads, then exports them to VOTable, FITS,
Parquet and CSV, and astropy reads the exports back equal, units and UCDs kept.

usage: check_fits_tables.py SKYQL WORKDIR
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.table import Table

N = 70_000  # more than one batch of rows (32,768)


def write_tables(path):
    rng = np.random.default_rng(7)
    i16 = rng.integers(-1000, 1000, N).astype(np.int16)
    i16[::7] = -32768  # TNULL
    j = rng.integers(-2**31 + 1, 2**31 - 1, N).astype(np.int32)
    k = rng.integers(-2**62, 2**62, N).astype(np.int64)
    k[::11] = -1  # TNULL
    e = rng.normal(15, 2, N).astype(np.float32)
    e[::5] = np.nan
    var = np.empty(N, dtype=object)
    for r in range(N):
        var[r] = np.arange(r % 4, dtype=np.int32)
    cols = [
        fits.Column(name="flag", format="L", array=(np.arange(N) % 3 == 0)),
        fits.Column(name="bits", format="5X", array=np.array([[r % 2, 1, 0, (r // 2) % 2, 1] for r in range(N)], dtype=bool)),
        fits.Column(name="u8", format="B", array=(np.arange(N) % 256).astype(np.uint8)),
        fits.Column(name="i8", format="B", bzero=-128, array=((np.arange(N) % 256) - 128).astype(np.int8)),
        fits.Column(name="i16", format="I", null=-32768, array=i16),
        fits.Column(name="u16", format="I", bzero=32768, array=(np.arange(N) % 65536).astype(np.uint16)),
        fits.Column(name="i32", format="J", unit="adu", array=j),
        fits.Column(name="u32", format="J", bzero=2**31, array=(np.arange(N, dtype=np.uint64) * 61_000).astype(np.uint32)),
        fits.Column(name="i64", format="K", null=-1, array=k),
        fits.Column(name="scaled", format="I", array=(np.arange(N) % 2000 - 1000).astype(np.int16)),
        fits.Column(name="mag", format="E", unit="mag", array=e),
        fits.Column(name="dec", format="D", unit="deg", array=rng.uniform(-70, -68, N)),
        fits.Column(name="cplx", format="C", array=(np.arange(N) + 1j * np.arange(N)).astype(np.complex64)),
        fits.Column(name="name", format="12A", array=np.array([f"star{r}" for r in range(N)])),
        fits.Column(name="vec", format="3D", array=rng.normal(0, 1, (N, 3))),
        fits.Column(name="var", format="PJ()", array=var),
        fits.Column(name="text", format="PA()", array=np.array(
            ["" if r % 9 == 0 else "x" * (r % 40) for r in range(N)], dtype=object)),
        fits.Column(name="none", format="0J", array=np.zeros((N, 0), dtype=np.int32)),
    ]
    table = fits.BinTableHDU.from_columns(cols, name="SOURCES")
    table.header["TSCAL10"] = 0.01
    table.header["TZERO10"] = 10.0
    table.header["TUCD12"] = "pos.eq.dec;meta.main"
    table.header["TCOMM12"] = "Declination"
    ascii_cols = [
        fits.Column(name="id", format="I6", array=np.arange(10)),
        fits.Column(name="x", format="E12.4", unit="pix", array=np.linspace(0, 1, 10)),
        fits.Column(name="label", format="A8", array=np.array([f"a{r}" for r in range(10)])),
    ]
    ascii_hdu = fits.TableHDU.from_columns(ascii_cols, name="ASCII")
    fits.HDUList([fits.PrimaryHDU(), table, ascii_hdu]).writeto(path, overwrite=True)


def skyql(binary, *args):
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"skyql {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def same(a, b, what):
    """Equal values, nulls (None, NaN, masked) equal to each other."""
    def norm(v):
        if v is None or v is np.ma.masked:
            return None
        if isinstance(v, (float, np.floating)) and math.isnan(v):
            return None
        if isinstance(v, (np.bool_, bool)):
            return bool(v)
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return float(v)
        if isinstance(v, (list, tuple, np.ndarray)):
            return [norm(x) for x in v]
        if isinstance(v, bytes):
            return v.decode()
        return v
    a, b = norm(a), norm(b)
    if isinstance(a, float) and isinstance(b, float):
        ok = math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    elif isinstance(a, list) and isinstance(b, list):
        ok = len(a) == len(b) and all(
            (math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9) if isinstance(x, float) and isinstance(y, float) else x == y)
            for x, y in zip(a, b))
    else:
        ok = a == b
    assert ok, f"{what}: {a!r} != {b!r}"


def json_rows(binary, *args):
    rows = [json.loads(line) for line in skyql(binary, "query", "--format", "json", *args).splitlines()
            if line.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):
        rows = rows[0]
    return rows


def check_rows(rows, ref, names, label):
    assert len(rows) == N, (label, len(rows))
    for r in list(range(0, 40)) + [32_767, 32_768, 32_769, N - 1]:
        for name in names:
            expected = ref[name][r]
            got = rows[r].get(name)  # JSON leaves nulls out
            if name == "i16" and expected == -32768:
                expected = None
            if name == "i64" and expected == -1:
                expected = None
            if name == "cplx":
                expected = [float(expected.real), float(expected.imag)]
            if name == "bits":
                expected = [bool(x) for x in expected]
            if name == "none":
                expected = None  # a column of no element: null
            if name == "text" and not isinstance(expected, str):
                expected = "".join(x.decode() if isinstance(x, bytes) else str(x) for x in expected)
            same(got, expected, f"{label}: row {r} column {name}")


def main():
    binary, work = sys.argv[1], Path(sys.argv[2])
    path = work / "all_types.fits"
    write_tables(path)
    ref = fits.open(path)["SOURCES"].data
    names = ref.columns.names
    check_rows(json_rows(binary, "--table", f"t={path}", "SELECT * FROM t"), ref, names, "--table")
    # `skyql ingest` takes the file as a catalogue table of its name, the same rows.
    catalog = work / "fits_ingest_catalog"
    report = skyql(binary, "ingest", str(path), "--catalog", str(catalog))
    assert f"FITS table rows read: {N} = written {N} + rejected 0" in report, report
    check_rows(json_rows(binary, "--catalog", str(catalog), "SELECT * FROM all_types ORDER BY CAST(replace(name, 'star', '') AS BIGINT)"), ref, names, "ingest")
    # The ASCII table, by HDU name and by number.
    for hdu in ("ASCII", "2"):
        text = skyql(binary, "query", "--format", "csv", "--table", f"a={path}#{hdu}", "SELECT id, x, label FROM a")
        lines = text.strip().splitlines()
        assert len(lines) == 11 and lines[3].startswith("2,"), lines
    # Exports keep values, units and UCDs.
    exports = {fmt: work / f"fits_back.{ext}" for fmt, ext in
               [("votable", "vot"), ("fits", "fits"), ("parquet", "parquet"), ("csv", "csv")]}
    select = "SELECT i16, u16, u32, i64, scaled, mag, dec, name FROM t"
    for fmt, out in exports.items():
        skyql(binary, "query", "--table", f"t={path}", select, "--format", fmt, "--output", str(out))
    vot = parse_single_table(str(exports["votable"])).to_table()
    fitsback = Table.read(exports["fits"])
    parq = Table.read(exports["parquet"])
    for table, label in [(vot, "votable"), (fitsback, "fits")]:
        assert str(table["mag"].unit) == "mag" and str(table["dec"].unit) == "deg", (label, table["mag"].unit)
    ucd = [f.ucd for f in parse_single_table(str(exports["votable"])).fields if f.name == "dec"][0]
    assert ucd == "pos.eq.dec;meta.main", ucd
    for table, label in [(vot, "votable"), (fitsback, "fits"), (parq, "parquet")]:
        assert len(table) == N, (label, len(table))
        for r in (0, 7, 32_768, N - 1):
            for name in ("i16", "u16", "u32", "scaled", "mag", "dec", "name"):
                expected = ref[name][r]
                if name == "i16" and expected == -32768:
                    expected = None
                same(table[name][r], expected, f"{label} row {r} column {name}")
    print(f"FITS tables: {N} rows x {len(names)} columns of every type read equal to astropy "
          f"(--table and skyql ingest); "
          f"ASCII table read; VOTable, FITS, Parquet exports equal with units and UCDs")


if __name__ == "__main__":
    main()
