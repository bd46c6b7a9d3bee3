"""HATS round trip with LSDB: skyql exports a generated star catalogue and an external
catalogue (half of the stars moved by 0.5 arcsec, half by 4 arcsec) as HATS collections;
LSDB opens them, and its row counts, a cone search and a cross-match (nearest within 1
arcsec) equal skyql's, on the catalogue and on the HATS directories read back by skyql;
LSDB's own HATS, published by skyql serve, gives LSDB's cone through TAP and SCS.

usage: check_hats.py SKYQL WORKDIR
"""

import csv
import io
import subprocess
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import lsdb  # noqa: E402


def skyql(binary, *args):
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"skyql {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def rows(binary, *args):
    return list(csv.DictReader(io.StringIO(skyql(binary, "query", "--format", "csv", *args))))


def main():
    binary, work = sys.argv[1], Path(sys.argv[2])
    catalog = work / "hats_catalog"
    skyql(binary, "generate", "--catalog", str(catalog), "--stars", "20000", "--measurements", "0")
    external = work / "external.parquet"
    skyql(
        binary, "query", "--catalog", str(catalog),
        f"COPY (SELECT star_id AS ext_id, ra + CASE WHEN healpix % 2 = 0 THEN 0.5 ELSE 4.0 END "
        f"/ 3600 / cos(radians(dec)) AS ra, dec FROM stars) TO '{external}' STORED AS PARQUET",
    )
    stars_hats, ext_hats = work / "stars_hats", work / "ext_hats"
    print(skyql(binary, "hats", "export", "stars", "--catalog", str(catalog), "--out", str(stars_hats),
                "--max-rows", "2000").strip())
    print(skyql(binary, "hats", "export", "ext", "--table", f"ext={external}", "--out", str(ext_hats),
                "--max-rows", "2000").strip())

    stars = lsdb.open_catalog(stars_hats)
    ext = lsdb.open_catalog(ext_hats)
    assert len(stars.get_healpix_pixels()) > 4, "the export should split the sky into several pixels"
    assert stars.margin is not None and ext.margin is not None, "margin catalogues not found"
    n_skyql = int(rows(binary, "--catalog", str(catalog), "SELECT count(*) AS n FROM stars")[0]["n"])
    n_lsdb = len(stars.compute())
    assert n_lsdb == n_skyql == 20000, (n_lsdb, n_skyql)
    assert len(ext.compute()) == 20000

    # A cone search around the densest pixel's centre, 0.3 degrees.
    centre = rows(binary, "--catalog", str(catalog),
                  "SELECT avg(ra) AS ra, avg(dec) AS dec FROM (SELECT ra, dec FROM stars ORDER BY healpix LIMIT 3000)")[0]
    ra0, dec0 = float(centre["ra"]), float(centre["dec"])
    cone_lsdb = set(stars.cone_search(ra0, dec0, 0.3 * 3600).compute()["star_id"])
    where = f"cone_contains(ra, dec, {ra0}, {dec0}, 0.3)"
    cone_catalog = {r["star_id"] for r in rows(binary, "--catalog", str(catalog), f"SELECT star_id FROM stars WHERE {where}")}
    cone_hats = {r["star_id"] for r in rows(binary, "--table", f"h={stars_hats}", f"SELECT star_id FROM h WHERE {where}")}
    assert cone_lsdb, "empty cone: the check proves nothing"
    assert cone_lsdb == cone_catalog == cone_hats, (len(cone_lsdb), len(cone_catalog), len(cone_hats))

    # The nearest external source within 1 arcsec of every star.
    matched = stars.crossmatch(ext, n_neighbors=1, radius_arcsec=1.0, suffixes=("_s", "_e")).compute()
    pairs_lsdb = set(zip(matched["star_id_s"], matched["ext_id_e"]))
    best = "SELECT star_id, ext_id FROM xmatch({}, {}, 1.0, 'best')"
    pairs_catalog = {(r["star_id"], r["ext_id"]) for r in rows(
        binary, "--catalog", str(catalog), "--table", f"ext={external}", best.format("stars", "ext"))}
    pairs_hats = {(r["star_id"], r["ext_id"]) for r in rows(
        binary, "--table", f"hs={stars_hats}", "--table", f"he={ext_hats}", best.format("hs", "he"))}
    assert len(pairs_lsdb) > 5000, len(pairs_lsdb)
    assert pairs_lsdb == pairs_catalog == pairs_hats, (
        len(pairs_lsdb), len(pairs_catalog), len(pairs_hats),
        sorted(pairs_lsdb ^ pairs_catalog)[:5],
    )

    # The other way round: LSDB writes the external catalogue as HATS, skyql reads it.
    lsdb_dir = work / "ext_by_lsdb"
    import pandas as pd
    lsdb.from_dataframe(pd.read_parquet(external), ra_column="ra", dec_column="dec", catalog_name="ext",
                        lowest_order=2, highest_order=8, partition_rows=2000).to_hats(lsdb_dir)
    n_read = int(rows(binary, "--table", f"l={lsdb_dir}", "SELECT count(*) AS n FROM l")[0]["n"])
    assert n_read == 20000, n_read
    cone_ext = set(lsdb.open_catalog(lsdb_dir).cone_search(ra0, dec0, 0.3 * 3600).compute()["ext_id"])
    cone_read = {r["ext_id"] for r in rows(binary, "--table", f"l={lsdb_dir}", f"SELECT ext_id FROM l WHERE {where}")}
    assert cone_ext and cone_ext == cone_read, (len(cone_ext), len(cone_read))
    pairs_read = {(r["star_id"], r["ext_id"]) for r in rows(
        binary, "--catalog", str(catalog), "--table", f"l={lsdb_dir}", best.format("stars", "l"))}
    assert pairs_read == pairs_lsdb, (len(pairs_read), len(pairs_lsdb))
    print(f"HATS with LSDB: {n_lsdb} rows, cone of {len(cone_lsdb)} stars, {len(pairs_lsdb)} best pairs: equal;"
          f" LSDB's own HATS read by skyql: {n_read} rows, cone of {len(cone_read)}, same pairs")

    # LSDB's own HATS published by skyql serve: TAP and the table's cone search give
    # LSDB's cone.
    cone_tap, cone_scs = served_cones(binary, catalog, lsdb_dir, ra0, dec0)
    assert cone_tap == cone_ext == cone_scs, (len(cone_tap), len(cone_ext), len(cone_scs))
    print(f"LSDB's HATS served by skyql serve: a cone of {len(cone_tap)} through TAP and /scs/ref.ext = LSDB's cone_search")


def served_cones(binary, catalog, hats_dir, ra0, dec0):
    """The ext_id of the 0.3-degree cone through TAP (ADQL) and SCS on the HATS catalogue
    published as ref.ext."""
    import re
    import signal
    import xml.etree.ElementTree as ET

    import pyvo
    import requests

    proc = subprocess.Popen([binary, "serve", "--catalog", str(catalog), "--bind", "127.0.0.1:0",
                             "--table", f"ref.ext={hats_dir}"], stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"at (http://\S+)/tap", proc.stdout.readline()).group(1)
        tap = pyvo.dal.TAPService(f"{url}/tap")
        adql = (f"SELECT ext_id FROM ref.ext WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
                f"CIRCLE('ICRS', {ra0!r}, {dec0!r}, 0.3))")
        tap_ids = {str(r["ext_id"]) for r in tap.search(adql, maxrec=1000000)}
        votable = requests.get(f"{url}/scs/ref.ext", params={"RA": ra0, "DEC": dec0, "SR": 0.3, "VERB": 3},
                               timeout=60).text
        ns = {"v": "http://www.ivoa.net/xml/VOTable/v1.3"}
        root = ET.fromstring(votable)
        fields = [f.get("name") for f in root.iter("{http://www.ivoa.net/xml/VOTable/v1.3}FIELD")]
        k = fields.index("ext_id")
        scs_ids = {tr.findall("v:TD", ns)[k].text for tr in root.iter("{http://www.ivoa.net/xml/VOTable/v1.3}TR")}
        return tap_ids, scs_ids
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
