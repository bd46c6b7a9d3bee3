"""Access rights as real clients see them (docs/ACCESS.md): a copy of the demo catalogue
with one field embargoed for the group `eros`; pyvo anonymous, with HTTP Basic through
`pyvo.auth.AuthSession` + `CredentialStore.set_password`, and with a bearer token in a
requests session; the counts each gets equal the CLI's counts of the rows each may see;
an asynchronous job of one user is not found by another; nothing secret in the log;
`stilts taplint` finds 0 errors and 0 warnings both anonymous and signed in as alice
(Debian's STILTS 3.4-7 cannot sign in itself: a loopback proxy adds her Authorization
header to every request, and the service, configured with the proxy as its public URL,
sends taplint back through it). RS256 tokens of an OpenID Connect provider, signed here,
sign carol and dave in with their groups. The table `inputs` is granted to `eros`: pyvo's table
list and a query show it to alice and not to bob. Then HTTPS served
directly with a self-signed certificate (`--tls-cert`, `--tls-key`): curl and pyvo,
trusting that certificate, sign in and count the rows; plain HTTP to the port fails.

Usage: check_access.py SKYQL_BINARY DEMO_CATALOG WORK_DIR
"""

import base64
import csv
import http.client
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

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


class SigningProxy(http.server.ThreadingHTTPServer):
    """A loopback HTTP proxy to `target` (host:port, set once the service has started)
    adding `authorization` to every request it forwards."""

    def __init__(self, authorization):
        super().__init__(("127.0.0.1", 0), ForwardWithCredentials)
        self.authorization = authorization
        self.target = None


class ForwardWithCredentials(http.server.BaseHTTPRequestHandler):
    def forward(self):
        body = self.request_body()
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "authorization",
                                        "transfer-encoding", "content-length")}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        headers["Authorization"] = self.server.authorization
        upstream = http.client.HTTPConnection(self.server.target, timeout=120)
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    def request_body(self):
        """The request's body, sent with a length or in chunks (taplint's uploads)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    do_GET = do_POST = do_DELETE = do_HEAD = forward

    def log_message(self, *args):
        pass


def taplint(url, who):
    """Runs taplint on `url`; problems for any error, warning or failure (but ObsLocTAP's,
    an optional feature this service does not offer)."""
    run = subprocess.run(["stilts", "taplint", f"tapurl={url}/tap"], capture_output=True, text=True)
    totals = [l for l in run.stdout.splitlines() if l.startswith("Totals:")]
    print(f"taplint ({who}): {totals[0] if totals else 'no totals line'}")
    if not totals or "Errors: 0; Warnings: 0;" not in totals[0]:
        problem(f"taplint ({who}) reports errors or warnings on the service with users")
        print("\n".join(l for l in run.stdout.splitlines() if l[:2] in ("W-", "E-")))
    for l in run.stdout.splitlines():
        if l.startswith("F-") and not l.startswith("F-LOC-"):
            problem(f"taplint ({who}) failure: {l}")


def check_signed_in_taplint(binary, catalog, users, work, password):
    proxy = SigningProxy("Basic " + base64.b64encode(f"alice:{password}".encode()).decode())
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    public = f"http://127.0.0.1:{proxy.server_address[1]}"
    config = os.path.join(work, "access-service-proxied.toml")
    audit = os.path.join(work, "access-audit-proxied.jsonl")
    if os.path.exists(audit):
        os.remove(audit)
    with open(config, "w") as f:
        f.write(f'users_file = "{users}"\npublic_url = "{public}"\naudit_log = "{audit}"\n')
    log = []
    try:
        with served(binary, catalog, "--config", config, log=log) as url:
            # The service names the proxy as its URL, and where it listens itself.
            m = re.search(r"\(listening on http://([^)\s]+)\)", log[0])
            if url != public or not m:
                problem(f"skyql serve with public_url: {log[0]!r}")
                return
            proxy.target = m.group(1)
            alice = pyvo.dal.TAPService(f"{public}/tap")
            if "eros2.inputs" not in [t.name for t in alice.tables]:
                problem("through the signing proxy, alice's table list lacks eros2.inputs")
            taplint(public, "signed in as alice through a loopback proxy")
        # Every request taplint made reached the service as alice's.
        with open(audit) as f:
            users_seen = [json.loads(line)["user"] for line in f]
        if len(users_seen) < 20 or set(users_seen) != {"alice"}:
            problem(f"the audit log of the proxied taplint run: {len(users_seen)} requests, "
                    f"users {sorted(set(map(str, users_seen)))}")
        else:
            print(f"taplint signed in: {len(users_seen)} requests, every one alice's in the audit log")
    finally:
        proxy.shutdown()


def check_provider_tokens(binary, catalog, work, everything, visible):
    """RS256 tokens signed here with `cryptography` (an implementation of JWT signing
    independent of the service's), checked by the service against a JWKS file: carol in
    `eros` reads every row, dave in `macho` the visible ones, an expired token gets 401."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    big = lambda i: i.to_bytes((i.bit_length() + 7) // 8, "big")
    jwks = os.path.join(work, "access-jwks.json")
    with open(jwks, "w") as f:
        json.dump({"keys": [{"kty": "RSA", "kid": "ci", "alg": "RS256", "use": "sig",
                             "n": b64(big(numbers.n)), "e": b64(big(numbers.e))}]}, f)
    config = os.path.join(work, "access-service-jwt.toml")
    with open(config, "w") as f:
        f.write(f'[jwt]\njwks = "{jwks}"\nissuer = "https://sso.ci"\naudience = "skyql-ci"\n')

    def token(user, groups, seconds):
        now = int(time.time())
        header = {"alg": "RS256", "kid": "ci", "typ": "JWT"}
        claims = {"iss": "https://sso.ci", "aud": ["skyql-ci"], "sub": f"id-{user}",
                  "preferred_username": user, "groups": groups, "iat": now, "exp": now + seconds}
        signed = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signed + "." + b64(signature)

    def session(t):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {t}"
        return s

    adql = "SELECT COUNT(*) AS n FROM eros2.measurements"
    with served(binary, catalog, "--config", config) as url:
        for user, groups, expected in [("carol", ["/eros"], everything), ("dave", ["macho"], visible)]:
            got = int(pyvo.dal.TAPService(f"{url}/tap", session=session(token(user, groups, 300)))
                      .search(adql)["n"][0])
            if got != expected:
                problem(f"{user}'s provider token ({groups}) counts {got}, the CLI {expected}")
        r = session(token("carol", ["eros"], -300)).get(f"{url}/tap/tables")
        if r.status_code != 401 or "expired" not in r.text:
            problem(f"an expired provider token: HTTP {r.status_code} {r.text[:200]!r}")
    print(f"OpenID Connect tokens (RS256, signed by cryptography): carol in eros {everything}, "
          f"dave {visible}, expired 401")


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


def check_cookie_sign_in(url, password, adql, everything):
    """The IVOA AuthVO dance a client does: probe the capabilities (HEAD), read the
    `ivoa_cookie` challenge, sign in at its access_url with HTTP Basic, then give the
    cookie to pyvo's AuthSession (`set_cookie`), which sends it since the capabilities
    list ivo://ivoa.net/sso#cookie. Returns the cookie's value (to look for in the log)."""
    probe = requests.head(f"{url}/tap/capabilities")
    challenges = probe.raw.headers.getlist("WWW-Authenticate")
    found = [re.search(r'ivoa_cookie standard_id="([^"]+)", access_url="([^"]+)"', c)
             for c in challenges]
    found = [m for m in found if m]
    if probe.status_code != 200 or not found:
        problem(f"the capabilities' probe: HTTP {probe.status_code}, challenges {challenges}")
        return None
    standard, access_url = found[0].groups()
    if standard != "ivo://ivoa.net/sso#BasicAA" or access_url != f"{url}/login":
        problem(f"the ivoa_cookie challenge: {standard} at {access_url}")
    # The same place takes the password posted in a form (SSO's tls-with-password, as
    # STILTS posts it): its cookie counts alice's rows too.
    form = [m.group(2) for m in found if m.group(1) == "ivo://ivoa.net/sso#tls-with-password"]
    if form != [access_url]:
        problem(f"the tls-with-password challenge: {challenges}")
    else:
        posted = requests.post(form[0], data={"username": "alice", "password": password})
        cookies = dict(posted.cookies.items())
        counted = requests.post(f"{url}/tap/sync",
                                data={"LANG": "ADQL", "QUERY": adql, "RESPONSEFORMAT": "csv"},
                                cookies=cookies)
        rows = counted.text.splitlines()
        if posted.status_code != 200 or len(cookies) != 1 or rows[1:2] != [str(everything)]:
            problem(f"the form sign-in: HTTP {posted.status_code}, cookies {list(cookies)}, "
                    f"then {counted.status_code} {rows[:2]}")
    login = requests.get(access_url, auth=("alice", password))
    if login.status_code != 200 or len(login.cookies) != 1:
        problem(f"signing in at {access_url}: HTTP {login.status_code}, cookies {list(login.cookies.keys())}")
        return None
    name, value = next(iter(login.cookies.items()))
    session = AuthSession()
    session.credentials.set_cookie(name, value)
    service = pyvo.dal.TAPService(f"{url}/tap", session=session)
    got = int(service.search(adql)["n"][0])
    if got != everything:
        problem(f"alice with the sign-in cookie (AuthSession) counts {got}, the CLI {everything}")
    after = requests.post(f"{url}/logout", cookies={name: value})
    if after.status_code != 200:
        problem(f"logout: HTTP {after.status_code}")
    stale = requests.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": adql},
                          cookies={name: value})
    if stale.status_code != 401:
        problem(f"the cookie after logout: HTTP {stale.status_code}")
    print(f"cookie sign-in (AuthVO ivoa_cookie at {access_url}): alice counts {got}; "
          f"after logout HTTP {stale.status_code}")
    return value


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
    cli(binary, "catalog", "grant", "--catalog", catalog, "--table", "eros2.inputs", "--groups", "eros")
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

        cookie_value = check_cookie_sign_in(url, password, adql, everything)

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

        # The granted table: listed and read for alice, not there for bob.
        names = lambda service: [t.name for t in service.tables]
        if "eros2.inputs" not in names(alice):
            problem("alice's table list (pyvo) lacks eros2.inputs, granted to her group")
        bobs = pyvo.dal.TAPService(f"{url}/tap", session=bob)
        if "eros2.inputs" in names(bobs) or "eros2.stars" not in names(bobs):
            problem(f"bob's table list (pyvo): {names(bobs)}")
        try:
            bobs.search("SELECT COUNT(*) FROM eros2.inputs")
            problem("bob read eros2.inputs, granted to eros only")
        except pyvo.dal.DALQueryError as e:
            if "inputs" in str(e).replace("eros2.inputs", ""):
                problem(f"bob's error names the granted table: {e}")
        taplint(url, "anonymous, with users, rules and a grant")
    text = "".join(log)
    if password in text or token in text or (cookie_value and cookie_value in text):
        problem("a password, a token or a sign-in cookie reached the service's log")
    check_signed_in_taplint(binary, catalog, users, work, password)
    check_provider_tokens(binary, catalog, work, everything, visible)
    check_https(binary, catalog, config, work, password, everything, visible)
    if problems:
        sys.exit(f"{len(problems)} problem(s)")
    print(f"access: anonymous and bob {visible}, alice (Basic, async) and her token {everything} "
          f"measurements, as the CLI counts them; jobs isolated; no secret in the log")


if __name__ == "__main__":
    main()
