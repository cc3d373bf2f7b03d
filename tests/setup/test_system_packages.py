"""`make test` installs the system packages its tests drive (issue 11, item 1).

The installer script is run for real: as an unprivileged user without sudo it must stop in one line
naming the install command; on a machine that already has everything it must install nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "system-packages.sh"


def run(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(SCRIPT), *args]
    if user:
        cmd = [shutil.which("runuser") or "runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ, "PATH": "/usr/bin:/bin"})


def test_make_test_runs_the_installer_before_pytest():
    out = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lines = [ln for ln in out.splitlines() if ln.strip()]
    installer = next(i for i, ln in enumerate(lines) if "system-packages.sh" in ln)
    pytest_line = next(i for i, ln in enumerate(lines) if "pytest" in ln)
    assert installer < pytest_line
    assert "/usr/bin/chromium=chromium" in lines[installer] and "npm=npm" in lines[installer]  # axe-core for the a11y test


def test_ci_is_a_thin_call_of_make_test():
    body = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert any("make test" in ln for ln in body)
    assert not any("apt-get" in ln for ln in body)


def test_nothing_is_installed_when_everything_is_present():
    r = run("/bin/sh=this-package-does-not-exist")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root to drop to an unprivileged user")
def test_without_root_or_sudo_it_stops_in_one_line_naming_the_command():
    r = run("/nonexistent/bin/frobnicate=frobnicate-pkg", user="nobody")
    assert r.returncode != 0
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1, r.stderr
    assert "apt-get install -y frobnicate-pkg" in err[0] and err[0].startswith("error:")
