"""`skyql serve` on a free loopback port for the time of a `with` block, for the
validation scripts: its request log (standard output) is read to the end by a thread, so
that the server never waits on a full pipe, and it is stopped with SIGTERM at the end.
"""

import contextlib
import re
import signal
import subprocess
import threading


@contextlib.contextmanager
def stopped_at_end(proc, name):
    """`proc` for the time of a `with` block, then stopped with SIGTERM (killed, and the
    check failed, if it is still there 20 s later)."""
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit(f"{name} did not stop within 20 s of SIGTERM")


@contextlib.contextmanager
def served(binary, catalog, *more, env=None, stderr=None, log=None):
    """The base URL (`http://127.0.0.1:PORT`) of `skyql serve` on `catalog` with the
    arguments `more`; its log lines are appended to the list `log` when one is given."""
    proc = subprocess.Popen([binary, "serve", "--catalog", str(catalog), "--bind", "127.0.0.1:0", *more],
                            stdout=subprocess.PIPE, stderr=stderr, env=env, text=True)
    with stopped_at_end(proc, "skyql serve"):
        line = proc.stdout.readline()
        m = re.search(r"at (http://\S+)/tap", line)
        if not m:
            raise SystemExit(f"skyql serve did not start: {line!r}")
        kept = log if log is not None else []
        kept.append(line)
        threading.Thread(target=lambda: kept.extend(proc.stdout), daemon=True).start()
        yield m.group(1)
