"""Catalogues on object stores: a HATS catalogue written by LSDB's own writer, put on a
local S3 server (moto) and on a static web server with byte ranges (RangeHTTPServer),
read by `skyql query --table` and published by `skyql serve --table`, gives the rows of
its local copy and LSDB's own cone search, through the CLI, TAP and the table's cone
search; a Parquet file on S3 reads as its local copy; a missing bucket, a missing
catalogue and an unreachable endpoint are errors naming the URL; the S3 key and secret
appear in no output, log or error. A skyql catalogue ingested into S3 answers as the same
ingest on local disk (CLI and service, which follows a new version); an ingest killed at
random moments leaves the old or the new version; a second writer is refused. A service
configured by its file's [s3], with no AWS_* variable, reads the same catalogue.

usage: check_object_stores.py SKYQL WORKDIR
       check_object_stores.py --cluster SKYQL WORKDIR   (a build with the `cluster` feature:
       a catalogue on S3 queried on a loopback scheduler and executor)
"""

import contextlib
import csv
import io
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import boto3  # noqa: E402
import lsdb  # noqa: E402
import pandas as pd  # noqa: E402
import pyvo  # noqa: E402
import requests  # noqa: E402
from served import served, stopped_at_end  # noqa: E402

KEY_ID = "SKYQLCIKEY4F9A27"
SECRET = "skyql-ci-secret-8c1e55d0"
BUCKET = "survey"
# Everything skyql printed, to be searched for the credentials at the end.
printed = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(binary, *args, env=None, ok=True):
    out = subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=300)
    printed.extend([out.stdout, out.stderr])
    if ok and out.returncode != 0:
        sys.exit(f"skyql {' '.join(args)} failed:\n{out.stderr}")
    if not ok and out.returncode != 1:
        sys.exit(f"skyql {' '.join(args)} should fail with an error, got {out.returncode}:\n{out.stderr}")
    return out


def rows(binary, *args, env=None):
    return list(csv.DictReader(io.StringIO(run(binary, "query", "--format", "csv", *args, env=env).stdout)))


@contextlib.contextmanager
def process(argv, ready_url, log_path, cwd=None):
    """A server on loopback for the time of a `with` block, stopped at the end."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=log)
        with stopped_at_end(proc, argv[0]):
            deadline = time.time() + 30
            while True:
                try:
                    requests.get(ready_url, timeout=2)
                    break
                except requests.ConnectionError:
                    if time.time() > deadline or proc.poll() is not None:
                        sys.exit(f"{argv[0]} did not start")
                    time.sleep(0.2)
            yield proc


def upload_tree(s3, root, prefix):
    n = 0
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(root).as_posix()}")
            n += 1
    return n


def main():
    binary, work = sys.argv[1], Path(sys.argv[2])
    venv_bin = Path(sys.executable).parent
    catalog = work / "objstore_catalog"
    run(binary, "generate", "--catalog", str(catalog), "--stars", "20000", "--measurements", "0")
    stars_parquet = work / "objstore_stars.parquet"
    run(binary, "query", "--catalog", str(catalog),
        f"COPY (SELECT star_id, ra, dec FROM stars) TO '{stars_parquet}' STORED AS PARQUET")
    www = work / "www"
    lsdb_dir = www / "stars_lsdb"
    lsdb.from_dataframe(pd.read_parquet(stars_parquet), ra_column="ra", dec_column="dec", catalog_name="stars",
                        lowest_order=2, highest_order=8, partition_rows=2000).to_hats(lsdb_dir)
    centre = rows(binary, "--catalog", str(catalog),
                  "SELECT avg(ra) AS ra, avg(dec) AS dec FROM (SELECT ra, dec FROM stars ORDER BY healpix LIMIT 3000)")[0]
    ra0, dec0 = float(centre["ra"]), float(centre["dec"])
    cone_lsdb = {str(i) for i in lsdb.open_catalog(lsdb_dir).cone_search(ra0, dec0, 0.3 * 3600).compute()["star_id"]}
    assert len(cone_lsdb) > 10, "a nearly empty cone proves little"

    s3_port, web_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{s3_port}"
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ALLOW_HTTP="true", AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)
    with process([str(venv_bin / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)], endpoint,
                 work / "moto.log"), \
            process([sys.executable, "-m", "RangeHTTPServer", str(web_port), "--bind", "127.0.0.1"],
                    f"http://127.0.0.1:{web_port}/", work / "web.log", cwd=www):
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                          region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        n_files = upload_tree(s3, lsdb_dir, "hats/stars")
        s3.upload_file(str(stars_parquet), BUCKET, "parquet/stars.parquet")
        locations = {
            "local": str(lsdb_dir),
            "s3": f"s3://{BUCKET}/hats/stars",
            "http": f"http://127.0.0.1:{web_port}/stars_lsdb",
        }
        where = f"cone_contains(ra, dec, {ra0!r}, {dec0!r}, 0.3)"
        counts, cones = {}, {}
        for kind, location in locations.items():
            counts[kind] = int(rows(binary, "--table", f"h={location}", "SELECT count(*) AS n FROM h", env=env)[0]["n"])
            cones[kind] = {r["star_id"] for r in rows(binary, "--table", f"h={location}",
                                                      f"SELECT star_id FROM h WHERE {where}", env=env)}
        assert counts == {"local": 20000, "s3": 20000, "http": 20000}, counts
        assert cones["local"] == cones["s3"] == cones["http"] == cone_lsdb, {k: len(v) for k, v in cones.items()}
        parquet = {r["star_id"] for r in rows(binary, "--table", f"p=s3://{BUCKET}/parquet/stars.parquet",
                                              f"SELECT star_id FROM p WHERE {where}", env=env)}
        assert parquet == cone_lsdb, (len(parquet), len(cone_lsdb))
        print(f"LSDB's HATS ({n_files} files) read from local disk, S3 and HTTP: 20000 rows each, "
              f"a cone of {len(cone_lsdb)} stars = LSDB's cone_search; a Parquet file on S3: the same cone")

        # Published by skyql serve: TAP and the tables' cone searches give LSDB's cone.
        served = served_cones(binary, catalog, locations, ra0, dec0, env, work)
        for name, ids in served.items():
            assert ids == cone_lsdb, (name, len(ids), len(cone_lsdb))
        print(f"served from S3 and HTTP: {', '.join(sorted(served))} = LSDB's cone of {len(cone_lsdb)}")
        s3_from_configuration(binary, catalog, endpoint, ra0, dec0, cone_lsdb, work)

        # Errors name what is missing, not the credentials.
        for location, expected in [
            ("s3://no-such-bucket/hats", "s3://no-such-bucket/hats"),
            (f"s3://{BUCKET}/nothing", f"s3://{BUCKET}/nothing"),
            (f"http://127.0.0.1:{web_port}/nothing", "neither a HATS catalogue"),
        ]:
            err = run(binary, "query", "--table", f"x={location}", "SELECT 1", env=env, ok=False).stderr
            assert expected in err, err
        writes(binary, catalog, env)
        catalogue_on_s3(binary, work, env)
        bench = run(binary, "bench", "publish", "--catalog", str(catalog), "--rows", "1000", "--repetitions", "3",
                    "--s3", f"s3://{BUCKET}/bench", env=env).stdout
        assert "S3, cold" in bench and "local disk, warm" in bench, bench
        print("bench publish --s3: " + "; ".join(l.split("  ")[0] for l in bench.splitlines() if "HATS cone" in l))

        unreachable = dict(env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
        started = time.time()
        err = run(binary, "query", "--table", f"x=s3://{BUCKET}/hats/stars", "SELECT 1", env=unreachable,
                  ok=False).stderr
        assert f"s3://{BUCKET}/hats/stars" in err and time.time() - started < 60, err

    logs = [(work / name).read_text(errors="replace") for name in ("skyql-serve.log", "skyql-serve-s3-config.log")]
    for text in printed + logs:
        assert KEY_ID not in text and SECRET not in text, "a credential in skyql's output or its log"
    print(f"the S3 key and secret appear in none of skyql's {len(printed)} outputs nor in its service's log")


def writes(binary, catalog, env):
    """skyql hats export to S3: the collection reads back whole; a second export to the
    same prefix is refused; two exports at once, one wins; an export killed at random
    moments leaves no collection or the whole one."""
    import random

    export = [binary, "hats", "export", "stars", "--catalog", str(catalog), "--max-rows", "2000", "--out"]
    started = time.time()
    run(*export, f"s3://{BUCKET}/export/one", env=env)
    took = time.time() - started
    count = "SELECT count(*) AS n FROM h"
    assert rows(binary, "--table", f"h=s3://{BUCKET}/export/one", count, env=env)[0]["n"] == "20000"
    err = run(*export, f"s3://{BUCKET}/export/one", env=env, ok=False).stderr
    assert "already holds a HATS catalogue" in err, err

    both = [subprocess.Popen(export + [f"s3://{BUCKET}/export/race"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(p.wait(timeout=300), p.communicate()) for p in both]
    printed.extend(t for _, pair in outcomes for t in pair)
    assert sorted(code for code, _ in outcomes) == [0, 1], outcomes
    assert rows(binary, "--table", f"h=s3://{BUCKET}/export/race", count, env=env)[0]["n"] == "20000"

    rng = random.Random(7)
    seen = {"none": 0, "whole": 0, "files without a collection": 0}
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=KEY_ID,
                      aws_secret_access_key=SECRET, region_name="us-east-1")
    for i in range(12):
        proc = subprocess.Popen(export + [f"s3://{BUCKET}/export/crash{i}"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # Kill times spread over the export's length and a little beyond, with jitter.
        time.sleep(took * 1.4 * (i + rng.random()) / 12)
        proc.kill()
        proc.wait()
        out = subprocess.run([binary, "query", "--format", "csv", "--table", f"h=s3://{BUCKET}/export/crash{i}",
                              count], capture_output=True, text=True, env=env, timeout=300)
        printed.extend([out.stdout, out.stderr])
        if out.returncode == 0:
            assert out.stdout.split() == ["n", "20000"], out.stdout
            seen["whole"] += 1
        else:
            assert "neither a HATS catalogue" in out.stderr, out.stderr
            listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"export/crash{i}/").get("KeyCount", 0)
            seen["files without a collection" if listed > 1 else "none"] += 1
    print(f"hats export to S3: read back whole; a second export refused; of two at once one won; killed at "
          f"random 12 times: " + ", ".join(f"{v} {k}" for k, v in seen.items()) + "; never a part of one")


def catalogue_on_s3(binary, work, env):
    """skyql ingest into S3: the same answers as the same ingests on local disk, through
    the CLI and a service that follows the new version; killed at random moments, the old
    or the new version; a lock held by a live writer refuses a second one."""
    import random

    raw, local = work / "s3_raw", work / "s3_local_catalog"
    run(binary, "generate", "--out", str(raw), "--fields", "lm001,lm035", "--ccds", "2", "--ccd-size", "64",
        "--epochs", "12")
    remote = f"s3://{BUCKET}/catalogues/eros2"
    first = [str(raw / "images" / "lm001"), str(raw / "lightcurves" / "lm001")]
    second = [str(raw / "images" / "lm035"), str(raw / "lightcurves" / "lm035")]
    per_field = "SELECT field, count(*) AS n, count(DISTINCT star_id) AS stars, round(sum(mag), 3) AS mags FROM measurements GROUP BY field ORDER BY field"
    stars = "SELECT star_id, ra, dec FROM stars ORDER BY star_id"

    def answers(catalog):
        out = [rows(binary, "--catalog", catalog, per_field, env=env),
               rows(binary, "--catalog", catalog, stars, env=env)]
        named = run(binary, "query", "--catalog", catalog, "--format", "csv", "--named",
                    "quarters_most_measurements", env=env).stdout
        return out + [named]

    run(binary, "ingest", "--catalog", str(local), *first, env=env)
    run(binary, "ingest", "--catalog", remote, *first, env=env)
    old = answers(str(local))
    assert answers(remote) == old, "S3 and local disk differ after the first ingest"
    with open(work / "skyql-serve-s3-catalogue.log", "w") as stderr, \
            served(binary, remote, env=env, stderr=stderr, log=printed) as url:
        tap = pyvo.dal.TAPService(f"{url}/tap")
        count = "SELECT COUNT(*) AS n FROM measurements"
        before = int(tap.search(count)[0]["n"])
        run(binary, "ingest", "--catalog", str(local), *second, env=env)
        took = time.time()
        run(binary, "ingest", "--catalog", remote, *second, env=env)
        took = time.time() - took
        new = answers(str(local))
        assert new != old and answers(remote) == new, "S3 and local disk differ after the second ingest"
        time.sleep(1.5)  # the service asks for the manifest's ETag at most once a second
        after = int(tap.search(count)[0]["n"])
        assert (before, after) == (int(old[0][0]["n"]), sum(int(r["n"]) for r in new[0])), (before, after)
    print(f"ingest into S3: two ingests answer as on local disk ({len(new[0])} fields, {len(new[1])} stars); "
          f"the service went from {before} to {after} measurements without a restart")

    # A writer holds the lock: a second is refused; killed writers: old or new version.
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=KEY_ID,
                      aws_secret_access_key=SECRET, region_name="us-east-1")
    lock = "catalogues/eros2/.write.lock"
    s3.put_object(Bucket=BUCKET, Key=lock, Body=b'{"host": "another-machine", "boot_id": "x", "pid": 1, '
                                                  b'"process_start": 1, "since": 0}')
    err = run(binary, "ingest", "--catalog", remote, *second, env=env, ok=False).stderr
    assert ".write.lock" in err and "another-machine" in err, err
    s3.delete_object(Bucket=BUCKET, Key=lock)

    # Killed at random moments during the ingest of the second field: the first field's
    # version (old) or both fields' (new), never a mixture; the next ingest takes the dead
    # writer's lock over and publishes the new version.
    rng = random.Random(11)
    seen = {"old": 0, "new": 0}
    for i in range(12):
        prefix = f"s3://{BUCKET}/catalogues/crash{i}"
        run(binary, "ingest", "--catalog", prefix, *first, env=env)
        proc = subprocess.Popen([binary, "ingest", "--catalog", prefix, *second], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(took * 1.3 * (i + rng.random()) / 12)
        proc.kill()
        proc.wait()
        now = answers(prefix)
        assert now in (old, new), f"kill {i}: the catalogue answers neither as before nor as after"
        seen["old" if now == old else "new"] += 1
        run(binary, "ingest", "--catalog", prefix, *second, env=env)
        assert answers(prefix) == new, f"kill {i}: the ingest after the kill"
    print(f"ingest into S3 killed at random 12 times: {seen['old']} old version, {seen['new']} new, never a "
          f"mixture; the next ingest took the dead writer's lock over; a live writer's lock refused a second one")


def cluster_on_s3(binary, work):
    """A catalogue ingested into S3, queried on a loopback Ballista scheduler and executor
    (which read the store with their own AWS_* settings): the embedded engine's rows."""
    s3_port, scheduler, executor = free_port(), free_port(), free_port()
    endpoint = f"http://127.0.0.1:{s3_port}"
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ALLOW_HTTP="true", AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)
    raw = work / "s3_cluster_raw"
    run(binary, "generate", "--out", str(raw), "--fields", "lm001,lm035", "--ccds", "2", "--ccd-size", "64",
        "--epochs", "12")
    venv_bin = Path(sys.executable).parent
    with process([str(venv_bin / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)], endpoint,
                 work / "moto-cluster.log"):
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                     region_name="us-east-1").create_bucket(Bucket=BUCKET)
        remote = f"s3://{BUCKET}/eros2"
        run(binary, "ingest", "--catalog", remote, str(raw), env=env)
        nodes = [subprocess.Popen([binary, "cluster", "scheduler", "--bind", f"127.0.0.1:{scheduler}"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        with contextlib.ExitStack() as stack:
            stack.enter_context(stopped_at_end(nodes[0], "skyql cluster scheduler"))
            time.sleep(1)
            executor_proc = subprocess.Popen(
                [binary, "cluster", "executor", "--scheduler", f"127.0.0.1:{scheduler}", "--bind",
                 f"127.0.0.1:{executor}", "--grpc-port", str(free_port())], env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stack.enter_context(stopped_at_end(executor_proc, "skyql cluster executor"))
            time.sleep(3)
            cluster = ["--cluster", f"df://127.0.0.1:{scheduler}"]
            per_field = ("SELECT field, count(*) AS n, count(DISTINCT star_id) AS stars, round(avg(mag), 6) AS mag "
                         "FROM measurements GROUP BY field ORDER BY field")
            embedded = rows(binary, "--catalog", remote, per_field, env=env)
            on_cluster = rows(binary, "--catalog", remote, *cluster, per_field, env=env)
            assert len(embedded) == 2 and embedded == on_cluster, (embedded, on_cluster)
            named = ["query", "--catalog", remote, "--format", "csv", "--named", "quarters_most_measurements"]
            assert run(binary, *named, env=env).stdout == run(binary, *named, *cluster, env=env).stdout
    for text in printed:
        assert KEY_ID not in text and SECRET not in text, "a credential in skyql's output"
    print(f"a catalogue on S3 on a loopback cluster: the embedded rows ({sum(int(r['n']) for r in embedded)} "
          f"measurements per field, quarters_most_measurements)")


def s3_from_configuration(binary, catalog, endpoint, ra0, dec0, cone_lsdb, work):
    """With no AWS_* variable in its environment, a service given the endpoint, the region,
    the key and the secret's file in its configuration's [s3] publishes the HATS catalogue
    on S3 ([[tables]]) and gives LSDB's cone; a secret file that is not there stops it with
    an error naming the file."""
    secret_file = work / "s3-secret"
    secret_file.write_text(SECRET + "\n")
    config = work / "serve-s3.toml"
    config.write_text(f"""[s3]
endpoint = "{endpoint}"
region = "us-east-1"
access_key_id = "{KEY_ID}"
secret_access_key_file = "{secret_file.name}"
allow_http = true

[[tables]]
name = "conf.stars"
path = "s3://{BUCKET}/hats/stars"
description = "the stars, as LSDB wrote them, on S3"
""")
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with open(work / "skyql-serve-s3-config.log", "w") as stderr, \
            served(binary, catalog, "--config", str(config), env=bare, stderr=stderr, log=printed) as url:
        adql = (f"SELECT star_id FROM conf.stars WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
                f"CIRCLE('ICRS', {ra0!r}, {dec0!r}, 0.3))")
        got = {str(r["star_id"]) for r in pyvo.dal.TAPService(f"{url}/tap").search(adql, maxrec=1000000)}
    assert got == cone_lsdb, (len(got), len(cone_lsdb))
    config.write_text(config.read_text().replace(secret_file.name, "no-such-secret"))
    err = run(binary, "serve", "--catalog", str(catalog), "--bind", "127.0.0.1:0", "--config", str(config),
              env=bare, ok=False).stderr
    assert "no-such-secret" in err and "secret_access_key_file" in err, err
    print(f"[s3] of the configuration, no AWS_* variable: TAP cone on S3 = LSDB's cone of {len(got)}; "
          "a missing secret file named")


def served_cones(binary, catalog, locations, ra0, dec0, env, work):
    """The star_id of the cone through TAP and SCS on the tables published from S3 and HTTP."""
    import xml.etree.ElementTree as ET

    with open(work / "skyql-serve.log", "w") as stderr, \
            served(binary, catalog, "--table", f"s3.stars={locations['s3']}", "--table",
                   f"web.stars={locations['http']}", env=env, stderr=stderr, log=printed) as url:
        tap = pyvo.dal.TAPService(f"{url}/tap")
        out = {}
        ns = "{http://www.ivoa.net/xml/VOTable/v1.3}"
        for table in ("s3.stars", "web.stars"):
            adql = (f"SELECT star_id FROM {table} WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
                    f"CIRCLE('ICRS', {ra0!r}, {dec0!r}, 0.3))")
            out[f"TAP {table}"] = {str(r["star_id"]) for r in tap.search(adql, maxrec=1000000)}
            votable = requests.get(f"{url}/scs/{table}", params={"RA": ra0, "DEC": dec0, "SR": 0.3, "VERB": 3},
                                   timeout=60).text
            printed.append(votable)
            root = ET.fromstring(votable)
            fields = [f.get("name") for f in root.iter(f"{ns}FIELD")]
            k = fields.index("star_id")
            out[f"/scs/{table}"] = {tr.findall(f"{ns}TD")[k].text for tr in root.iter(f"{ns}TR")}
        return out


if __name__ == "__main__":
    if sys.argv[1] == "--cluster":
        cluster_on_s3(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
