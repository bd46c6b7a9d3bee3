"""Access rights as real clients see them (docs/ACCESS.md): a copy of the demo catalogue
with one field embargoed for the group `eros`; pyvo anonymous, with HTTP Basic through
`pyvo.auth.AuthSession` + `CredentialStore.set_password`, and with a bearer token in a
requests session; the counts each gets equal the CLI's counts of the rows each may see;
an asynchronous job of one user is not found by another; nothing secret in the log;
`stilts taplint` on the anonymous side finds 0 errors and 0 warnings. Then HTTPS served
directly with a self-signed certificate (`--tls-cert`, `--tls-key`): curl and pyvo,
trusting that certificate, sign in and count the rows; plain HTTP to the port fails.

Usage: check_access.py SKYQL_BINARY DEMO_CATALOG WORK_DIR
"""

import csv
import io
import os
import re
import shutil
import subprocess
import sys

import pyvo
import requests
from pyvo.auth import AuthSession

from served import served

problems = []


def problem(text):
    print(f"PROBLEM: {text}")
    problems.append(text)


def cli(binary, *args, stdin=None):
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True,
                          check=True).stdout


def cli_count(binary, catalog, sql):
    out = cli(binary, "query", "--catalog", catalog, "--format", "csv", sql)
    return int(list(csv.DictReader(io.StringIO(out)))[0]["n"])


def check_https(binary, catalog, config, work, password, everything, visible):
    cert, key = os.path.join(work, "access-cert.pem"), os.path.join(work, "access-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    proc = subprocess.Popen([binary, "serve", "--catalog", catalog, "--bind", "127.0.0.1:0",
                             "--config", config, "--tls-cert", cert, "--tls-key", key],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"at (https://\S+)/tap", line)
        if not m:
            problem(f"skyql serve --tls-cert did not start on https: {line!r}")
            return
        url = m.group(1)
        query = "LANG=ADQL&RESPONSEFORMAT=csv&QUERY=SELECT+COUNT(*)+AS+n+FROM+eros2.measurements"
        out = subprocess.run(["curl", "-sS", "--fail", "--cacert", cert, "-u", f"alice:{password}",
                              f"{url}/tap/sync?{query}"], capture_output=True, text=True)
        if out.returncode != 0 or out.stdout.split() != ["n", str(everything)]:
            problem(f"curl over HTTPS as alice: {out.returncode} {out.stdout!r} {out.stderr!r}")
        plain = subprocess.run(["curl", "-sS", "--max-time", "5", url.replace("https://", "http://") + "/tap/availability"],
                               capture_output=True, text=True)
        if plain.returncode == 0 and "<vosi:available>" in plain.stdout:
            problem("the HTTPS port answered plain HTTP")
        session = AuthSession()
        session.credentials.set_password("alice", password)
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE of the environment override a
        # session's `verify`: these sessions trust only the test's certificate.
        for method_session in session.credentials.credentials.values():
            method_session.verify = cert
            method_session.trust_env = False
        got = int(pyvo.dal.TAPService(f"{url}/tap", session=session).search(
            "SELECT COUNT(*) AS n FROM eros2.measurements")["n"][0])
        if got != everything:
            problem(f"pyvo over HTTPS as alice counts {got}, the CLI {everything}")
        anonymous = requests.Session()
        anonymous.verify = cert
        anonymous.trust_env = False
        got = int(pyvo.dal.TAPService(f"{url}/tap", session=anonymous).search(
            "SELECT COUNT(*) AS n FROM eros2.measurements")["n"][0])
        if got != visible:
            problem(f"pyvo over HTTPS anonymous counts {got}, the CLI {visible}")
        print(f"HTTPS (self-signed, --tls-cert): curl and pyvo as alice {everything}, anonymous {visible}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main():
    binary, demo, work = sys.argv[1:4]
    catalog = os.path.join(work, "access-catalog")
    shutil.rmtree(catalog, ignore_errors=True)
    shutil.copytree(demo, catalog, symlinks=True)
    out = cli(binary, "query", "--catalog", catalog, "--format", "csv",
              "SELECT min(field) AS f FROM stars")
    field = list(csv.DictReader(io.StringIO(out)))[0]["f"]
    cli(binary, "catalog", "protect", "--catalog", catalog, "--where", f"field = '{field}'",
        "--until", "2099-01-01", "--groups", "eros")
    users = os.path.join(work, "access-users.toml")
    if os.path.exists(users):
        os.remove(users)
    password = "alice-pyvo-secret"
    cli(binary, "users", "add", "alice", "--groups", "eros", "--file", users, stdin=password + "\n")
    cli(binary, "users", "add", "bob", "--groups", "macho", "--file", users, stdin="bob-pyvo-secret\n")
    token = cli(binary, "users", "token", "alice", "--expires", "1d", "--file", users).strip()
    config = os.path.join(work, "access-service.toml")
    with open(config, "w") as f:
        f.write(f'users_file = "{users}"\n')

    everything = cli_count(binary, catalog, "SELECT count(*) AS n FROM measurements")
    visible = cli_count(binary, catalog,
                        f"SELECT count(*) AS n FROM measurements WHERE field <> '{field}'")
    if everything == visible or visible == 0:
        problem(f"the field {field} does not split the measurements ({visible} of {everything})")
    adql = "SELECT COUNT(*) AS n FROM eros2.measurements"
    log = []
    with served(binary, catalog, "--config", config, log=log) as url:
        anonymous = pyvo.dal.TAPService(f"{url}/tap")
        got = int(anonymous.search(adql)["n"][0])
        if got != visible:
            problem(f"anonymous pyvo counts {got}, the CLI's visible rows {visible}")

        basic = AuthSession()
        basic.credentials.set_password("alice", password)
        alice = pyvo.dal.TAPService(f"{url}/tap", session=basic)
        got = int(alice.search(adql)["n"][0])
        if got != everything:
            problem(f"alice (Basic through AuthSession) counts {got}, the CLI {everything}")
        job = alice.submit_job(adql)
        job.run().wait(timeout=60)
        if job.phase != "COMPLETED" or int(job.fetch_result()["n"][0]) != everything:
            problem(f"alice's async job: {job.phase}")

        bearer = requests.Session()
        bearer.headers["Authorization"] = f"Bearer {token}"
        got = int(pyvo.dal.TAPService(f"{url}/tap", session=bearer).search(adql)["n"][0])
        if got != everything:
            problem(f"the bearer token counts {got}, the CLI {everything}")

        bob = requests.Session()
        bob.auth = ("bob", "bob-pyvo-secret")
        got = int(pyvo.dal.TAPService(f"{url}/tap", session=bob).search(adql)["n"][0])
        if got != visible:
            problem(f"bob (outside the group) counts {got}, the CLI's visible rows {visible}")
        r = bob.get(job.url)
        if r.status_code != 404:
            problem(f"bob reading alice's job: HTTP {r.status_code}")
        if job.job_id in bob.get(f"{url}/tap/async").text:
            problem("bob's job list shows alice's job")
        job.delete()

        taplint = subprocess.run(["stilts", "taplint", f"tapurl={url}/tap"],
                                 capture_output=True, text=True)
        totals = [l for l in taplint.stdout.splitlines() if l.startswith("Totals:")]
        print(f"taplint (anonymous, with users and rules): {totals[0] if totals else 'no totals line'}")
        if not totals or "Errors: 0; Warnings: 0;" not in totals[0]:
            problem("taplint reports errors or warnings on the service with users")
            print("\n".join(l for l in taplint.stdout.splitlines() if l[:2] in ("W-", "E-")))
        # Failures may only be the optional feature this service does not offer (ObsLocTAP).
        for l in taplint.stdout.splitlines():
            if l.startswith("F-") and not l.startswith("F-LOC-"):
                problem(f"taplint failure: {l}")
    text = "".join(log)
    if password in text or token in text:
        problem("a password or a token reached the service's log")
    check_https(binary, catalog, config, work, password, everything, visible)
    if problems:
        sys.exit(f"{len(problems)} problem(s)")
    print(f"access: anonymous and bob {visible}, alice (Basic, async) and her token {everything} "
          f"measurements, as the CLI counts them; jobs isolated; no secret in the log")


if __name__ == "__main__":
    main()
