"""The core sets the offline switches once, before any plugin is imported; no plugin sets them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from lmops_core.offline import OFFLINE_DEFAULTS
from tests.conftest import run_python

ROOT = Path(__file__).resolve().parents[2]

#: Loads every installed plugin in a fresh interpreter. A finder on sys.meta_path records,
#: the first time each plugin package is imported, which switches were set at that moment.
_PROBE = r"""
import json, os, sys
from lmops_core.offline import OFFLINE_DEFAULTS

seen = {}

class Watch:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top.startswith("lmops_") and top != "lmops_core" and top not in seen:
            seen[top] = {k: os.environ.get(k) for k in OFFLINE_DEFAULTS}
        return None

before = {k: os.environ.get(k) for k in OFFLINE_DEFAULTS}
sys.meta_path.insert(0, Watch())
from lmops_core.plugins import load_plugins
from lmops_core.settings import get_settings

host = load_plugins(get_settings())
print(json.dumps({"before": before, "at_import": seen,
                  "after": {k: os.environ.get(k) for k in OFFLINE_DEFAULTS},
                  "plugins": [p.name for p in host.plugins],
                  "failures": [str(f) for f in host.failures]}))
"""


def _clean_env(home: Path, **user: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_DEFAULTS}
    env.update({"LMOPS_HOME": str(home), **user})
    return env


def _probe(env: dict[str, str]) -> dict[str, object]:
    done = run_python(_PROBE, env=env)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_loading_plugins_sets_every_switch_before_a_plugin_is_imported(tmp_path: Path) -> None:
    out = _probe(_clean_env(tmp_path))
    assert out["failures"] == []
    assert out["before"] == dict.fromkeys(OFFLINE_DEFAULTS)  # the subprocess starts clean
    assert out["after"] == OFFLINE_DEFAULTS
    at_import = out["at_import"]
    assert isinstance(at_import, dict)
    # Every first-party plugin package was imported, and each saw all switches set already.
    assert {"lmops_hf", "lmops_onnx", "lmops_presidio", "lmops_evidently", "lmops_lm_eval"} <= set(
        at_import
    )
    for package, switches in at_import.items():
        assert switches == OFFLINE_DEFAULTS, package


def test_a_value_the_user_set_is_kept(tmp_path: Path) -> None:
    mine = {
        "HF_HUB_OFFLINE": "0",
        "DO_NOT_TRACK": "",
        "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "file:///srv/psl/public_suffix_list.dat",
    }
    out = _probe(_clean_env(tmp_path, **mine))
    after = out["after"]
    assert isinstance(after, dict)
    assert after == {**OFFLINE_DEFAULTS, **mine}


_SETS_ENV = re.compile(
    r"environ\.setdefault|environ\[[^\]]+\]\s*=(?!=)|environ\.update|putenv"
    r"|set_offline_defaults\s*\("
)


def test_no_plugin_module_sets_the_switches_itself() -> None:
    sources = sorted(ROOT.glob("plugins/*/src/**/*.py"))
    assert len(sources) > 40  # the glob found the plugins
    offenders = []
    for path in sources:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if _SETS_ENV.search(code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
