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
def served(binary, catalog):
    """The base URL (`http://127.0.0.1:PORT`) of `skyql serve` on `catalog`."""
    proc = subprocess.Popen([binary, "serve", "--catalog", str(catalog), "--bind", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"at (http://\S+)/tap", line)
        if not m:
            raise SystemExit(f"skyql serve did not start: {line!r}")
        threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()
        yield m.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit("skyql serve did not stop within 20 s of SIGTERM")
