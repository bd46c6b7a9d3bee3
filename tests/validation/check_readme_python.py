"""The Python lines of the README's ten-minute tour and of its section on the VO service,
run as written against `skyql serve` on the default demo survey (only the service's
address changed: the server listens on a free loopback port here, not on 8080), and their
output checked.

Usage: check_readme_python.py SKYQL DEMO_DIR
"""

import contextlib
import io
import re
import sys
from pathlib import Path

from served import served


def tour_python(readme):
    start = readme.index("\n## A ten-minute tour\n")
    end = readme.index("\n## ", start + 1)
    blocks = re.findall(r"```python\n(.*?)```", readme[start:end], re.S)
    if len(blocks) != 1:
        raise SystemExit(f"expected one python block in the tour, found {len(blocks)}")
    return blocks[0]


def service_python(readme):
    """The Python blocks of the README's section on the VO service, in order."""
    start = readme.index("\n## The catalogue as a VO service\n")
    end = readme.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", readme[start:end], re.S)


def main():
    binary, demo = sys.argv[1], sys.argv[2]
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = tour_python(readme)
    out = io.StringIO()
    with served(binary, Path(demo) / "catalog") as base:
        with contextlib.redirect_stdout(out):
            exec(compile(code.replace("http://127.0.0.1:8080", base), "README", "exec"), {})
    text = out.getvalue()
    print(text)
    problems = []
    if "star_id" not in text or "mean_mag_r" not in text:
        problems.append("the TAP result is not printed with its columns")
    cone = re.search(r"^(\d+) stars within 2 arcminutes$", text, re.M)
    if not cone or int(cone.group(1)) < 3:
        problems.append("the cone search around lm0353k532 found fewer than 3 stars")
    rows = [l for l in text.splitlines() if re.match(r"^\s*lm\d{4}[klmn]\d+", l)]
    if len(rows) != 5:
        problems.append(f"TOP 5 printed {len(rows)} rows")
    # The section on the VO service, its blocks run one after the other as a reader would.
    out = io.StringIO()
    with served(binary, Path(demo) / "catalog") as base:
        with contextlib.redirect_stdout(out):
            namespace = {}
            for block in service_python(readme):
                exec(compile(block.replace("http://127.0.0.1:8080", base), "README", "exec"),
                     namespace)
    text = out.getvalue()
    print(text)
    if "['image', 'timeseries']" not in text:
        problems.append("the ObsCore search did not find both images and light curves")
    if "3 of 3 uploaded positions matched their star" not in text:
        problems.append("the uploaded positions did not all match their stars")
    for p in problems:
        print("PROBLEM:", p)
    if problems:
        sys.exit(1)
    print("the README's Python: ok")


if __name__ == "__main__":
    main()
