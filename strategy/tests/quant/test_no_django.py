"""strategy.quant is pure: importing it pulls in neither Django nor anything beyond numpy and scipy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# Prints, for every module the import adds, the top-level package it was loaded from when that is
# an installed (site-packages) distribution. In-memory helper modules (Cython runtimes) have no
# file and stdlib modules live outside site-packages, so neither shows up.
_PROBE = """
import json, sys
import numpy, scipy.special, scipy.stats, scipy.optimize  # their own optional deps (numpy.f2py may load charset_normalizer) are theirs, not ours
from pathlib import Path
import importlib, pkgutil
before = set(sys.modules)
import strategy.quant
for info in pkgutil.iter_modules(strategy.quant.__path__):
    importlib.import_module("strategy.quant." + info.name)
packages = set()
for name in set(sys.modules) - before:
    origin = getattr(sys.modules[name], "__file__", None) or ""
    parts = Path(origin).parts
    if "site-packages" in parts:
        packages.add(parts[parts.index("site-packages") + 1])
print(json.dumps({"django": any(n == "django" or n.startswith("django.") for n in sys.modules),
                  "packages": sorted(packages)}))
"""


def test_importing_quant_loads_no_django_and_only_numpy_and_scipy() -> None:
    # A fresh interpreter: this test process may already hold Django from other apps' tests.
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["django"] is False
    assert set(report["packages"]) <= {"numpy", "numpy.libs", "scipy", "scipy.libs"}, report["packages"]


# The backtest engine's pure parts (phase 1 and 2, settlement, metrics, the codec) and the live
# analytics wrappers they call: no Django either, whatever else they read data with.
_ENGINE_PROBE = """
import json, sys, importlib, pkgutil
import backtests.engine, strategy.quant
for pkg in (strategy.quant, backtests.engine):
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(pkg.__name__ + "." + info.name)
for name in ("snapshots.analytics", "snapshots.expiry_selection", "snapshots.market_calendar", "backtests.data.store"):
    importlib.import_module(name)
print(json.dumps({"django": sorted(n for n in sys.modules if n == "django" or n.startswith("django.")),
                  "apps": sorted(n for n in sys.modules if n.split(".")[0] in ("execution", "mlmodels", "spx_site")
                                 or (n.split(".")[0] in ("snapshots", "strategy", "backtests")
                                     and n.endswith((".models", ".services", ".selectors"))))}))
"""


def test_the_decision_core_and_the_engine_load_no_django_and_no_models() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _ENGINE_PROBE], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"django": [], "apps": []}
