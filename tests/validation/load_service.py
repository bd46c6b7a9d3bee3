"""A bounded load test of skyql serve on loopback: N clients sending 1-arcminute cone
searches (Simple Cone Search) at random stars of the catalogue for T seconds, with ADQL
queries mixed in, and a few expensive queries that hit the time limit; then throughput,
p50/p99 latency, errors, the server's peak memory.

Usage: load_service.py SKYQL_BINARY CATALOG_DIR [--clients 20] [--seconds 60]
Only 127.0.0.1 is contacted; the server is started and stopped by this script.
"""

import argparse
import http.client
import os
import random
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse


def rss_kb(pid, key="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("catalog")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--expensive", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    config = os.path.join(tmp, "service.toml")
    with open(config, "w") as f:
        f.write(f"sync_timeout_s = 5\nmax_concurrent_queries = {a.clients + a.expensive + 4}\n")
    proc = subprocess.Popen([a.binary, "serve", "--catalog", a.catalog, "--bind", "127.0.0.1:0",
                             "--config", config], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    line = proc.stdout.readline()
    host, port = re.search(r"http://([\d.]+):(\d+)/tap", line).groups()
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()

    def get(path, timeout=30):
        c = http.client.HTTPConnection(host, int(port), timeout=timeout)
        t = time.perf_counter()
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body, time.perf_counter() - t

    # Centres: stars of the catalogue.
    q = urllib.parse.quote("SELECT TOP 2000 ra, dec FROM eros2.stars WHERE ra IS NOT NULL")
    status, body, _ = get(f"/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={q}", timeout=120)
    centres = [tuple(map(float, l.split(","))) for l in body.decode().split("\r\n")[1:] if l]
    results = {"cone": [], "adql": [], "expensive": []}
    errors = {"cone": 0, "adql": 0, "expensive": 0, "busy": 0}
    lock = threading.Lock()
    stop_at = time.time() + a.seconds
    peak = [0]

    def client(k):
        rng = random.Random(k)
        n = 0
        while time.time() < stop_at:
            ra, dec = rng.choice(centres)
            n += 1
            if n % 10 == 0:
                kind = "adql"
                adql = (f"SELECT star_id, ra, dec FROM eros2.stars WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
                        f"CIRCLE('ICRS', {ra}, {dec}, 0.0167))")
                path = f"/tap/sync?LANG=ADQL&QUERY={urllib.parse.quote(adql)}"
            else:
                kind = "cone"
                path = f"/scs/stars?RA={ra}&DEC={dec}&SR=0.0167&VERB=1"
            try:
                status, body, dt = get(path)
                ok = status == 200 and b"QUERY_STATUS\" value=\"ERROR" not in body
            except Exception:
                status, ok, dt = 0, False, 0.0
            with lock:
                if status == 503:
                    errors["busy"] += 1
                elif ok:
                    results[kind].append(dt)
                else:
                    errors[kind] += 1

    def expensive(k):
        time.sleep(a.seconds / 3 + k)
        # About 10^9 angular distances: far beyond the 5 s limit.
        adql = ("SELECT SUM(DISTANCE(s.ra, s.dec, g.value, 0.0)) FROM eros2.stars s "
                "CROSS JOIN generate_series(1, 100) g")
        status, body, dt = get(f"/tap/sync?LANG=ADQL&QUERY={urllib.parse.quote(adql)}", timeout=60)
        with lock:
            if b"limit" in body and status == 400:
                results["expensive"].append(dt)
            else:
                errors["expensive"] += 1

    def watch():
        while time.time() < stop_at + 2:
            peak[0] = max(peak[0], rss_kb(proc.pid))
            time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
    threads += [threading.Thread(target=expensive, args=(k,)) for k in range(a.expensive)]
    threads.append(threading.Thread(target=watch))
    rss_start = rss_kb(proc.pid)
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - started
    proc.send_signal(signal.SIGTERM)
    t_stop = time.time()
    try:
        proc.wait(timeout=30)
        stopped = f"stopped {time.time() - t_stop:.1f} s after SIGTERM"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        stopped = "did NOT stop within 30 s of SIGTERM (killed)"

    def pct(v, p):
        return sorted(v)[min(len(v) - 1, int(p * len(v)))] * 1e3 if v else float("nan")

    cones = results["cone"] + results["adql"]
    print(f"load: {a.clients} clients for {elapsed:.0f} s on {len(centres)} centres")
    print(f"requests: {len(cones)} cone searches ok ({len(results['adql'])} of them ADQL), "
          f"{len(cones) / elapsed:.0f} requests/s")
    print(f"latency: p50 {pct(cones, 0.5):.1f} ms, p99 {pct(cones, 0.99):.1f} ms "
          f"(SCS p99 {pct(results['cone'], 0.99):.1f} ms, ADQL p99 {pct(results['adql'], 0.99):.1f} ms)")
    print(f"errors: {errors['cone']} SCS, {errors['adql']} ADQL, {errors['busy']} refused with 503")
    if results["expensive"]:
        print(f"expensive queries: {len(results['expensive'])} cancelled at the 5 s limit, "
              f"answered after {statistics.mean(results['expensive']):.1f} s on average; "
              f"{errors['expensive']} not")
    print(f"server memory: {rss_start / 1024:.0f} MB at start, peak {peak[0] / 1024:.0f} MB; {stopped}")


if __name__ == "__main__":
    main()
