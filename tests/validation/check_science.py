"""Science checks of two skyql aggregates against the references astronomers trust, on the
real light curves of tests/data/lightcurves (ingested from there into WORKDIR, nothing copied):

1. lomb_scargle(mjd, mag [, mag_err [, min_period, max_period]]) against astropy's
   LombScargle(t, y, dy).autopower(): the period (and frequency) of the highest peak, refined
   off the grid on astropy's exact power between its neighbours, within 1e-3 relative, the power within 1e-3 relative, the Baluev false-alarm probability within
   a factor 1.5 (when astropy's is above 1e-10; below, both must be below 1.5e-10), n equal.
2. paczynski_fit(mjd, mag, mag_err) (one band per group) against a point-source point-lens
   fit made here with MulensModel and scipy: t0, u0 and tE each within max(skyql's error,
   the reference's error), status 'ok', n equal.

Both sides see the same numbers: t, y, dy for the references come from skyql's own
measurements table (CSV), mag and mag_err read as float32 (their type in the catalogue) and
then widened to float64, as check_lightcurve_stats.py explains. Every light-curve file of
tests/data/lightcurves is listed below with what is done with it and why; a star the
catalogue holds but the lists do not name fails the check (nothing is dropped silently).

The reference side runs without the skyql functions: with a skyql that lacks them, the
script still ingests, exports, computes and prints every reference value, reports the
skyql query errors as failures and exits 1.

Usage: python tests/validation/check_science.py SKYQL_BINARY WORKDIR
"""

import io
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import astropy
from astropy.timeseries import LombScargle
from scipy.optimize import least_squares, minimize, minimize_scalar

import MulensModel as mm

SKYQL, WORK = sys.argv[1], Path(sys.argv[2])
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "lightcurves"
CATALOG = WORK / "science_catalog"

# Tolerances (relative unless said otherwise).
PERIOD_RTOL = 1e-3
POWER_RTOL = 1e-3
FAP_FACTOR = 1.5
FAP_FLOOR = 1e-10

# Each directory of tests/data/lightcurves is ingested with its shipped format description
# (as check_formats.py does): the OGLE and ASAS file names announce no format.
INGEST = [("eros2", "eros"), ("macho", "macho"), ("asas", "asas"), ("ogle", "ogle"),
          ("moa", "moa"), ("kmtnet", "kmtnet"), ("ipac", "ipac")]

# ---------------------------------------------------------------------------------------
# Periodic variables compared with astropy (star id, bands, what it is).
#
# PROVENANCE.md names lm0010n22323 an EROS-2 LMC Cepheid, and MACHO 2.4907.2086 is
# OGLE-LMC-LPV-24829 (tests/data/catalogues/ogle3_lmc_within_1.5deg_of_80_-69.tsv: a
# semi-regular variable, P_1 = 117.22 d). The two ASAS light curves come from the Richards
# et al. 2012 training set of classified variable stars; their amplitudes (V 7.8-14.6 and
# 7.9-12.3 mag) and periods (~380 d, ~350 d) are those of Miras. PROVENANCE.md gives no class
# for the other MACHO stars: those compared are the three whose B and R light curves, each
# on its own, put the periodogram's highest peak (0.1-1000 d) at the same period, far from
# the 1-day sampling alias, with astropy's Baluev FAP below 1e-60, and fold into a clean
# light curve at it (an eclipsing binary at 0.937 d, a low-amplitude variable at 0.556 d and
# an RRab-like saw-tooth at 0.497 d).
#
# The range: 0.1 to 1000 days for every star, given to both sides. The default grid's
# highest frequency (5 x the average Nyquist frequency, 0.66-1.15 /d for these MACHO light
# curves) lies below the 0.50-0.94 d periods of the MACHO stars above (the default grid then
# peaks at their 1-day aliases); it does include the Cepheid's 4.19 d and the Miras' periods.
# The three-argument call (astropy's default grid: fmin = df/2, fmax = 5 x the average
# Nyquist frequency) is compared as well, on the same stars (its highest peak is well
# defined even where it is an alias: see the margin column), and the two-argument call (no
# errors, unweighted) on the Cepheid.
PERIOD_RANGE = (0.1, 1000.0)
PERIODIC = [
    ("lm0010n22323", ("B", "R"), "EROS-2 LMC Cepheid (PROVENANCE.md), P ~ 4.19 d"),
    ("1.3444.614", ("B", "R"), "MACHO eclipsing binary, P ~ 0.937 d in both bands"),
    ("1.3568.288", ("B", "R"), "MACHO low-amplitude periodic, P ~ 0.556 d in both bands"),
    ("1.4652.1527", ("B", "R"), "MACHO RRab-like, P ~ 0.497 d in both bands"),
    ("2.4907.2086", ("B", "R"), "MACHO = OGLE-LMC-LPV-24829, SRV (OGLE P_1 = 117.22 d); only 64 B "
                                "and 45 R epochs, the highest peak is not at 117 d in either band: "
                                "compared as an implementation check on sparse data"),
    ("217801", ("V",), "ASAS Mira-like (Richards et al. 2012 training set), P ~ 379 d"),
    ("247327", ("V",), "ASAS Mira-like (Richards et al. 2012 training set), P ~ 350 d"),
]
NO_ERRORS = [("lm0010n22323", "B"), ("lm0010n22323", "R")]
# Stars of eros2/, macho/ and asas/ not compared, and why (astropy's highest peak in
# 0.1-1000 d is printed for them, to show it).
NOT_PERIODIC = {
    "1.3567.1310": "highest peak at 1.000 d in both bands: the sampling alias of a long-term trend",
    "1.4176.155": "highest peak at 1.000 d in both bands: the sampling alias of a long-term trend",
    "1.4418.1930": "R only; highest peak at 0.997 d (sampling alias), default grid: a 1358 d trend",
    "10.4279.1493": "highest peak at 1.000 d in both bands: the sampling alias of a long-term trend",
    "58.6272.729": "highest peak at 0.997-1.000 d in both bands: the sampling alias of a trend",
    "111.23746.772": "bulge star; FAP ~ 1e-3, B and R peaks at different periods: no period",
}

# ---------------------------------------------------------------------------------------
# Microlensing files (file, star id, band, category, note). Categories:
#   "pspl"        a point-lens-like event: compared, must agree;
#   "conditional" not a clean point lens, or not constraining one: both fits are made and
#                 printed, and compared only when both converge to the same minimum
#                 (|chi2 difference| < 1) with finite reference errors; otherwise listed
#                 as NOT COMPARED, which is not a pass;
#   "flux"        difference or relative fluxes only, no magnitudes: paczynski_fit works on
#                 magnitudes, so neither side fits them.
EVENTS = [
    ("ogle/phot_ob08092_O4.dat", "phot_ob08092_O4", "I", "pspl",
     "OGLE-IV I of the OB08092 data set, a clean symmetric event near MJD 55379 (MulensModel's "
     "fitting example; its unit tests use t0 = HJD 2455379.57091, u0 = 0.52298, tE = 17.94002 d, "
     "chi2 427-429, which the reference must reproduce)"),
    ("ogle/ob140939_OGLE.dat", "ob140939_OGLE", "I", "pspl",
     "OGLE-2014-BLG-0939, a low-magnification (0.45 mag) single-lens event; its parallax is "
     "measured with Spitzer, the ground light curve alone is point-lens-like"),
    ("ogle/starBLG234.6.I.218982.dat", "BLG234.6.218982", "I", "conditional",
     "it IS an event: OGLE-2005-BLG-086, ~1 mag at MJD ~53628 over a flat baseline, but a "
     "long one (tE ~ 100 d) with annual parallax: MulensModel's parallax tutorial notes that a "
     "model without parallax leaves trends in the residuals; a point lens leaves chi2/dof ~ 2"),
    ("ipac/OB03235_OGLE.tbl.txt", "OGLE 2003-BLG-235L", "I", "conditional",
     "OGLE-2003-BLG-235, the first microlensing planet: a binary-lens caustic crossing "
     "(Bond et al. 2004) on top of the point-lens curve; chi2/dof ~ 2 for a point lens"),
    ("ipac/Canopus_0300089_PLC_003.tbl", "MOA 2008-BLG-310L", "I", "conditional",
     "MOA-2008-BLG-310 from Canopus: 12 points over 9 days, the first 0.2 d before the peak of "
     "a high-magnification event with finite-source effects (MulensModel's tests: t0 = HJD "
     "2454656.4, u0 = 0.003, tE = 11.1 d, rho = 0.055), the last with 2-5 mag errors: 7 degrees "
     "of freedom, the point lens is not constrained"),
    ("kmtnet/KMTA12_I.pysis", "KMTA12", "I", "conditional",
     "KMT-2018-BLG-0003 at site A: a ~0.5 mag bump near MJD 58215 on a noisy I ~ 20 baseline, "
     "plus isolated outliers with small errors (I = 13.7 at MJD 58233.57, 14.3 at 58178.69) "
     "that a fit without clipping chases"),
    ("kmtnet/KMTC14_I.pysis", "KMTC14", "I", "conditional",
     "KMT-2018-BLG-0003 at site C, truncated at HJD 2458210 by MulensModel's authors (a "
     "real-time fitting example): only the rising wing, the peak is not in the data"),
    ("moa/lcMB20208.moa2r", "MB20208", "R", "flux",
     "MOA-2020-BLG-208, MOA-II difference fluxes (no magnitudes)"),
    ("ipac/OB03235_MOA.tbl.txt", "OGLE 2003-BLG-235L", "R", "flux",
     "OGLE-2003-BLG-235 from MOA, relative fluxes (no magnitudes)"),
]
# Published point-lens values the reference fit must reproduce (MJD, u0, tE): MulensModel's
# unit tests (tests/test_Event.py, test_event_get_chi2_1) for the OB08092 OGLE-IV file.
PUBLISHED = {("phot_ob08092_O4", "I"): (5379.57091 + 2450000 - 2400000.5, 0.52298, 17.94002)}
# Times: MulensModel expects full HJD/BJD (2450000 and above; MulensData(add_2450000=True)
# is its way to read HJD - 2450000 files). Only parallax and ephemerides depend on it, and
# MulensModel 3.12.0 warns about nothing for a point-lens model; the reference gets
# MJD + 2400000.5 (full-JD-like numbers, all above 2450000 here) and reports t0 in MJD, as
# skyql does. The files mix time scales (HJD for most, geocentric JD for the OB03235 OGLE
# table): harmless for single-band point-lens fits, both sides see the same dates.
JD_OFFSET = 2400000.5

failures = []


def fail(msg):
    failures.append(msg)


class SkyqlError(Exception):
    pass


def skyql(*args):
    out = subprocess.run([SKYQL, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SkyqlError(out.stderr.strip() or f"exit status {out.returncode}")
    return out.stdout


def query(sql):
    text = skyql("query", "--catalog", str(CATALOG), "--format", "csv", sql)
    return pd.read_csv(io.StringIO(text), dtype={"star_id": str, "colour": str, "status": str})


def one_line(err):
    return " ".join(l.strip() for l in str(err).splitlines() if l.strip())[:200] or "?"


def f32(series):
    """float32 values of the catalogue, as float64 (the CSV prints float32 shortest)."""
    return series.to_numpy(dtype=np.float32).astype(np.float64)


def sql_list(values):
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


# ---------------------------------------------------------------------------------------
# Catalogue

def ingest():
    if CATALOG.exists():
        shutil.rmtree(CATALOG)
    for directory, fmt in INGEST:
        skyql("ingest", str(DATA / directory), "--catalog", str(CATALOG), "--format", fmt)
    inputs = query("SELECT path, format, rows_read, rows_written, rows_rejected FROM inputs")
    on_disk = sorted(p for p in DATA.rglob("*") if p.is_file())
    read = {Path(p).resolve() for p in inputs["path"]}
    for p in on_disk:
        if p.resolve() not in read:
            fail(f"ingest: {p.relative_to(DATA)} was not read")
    if (inputs["rows_rejected"] != 0).any():
        fail(f"ingest: rows rejected:\n{inputs[inputs['rows_rejected'] != 0]}")
    print(f"ingested {len(inputs)} files of {len(on_disk)} under {DATA.relative_to(ROOT)} into {CATALOG}")


def export_points():
    pts = query("SELECT star_id, colour, mjd, mag, mag_err FROM measurements "
                "WHERE mag IS NOT NULL ORDER BY star_id, colour, mjd")
    pts["mjd"] = pts["mjd"].to_numpy(dtype=np.float64)
    pts["mag"] = f32(pts["mag"])
    pts["mag_err"] = f32(pts["mag_err"])
    return {key: g for key, g in pts.groupby(["star_id", "colour"])}


# ---------------------------------------------------------------------------------------
# 1. Lomb-Scargle

def astropy_ls(points, period_range, with_errors=True):
    """astropy's generalized Lomb-Scargle with its defaults (fit_mean, center_data,
    'standard' normalization), autopower grid (samples_per_peak=5, nyquist_factor=5), the
    highest peak and its Baluev FAP (fmax = the grid's highest frequency)."""
    started = time.perf_counter()
    t = points["mjd"].to_numpy()
    y = points["mag"].to_numpy()
    dy = points["mag_err"].to_numpy() if with_errors else None
    ls = LombScargle(t, y, dy, fit_mean=True, center_data=True, normalization="standard")
    grid = dict(samples_per_peak=5, nyquist_factor=5)
    if period_range is not None:
        grid.update(minimum_frequency=1.0 / period_range[1], maximum_frequency=1.0 / period_range[0])
    frequency, power = ls.autopower(**grid)
    best = int(np.argmax(power))
    # The highest grid peak refined between its neighbours on astropy's exact power, as
    # skyql refines its own (the grid's step, 1 / (5 baseline), is coarse for long periods).
    df = frequency[1] - frequency[0] if len(frequency) > 1 else 0.0
    lo, hi = max(frequency[best] - df, frequency[0]), min(frequency[best] + df, frequency[-1])
    peak_f, peak_p = frequency[best], float(power[best])
    if hi > lo:
        r = minimize_scalar(lambda f: -float(ls.power(np.array([f]))[0]), bounds=(lo, hi),
                            method="bounded", options={"xatol": 1e-7 * df})
        if -r.fun > peak_p:
            peak_f, peak_p = float(r.x), float(-r.fun)
    fap = float(ls.false_alarm_probability(peak_p, method="baluev", **grid))
    # How well the argmax is defined: 1 - (second highest local maximum / highest).
    peaks = np.where((power[1:-1] > power[:-2]) & (power[1:-1] >= power[2:]))[0] + 1
    second = np.sort(power[peaks])[-2] if len(peaks) > 1 else 0.0
    return dict(period=1.0 / peak_f, frequency=peak_f, power=peak_p,
                fap=fap, n=len(t), margin=1.0 - second / power[best], fmin=frequency[0],
                fmax=frequency[-1], nf=len(frequency), seconds=time.perf_counter() - started)


def ls_calls():
    """(label, SQL arguments after mjd, mag, period range for astropy, with errors, stars)."""
    lo, hi = PERIOD_RANGE
    stars = [(s, c) for s, bands, _ in PERIODIC for c in bands]
    return [
        (f"range {lo:g}-{hi:g} d", f"mag_err, {lo!r}, {hi!r}", PERIOD_RANGE, True, stars),
        ("default grid", "mag_err", None, True, stars),
        ("default, no errors", None, None, False, NO_ERRORS),
    ]


def skyql_ls(sql_args, stars):
    args = "mjd, mag" + (f", {sql_args}" if sql_args else "")
    ids = sorted({s for s, _ in stars})
    sql = ("SELECT star_id, colour, r['period'] AS period, r['frequency'] AS frequency, "
           "r['power'] AS power, r['fap'] AS fap, r['n'] AS n FROM ("
           f"SELECT star_id, colour, lomb_scargle({args}) AS r FROM measurements "
           f"WHERE mag IS NOT NULL AND star_id IN ({sql_list(ids)}) GROUP BY star_id, colour)")
    print(f"  skyql: {sql}")
    got = query(sql)
    return {(r.star_id, r.colour): r for r in got.itertuples()}


def rel(a, b):
    return abs(a - b) / abs(b) if b != 0 else abs(a - b)


def check_lomb_scargle(series):
    print("\n== lomb_scargle against astropy", astropy.__version__, "LombScargle(t, mag, mag_err).autopower()")
    known = {s for s, _, _ in PERIODIC} | set(NOT_PERIODIC)
    for (star, colour) in series:
        if star in known or any(star == e[1] for e in EVENTS):
            continue
        fail(f"lomb_scargle: star {star} {colour} is in the catalogue but in no list of this script")
    for star, bands, what in PERIODIC:
        for c in bands:
            if (star, c) not in series:
                fail(f"lomb_scargle: {star} {c} is not in the catalogue")
        print(f"  {star:13} {'/'.join(bands):3} {what}")
    header = (f"  {'star':13} {'band':4} {'call':19} {'n':>5} {'Nf':>7} {'P skyql (d)':>14} {'P astropy (d)':>14} "
              f"{'rel.diff':>8} {'power skyql':>11} {'power astropy':>13} {'rel.diff':>8} {'fap skyql':>9} "
              f"{'fap astropy':>11} {'margin':>6} {'s':>5}  verdict")
    print(header)
    counts = {"ok": 0, "failed": 0}
    for label, sql_args, prange, with_errors, stars in ls_calls():
        try:
            got = skyql_ls(sql_args, stars)
            error = None
        except SkyqlError as e:
            got, error = {}, one_line(e)
            fail(f"lomb_scargle ({label}): skyql query failed: {error}")
            print(f"  ({label}: the skyql query failed: {error})")
        for star, c in stars:
            if (star, c) not in series:
                continue
            ref = astropy_ls(series[(star, c)], prange, with_errors)
            row = got.get((star, c))
            problems = []
            if row is None:
                problems.append("no skyql row" if error is None else "skyql query failed")
                if error is None:
                    fail(f"lomb_scargle {star} {c} ({label}): no row in skyql's answer")
                sky = dict(period=np.nan, frequency=np.nan, power=np.nan, fap=np.nan, n=-1)
            else:
                sky = dict(period=float(row.period), frequency=float(row.frequency), power=float(row.power),
                           fap=float(row.fap), n=int(row.n) if pd.notna(row.n) else -1)
                if sky["n"] != ref["n"]:
                    problems.append(f"n {sky['n']} != {ref['n']}")
                if not rel(sky["period"], ref["period"]) < PERIOD_RTOL:
                    problems.append("period")
                if not rel(sky["frequency"], ref["frequency"]) < PERIOD_RTOL:
                    problems.append("frequency")
                if not rel(sky["power"], ref["power"]) < POWER_RTOL:
                    problems.append("power")
                if ref["fap"] > FAP_FLOOR:
                    ok = sky["fap"] > 0 and 1 / FAP_FACTOR <= sky["fap"] / ref["fap"] <= FAP_FACTOR
                else:
                    ok = 0 <= sky["fap"] < FAP_FLOOR * FAP_FACTOR
                if not ok:
                    problems.append("fap")
            counts["failed" if problems else "ok"] += 1
            verdict = "ok" if not problems else "FAIL " + ", ".join(problems)
            if problems and row is not None:
                fail(f"lomb_scargle {star} {c} ({label}): {', '.join(problems)}: skyql period "
                     f"{sky['period']!r} power {sky['power']!r} fap {sky['fap']!r} n {sky['n']}; astropy period "
                     f"{float(ref['period'])!r} power {ref['power']!r} fap {ref['fap']!r} n {ref['n']}")
            print(f"  {star:13} {c:4} {label:19} {ref['n']:5d} {ref['nf']:7d} {sky['period']:14.7f} "
                  f"{ref['period']:14.7f} {rel(sky['period'], ref['period']):8.1e} {sky['power']:11.6f} "
                  f"{ref['power']:13.6f} {rel(sky['power'], ref['power']):8.1e} {sky['fap']:9.2e} "
                  f"{ref['fap']:11.2e} {ref['margin']:6.3f} {ref['seconds']:5.2f}  {verdict}")
    print("  (margin: 1 - second highest peak / highest, how well astropy's argmax is defined; "
          "s: seconds of the astropy periodogram)")
    print("  not compared (no period to compare; astropy's highest peak in "
          f"{PERIOD_RANGE[0]:g}-{PERIOD_RANGE[1]:g} d shown):")
    for star, why in NOT_PERIODIC.items():
        for (s, c), pts in series.items():
            if s == star:
                ref = astropy_ls(pts, PERIOD_RANGE)
                print(f"    {star:13} {c}  P {ref['period']:10.5f} d  power {ref['power']:.4f}  "
                      f"fap {ref['fap']:.2e}  - {why}")
    return counts


# ---------------------------------------------------------------------------------------
# 2. Paczynski (point-source point-lens) fits

def magnification(u):
    return (u * u + 2.0) / (u * np.sqrt(u * u + 4.0))


class ReferenceFit:
    """A point-lens fit of one band with MulensModel (its Model, MulensData with
    phot_fmt='mag', Event chi2 with source and blend fluxes fitted linearly), minimized
    with scipy from the reference's own starting points: t0 at the brightest binned point,
    a grid of u0 and tE starts, Nelder-Mead on (t0, u0, ln tE) for each, the best one
    polished by least squares on all five parameters (t0, u0, tE, Fs, Fb) whose Jacobian
    gives the uncertainties (sqrt of the diagonal of (J^T J)^-1, not rescaled)."""

    U0_STARTS = (0.01, 0.1, 0.3, 1.0)
    TE_STARTS = (5.0, 20.0, 80.0)

    def __init__(self, points):
        self.mjd = points["mjd"].to_numpy()
        self.data = mm.MulensData([self.mjd + JD_OFFSET, points["mag"].to_numpy(),
                                   points["mag_err"].to_numpy()], phot_fmt="mag")
        self.flux, self.flux_err = self.data.flux, self.data.err_flux
        self.model = mm.Model({"t_0": float(self.data.time[0]), "u_0": 0.1, "t_E": 10.0})
        self.event = mm.Event(datasets=self.data, model=self.model)

    def t0_guess(self):
        """The middle of the brightest run of 5 consecutive points (by median magnitude)."""
        order = np.argsort(self.mjd, kind="stable")
        mag, t = self.data.mag[order], self.data.time[order]
        k = 5 if len(mag) >= 15 else 1
        med = np.array([np.median(mag[i:i + k]) for i in range(len(mag) - k + 1)])
        i = int(np.argmin(med))
        return float(np.median(t[i:i + k]))

    def set(self, t0, u0, te):
        self.model.parameters.t_0 = t0
        self.model.parameters.u_0 = u0
        self.model.parameters.t_E = te

    def chi2_nm(self, x, t0g):
        dt0, u0, ln_te = x
        if not -8.0 < ln_te < 12.0 or abs(u0) > 50:
            return 1e300
        self.set(t0g + dt0, u0, float(np.exp(ln_te)))
        return self.event.get_chi2()

    def residuals(self, p):
        t0, u0, te, fs, fb = p
        self.set(t0, u0, te)
        a = self.model.get_magnification(self.data.time)
        return (fs * a + fb - self.flux) / self.flux_err

    def jacobian(self, p):
        t0, u0, te, fs, _ = p
        tau = (self.data.time - t0) / te
        u = np.sqrt(u0 * u0 + tau * tau)
        da_du = -8.0 / (u * u * (u * u + 4.0) ** 1.5)
        du = np.stack([-tau / (te * u), u0 / u, -tau * tau / (te * u)], axis=1)
        j = np.empty((len(u), 5))
        j[:, :3] = fs * da_du[:, None] * du
        j[:, 3] = magnification(u)
        j[:, 4] = 1.0
        return j / self.flux_err[:, None]

    def fit(self):
        started = time.perf_counter()
        t0g = self.t0_guess()
        best, ends = None, []
        for u0 in self.U0_STARTS:
            for te in self.TE_STARTS:
                x0 = np.array([0.0, u0, np.log(te)])
                simplex = [x0, x0 + [te / 4, 0, 0], x0 + [0, max(u0 / 2, 0.05), 0], x0 + [0, 0, 0.5]]
                r = minimize(self.chi2_nm, x0, args=(t0g,), method="Nelder-Mead",
                             options=dict(initial_simplex=np.array(simplex), xatol=1e-7, fatol=1e-7,
                                          maxiter=2000, maxfev=2000))
                ends.append(float(r.fun))
                if best is None or r.fun < best[0]:
                    best = (float(r.fun), r.x, (u0, te))
        chi2_nm, x, start = best
        t0, u0, te = t0g + x[0], x[1], float(np.exp(x[2]))
        self.set(t0, u0, te)
        self.event.get_chi2()
        fs, fb = self.event.get_flux_for_dataset(0)
        fs = float(np.atleast_1d(fs)[0])
        ls = least_squares(self.residuals, [t0, u0, te, fs, float(fb)], jac=self.jacobian, method="trf",
                           bounds=([-np.inf, -np.inf, 1e-6, -np.inf, -np.inf], np.inf),
                           x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=5000)
        p = ls.x
        j = self.jacobian(p)
        # The covariance through column scaling (the columns differ by orders of magnitude).
        scale = np.linalg.norm(j, axis=0)
        try:
            js = j / scale
            cov = np.linalg.inv(js.T @ js) / np.outer(scale, scale)
            err = np.sqrt(np.diag(cov))
        except np.linalg.LinAlgError:
            err = np.full(5, np.nan)
        chi2 = float(np.sum(self.residuals(p) ** 2))
        # Self-consistency of the reference: MulensModel's magnification is the formula
        # the Jacobian differentiates, and its Event chi2 (fluxes fitted linearly) equals
        # the least-squares chi2 at the minimum.
        self.set(p[0], p[1], p[2])
        a_mm = self.model.get_magnification(self.data.time)
        a_formula = magnification(np.sqrt(p[1] ** 2 + ((self.data.time - p[0]) / p[2]) ** 2))
        chi2_event = self.event.get_chi2()
        internal = []
        if not np.allclose(a_mm, a_formula, rtol=1e-10, atol=0):
            internal.append("MulensModel's magnification differs from (u^2+2)/(u sqrt(u^2+4))")
        if abs(chi2_event - chi2) > 1e-6 * max(1.0, chi2) + 1e-6:
            internal.append(f"Event chi2 {chi2_event} != least-squares chi2 {chi2}")
        constrained = (ls.success and np.all(np.isfinite(err)) and p[2] > 1e-3
                       and err[2] < p[2] and err[0] < p[2] and err[1] < max(abs(p[1]), 1e-3) * 10)
        return dict(t0=p[0] - JD_OFFSET, u0=abs(p[1]), te=p[2], fs=p[3], fb=p[4], t0_err=err[0],
                    u0_err=err[1], te_err=err[2], chi2=chi2, chi2_nm=chi2_nm, n=len(self.mjd),
                    dof=len(self.mjd) - 5, constrained=bool(constrained), t0_guess=t0g - JD_OFFSET,
                    start=start, internal=internal, starts=len(ends),
                    at_best=sum(e - chi2_nm < 0.01 for e in ends), seconds=time.perf_counter() - started)


def skyql_paczynski(keys):
    where = " OR ".join(f"(star_id = '{s.replace(chr(39), chr(39) * 2)}' AND colour = '{c}')" for s, c in keys)
    fields = ["status", "t0", "t0_err", "u0", "u0_err", "te", "te_err", "chi2", "dof", "n"]
    sql = (f"SELECT star_id, colour, {', '.join(f'f[{chr(39)}{k}{chr(39)}] AS {k}' for k in fields)} FROM ("
           "SELECT star_id, colour, paczynski_fit(mjd, mag, mag_err) AS f FROM measurements "
           f"WHERE mag IS NOT NULL AND ({where}) GROUP BY star_id, colour)")
    print(f"  skyql: {sql}")
    got = query(sql)
    return {(r.star_id, r.colour): r for r in got.itertuples()}


def fmt(v, width, prec):
    return f"{v:{width}.{prec}f}" if v is not None and np.isfinite(v) else f"{'-':>{width}}"


def check_paczynski(series):
    print("\n== paczynski_fit against MulensModel", mm.__version__, "(point source, point lens, "
          "single band; MJD; errors from (J^T J)^-1, not rescaled)")
    listed = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file()
              and p.parent.name in ("ogle", "moa", "kmtnet", "ipac")}
    for rel_path in sorted(listed - {e[0] for e in EVENTS}):
        fail(f"paczynski_fit: {rel_path} is in tests/data/lightcurves but in no list of this script")
    keys = [(s, c) for _, s, c, cat, _ in EVENTS if cat != "flux"]
    try:
        got = skyql_paczynski(keys)
        error = None
    except SkyqlError as e:
        got, error = {}, one_line(e)
        fail(f"paczynski_fit: skyql query failed: {error}")
        print(f"  (the skyql query failed: {error})")
    counts = {"passed": 0, "failed": 0, "not compared": 0}
    for rel_path, star, band, category, note in EVENTS:
        print(f"\n  {rel_path}  (star '{star}', {band}; {category})\n    {note}")
        if category == "flux":
            print("    not fitted: no magnitudes in the catalogue for this band (difference/relative "
                  "fluxes only), and paczynski_fit takes magnitudes")
            continue
        if (star, band) not in series:
            fail(f"paczynski_fit: {star} {band} has no magnitudes in the catalogue")
            counts["failed"] += 1
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = ReferenceFit(series[(star, band)]).fit()
        for msg in ref["internal"]:
            fail(f"paczynski_fit reference {star} {band}: {msg}")
        row = got.get((star, band))
        sky = None
        if row is not None:
            sky = {k: (float(getattr(row, k)) if pd.notna(getattr(row, k)) else np.nan)
                   for k in ("t0", "t0_err", "u0", "u0_err", "te", "te_err", "chi2", "dof", "n")}
            sky["status"] = str(row.status)
            sky["u0"] = abs(sky["u0"])
        print(f"    reference: t0 guess MJD {ref['t0_guess']:.3f}; {ref['at_best']} of {ref['starts']} "
              f"Nelder-Mead starts end within 0.01 of the best chi2 {ref['chi2_nm']:.4f} (from u0 = "
              f"{ref['start'][0]:g}, tE = {ref['start'][1]:g} d); least squares -> chi2 {ref['chi2']:.4f}, "
              f"Fs {ref['fs']:.5g}, Fb {ref['fb']:.5g} (zero point 22); "
              f"{'constrained' if ref['constrained'] else 'NOT constrained'}; {ref['seconds']:.2f} s per fit")
        if (star, band) in PUBLISHED:
            pub = dict(zip(("t0", "u0", "te"), PUBLISHED[(star, band)]))
            off = {k: abs(ref[k] - v) / ref[k + "_err"] for k, v in pub.items()}
            print(f"    reference vs MulensModel's published values: t0 {pub['t0']:.5f}, u0 {pub['u0']}, "
                  f"tE {pub['te']} -> differences of {max(off.values()):.4f} sigma at most")
            if not max(off.values()) < 0.01:
                fail(f"paczynski_fit reference {star} {band}: does not reproduce MulensModel's published "
                     f"values {pub} (got t0 {ref['t0']}, u0 {ref['u0']}, tE {ref['te']})")
        print(f"    {'':6} {'skyql':>28} {'MulensModel + scipy':>28} {'|diff|/max(err)':>16}")
        within = {}
        for k, prec in (("t0", 5), ("u0", 6), ("te", 5)):
            s_v = sky[k] if sky else None
            s_e = sky[k + "_err"] if sky else None
            diff = None
            if sky is not None:
                errs = [e for e in (s_e, ref[k + "_err"]) if np.isfinite(e)]
                tol = max(errs) if errs else np.nan
                diff = abs(s_v - ref[k]) / tol if np.isfinite(tol) and tol > 0 else np.inf
                within[k] = bool(np.isfinite(diff) and diff <= 1.0)
            print(f"    {k:6} {fmt(s_v, 14, prec)} +- {fmt(s_e, 10, prec)} "
                  f"{fmt(ref[k], 14, prec)} +- {fmt(ref[k + '_err'], 10, prec)} {fmt(diff, 16, 3)}")
        print(f"    {'chi2':6} {fmt(sky['chi2'] if sky else None, 14, 4)} {'':13} {fmt(ref['chi2'], 14, 4)}")
        print(f"    {'dof':6} {fmt(sky['dof'] if sky else None, 14, 0)} {'':13} {ref['dof']:14d}")
        print(f"    {'n':6} {fmt(sky['n'] if sky else None, 14, 0)} {'':13} {ref['n']:14d}")
        print(f"    status {sky['status'] if sky else '-'}")
        problems, not_compared = [], None
        if sky is None:
            problems.append("no skyql result" if error is None else "skyql query failed")
        else:
            if sky["n"] != ref["n"]:
                problems.append(f"n {sky['n']:.0f} != {ref['n']}")
            if category == "pspl":
                if sky["status"] != "ok":
                    problems.append(f"status {sky['status']!r}")
                if not ref["constrained"]:
                    problems.append("the reference fit does not constrain the event")
                problems += [f"{k} not within errors" for k, ok in within.items() if not ok]
            else:
                same = abs(sky["chi2"] - ref["chi2"]) < 1.0 if np.isfinite(sky["chi2"]) else False
                if sky["status"] != "ok":
                    not_compared = f"skyql status {sky['status']!r}"
                elif not ref["constrained"]:
                    not_compared = "the reference fit does not constrain the parameters"
                elif not same:
                    not_compared = (f"different minima (chi2 skyql {sky['chi2']:.3f}, reference "
                                    f"{ref['chi2']:.3f})")
                else:
                    problems += [f"{k} not within errors at the same minimum" for k, ok in within.items() if not ok]
        if problems:
            counts["failed"] += 1
            if sky is not None or error is None:
                fail(f"paczynski_fit {rel_path}: {', '.join(problems)}")
            print(f"    -> FAIL: {', '.join(problems)}")
        elif not_compared:
            counts["not compared"] += 1
            print(f"    -> NOT COMPARED: {not_compared}")
        else:
            counts["passed"] += 1
            print("    -> ok: t0, u0, tE agree within their uncertainties")
    return counts


def main():
    print(f"skyql {SKYQL}; work directory {WORK}")
    ingest()
    series = export_points()
    ls_counts = check_lomb_scargle(series)
    counts = check_paczynski(series)
    print(f"\nlomb_scargle: {ls_counts['ok']} periodograms agree with astropy, {ls_counts['failed']} do not; "
          f"paczynski_fit: {counts['passed']} events agree with MulensModel, {counts['failed']} do not, "
          f"{counts['not compared']} not compared (listed above, not passes); {len(failures)} failure(s)")
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
