"""The Makefile's installs: pinned by the lock files, and a failed install stops make.

These run the real Makefile in a scratch folder whose venv tools are stand-ins (a `pip` that
records its arguments and exits with a chosen status), so they prove how make reacts to pip,
not that PyPI serves the pinned versions (`make test` itself does that on every CI run).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

STAMPS = {".venv/.runtime": "requirements.lock",
          ".venv-lint/.installed": "deploy/requirements-lint.lock",
          ".venv-moto/.installed": "deploy/requirements-moto.lock"}


def _scratch(tmp_path: Path, pip_status: int) -> Path:
    root = tmp_path / "project"
    (root / "deploy").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "requirements.lock"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    for name in ("requirements-lint.txt", "requirements-lint.lock", "requirements-moto.txt",
                 "requirements-moto.lock"):
        shutil.copy(PROJECT_ROOT / "deploy" / name, root / "deploy" / name)
    for venv in (".venv", ".venv-lint", ".venv-moto"):
        bin_dir = root / venv / "bin"
        bin_dir.mkdir(parents=True)
        for tool in ("python", "checkov"):
            (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
            (bin_dir / tool).chmod(0o755)
        (bin_dir / "pip").write_text(
            f'#!/bin/sh\necho "$@" >> "{root}/pip-calls.log"\n'
            f'echo "ERROR: pretend resolution failure" >&2\nexit {pip_status}\n')
        (bin_dir / "pip").chmod(0o755)
    return root


def _make(root: Path, target: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", target], cwd=root, text=True,
                          capture_output=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("target", sorted(STAMPS))
def test_a_failed_install_stops_make(tmp_path, target):
    root = _scratch(tmp_path, pip_status=1)
    done = _make(root, target)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "pretend resolution failure" in done.stderr
    assert not (root / target).exists(), "a failed install must not be stamped as done"


@pytest.mark.parametrize("target", sorted(STAMPS))
def test_every_install_is_constrained_by_its_lock_file(tmp_path, target):
    root = _scratch(tmp_path, pip_status=0)
    done = _make(root, target)
    assert done.returncode == 0, done.stdout + done.stderr
    calls = (root / "pip-calls.log").read_text().splitlines()
    assert calls and all(f"-c {STAMPS[target]}" in call for call in calls), calls


def test_lock_files_pin_exact_versions_of_the_direct_dependencies():
    pins = {}
    for line in (PROJECT_ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not an exact pin"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    project = (PROJECT_ROOT / "pyproject.toml").read_text()
    direct = re.findall(r'^\s+"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?[<>=!~;"]', project, re.M)
    missing = sorted({re.sub(r"[-_.]+", "-", d).lower() for d in direct} - set(pins))
    assert not missing, f"not pinned in requirements.lock: {missing}"
