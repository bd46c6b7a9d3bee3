"""Checks lc_stats and stetson_j against an independent numpy computation.

Run by .ci/run: ingests the real EROS-2 light curve (tests/data) into a temporary
catalogue, exports its points and skyql's statistics, recomputes them with numpy and
fails (exit status 1) on a relative difference above 1e-9.
"""

import csv
import os
import subprocess
import sys
import tempfile

import numpy as np


def query(skyql, catalog, sql):
    out = subprocess.run([skyql, "query", "--catalog", catalog, "--format", "csv", sql],
                         capture_output=True, text=True, check=True)
    return list(csv.DictReader(out.stdout.splitlines()))


def stetson_j(points):
    by = {}
    for t, m, e, c in points:
        by.setdefault(c, []).append((t, m, e))
    deltas = {}
    for c, pts in by.items():
        t, m, e = map(np.array, zip(*pts))
        mean = np.average(m, weights=1 / e**2)
        deltas[c] = dict(zip(t, np.sqrt(len(m) / (len(m) - 1)) * (m - mean) / e))
    a, b = sorted(deltas)
    terms = []
    for t in sorted(set(deltas[a]) | set(deltas[b])):
        if t in deltas[a] and t in deltas[b]:
            terms.append(deltas[a][t] * deltas[b][t])
        else:
            d = deltas[a].get(t, deltas[b].get(t))
            terms.append(d * d - 1)
    terms = np.array(terms)
    return float(np.mean(np.sign(terms) * np.sqrt(np.abs(terms))))


def main():
    skyql = os.environ.get("SKYQL", os.path.join(os.environ["CARGO_TARGET_DIR"], "debug", "skyql"))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        cat = os.path.join(tmp, "cat")
        subprocess.run([skyql, "ingest", os.path.join(root, "tests/data/lightcurves/eros2"), "--catalog", cat],
                       capture_output=True, check=True)
        points = query(skyql, cat, "SELECT mjd, mag, mag_err, colour FROM measurements")
        stats = query(skyql, cat, "SELECT colour, s['n'] AS n, s['mean'] AS mean, s['weighted_mean'] AS weighted_mean, "
                                  "s['std'] AS std, s['chi2_dof'] AS chi2_dof, s['median'] AS median, s['mad'] AS mad, "
                                  "s['amplitude'] AS amplitude, s['first_mjd'] AS first_mjd, s['last_mjd'] AS last_mjd "
                                  "FROM (SELECT colour, lc_stats(mjd, mag, mag_err) AS s FROM measurements GROUP BY colour)")
        j = float(query(skyql, cat, "SELECT stetson_j(mjd, mag, mag_err, colour) AS j FROM measurements")[0]["j"])
    # mag and mag_err are stored as float32: the CSV prints the shortest decimal that
    # rounds to the same float32, so read them back as float32, as skyql computes on them.
    f32 = lambda x: float(np.float32(x))
    pts = [(float(p["mjd"]), f32(p["mag"]), f32(p["mag_err"]), p["colour"]) for p in points]
    checked = 0
    for s in stats:
        t, m, e = map(np.array, zip(*[(a, b, c) for a, b, c, col in pts if col == s["colour"]]))
        w = 1 / e**2
        wm = np.sum(w * m) / np.sum(w)
        med = np.median(m)
        expected = {
            "n": len(m), "mean": np.mean(m), "weighted_mean": wm, "std": np.std(m, ddof=1),
            "chi2_dof": np.sum(((m - wm) / e) ** 2) / (len(m) - 1), "median": med,
            "mad": np.median(np.abs(m - med)), "amplitude": np.ptp(m), "first_mjd": t.min(), "last_mjd": t.max(),
        }
        for k, v in expected.items():
            got = float(s[k])
            checked += 1
            if abs(got - v) > 1e-9 * max(1.0, abs(v)):
                problems.append(f"lc_stats {s['colour']} {k}: skyql {got}, numpy {v}")
    jn = stetson_j(pts)
    if abs(j - jn) > 1e-9 * max(1.0, abs(jn)):
        problems.append(f"stetson_j: skyql {j}, numpy {jn}")
    print(f"lc_stats: {checked} values and stetson_j = {j:.6f} checked against numpy, {len(problems)} differ")
    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
