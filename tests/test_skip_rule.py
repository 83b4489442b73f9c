"""The one rule for tests whose machine service is missing, and the skip summary .ci/run prints."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ALLOW_SKIP_SERVICES, ROOT

NEEDS_A_SERVICE = '''
from tests.conftest import service_missing


def test_needs_a_service():
    service_missing("Example service at 127.0.0.1:1", "ConnectionError")


def test_needs_nothing():
    assert True
'''


def run_pytest(tmp_path, **env: str) -> tuple[subprocess.CompletedProcess, str]:
    """pytest on a test whose service is missing, as `make test` runs it; then .ci/skips.py on its report."""
    (tmp_path / "test_example.py").write_text(NEEDS_A_SERVICE, encoding="utf-8")
    report = tmp_path / "junit.xml"
    environment = {k: v for k, v in os.environ.items() if k != ALLOW_SKIP_SERVICES}
    environment.update(PYTHONPATH=str(ROOT), **env)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-ra", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         f"--junitxml={report}", str(tmp_path / "test_example.py")],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300,
    )
    skips = subprocess.run([sys.executable, str(ROOT / ".ci" / "skips.py"), str(report)],
                           capture_output=True, text=True, timeout=60, check=True)
    return done, skips.stdout


def test_a_missing_service_fails_the_run(tmp_path):
    done, skips = run_pytest(tmp_path)
    assert done.returncode == 1, done.stdout
    assert "1 failed, 1 passed" in done.stdout
    assert "Example service at 127.0.0.1:1 is not available (ConnectionError)" in done.stdout
    assert f"set {ALLOW_SKIP_SERVICES}=1" in done.stdout
    assert skips.splitlines() == ["skipped tests: 0"]


def test_the_explicit_opt_out_turns_it_into_a_skip_that_is_counted_with_its_reason(tmp_path):
    done, skips = run_pytest(tmp_path, **{ALLOW_SKIP_SERVICES: "1"})
    assert done.returncode == 0, done.stdout
    assert "1 passed, 1 skipped" in done.stdout
    assert skips.splitlines() == [
        "skipped tests: 1",
        f"  1 × Example service at 127.0.0.1:1 is not available (ConnectionError); {ALLOW_SKIP_SERVICES}=1",
    ]
    # Any other value is not the opt-out: `CI=` or `=true` must not hide a missing service by accident.
    done, _ = run_pytest(tmp_path, **{ALLOW_SKIP_SERVICES: "true"})
    assert done.returncode == 1, done.stdout


def test_the_skip_summary_reports_a_missing_report(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / ".ci" / "skips.py"), str(tmp_path / "none.xml")],
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.startswith("skipped tests: unknown")
