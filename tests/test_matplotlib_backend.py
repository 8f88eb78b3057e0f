"""Importing infovit (in a notebook, say) must leave matplotlib's backend as the user set it."""

from __future__ import annotations

import os
import subprocess
import sys

_SCRIPT = """
import importlib, pkgutil
import matplotlib
matplotlib.use("svg")  # the user's choice, made before infovit is imported
import infovit
names = [m.name for m in pkgutil.walk_packages(infovit.__path__, "infovit.")]
for name in names:
    if name.startswith(("infovit.cli.", "infovit.__main__")):
        continue  # entry points, not libraries
    importlib.import_module(name)
assert len(names) > 40, names
print(matplotlib.get_backend())
"""


def test_importing_infovit_keeps_the_backend() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "svg"
