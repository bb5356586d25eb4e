"""Reports are written atomically: a write that fails midway (here a real EFBIG from a file-size
limit, as a full disk gives ENOSPC) leaves the previous file intact and no partial file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from ortkit.cli._main import cli

_SCRIPT = """
import resource, signal, sys
from pathlib import Path
from ortkit.report._report import write_atomically
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
try:
    write_atomically(Path(sys.argv[1]), b"x" * 1_000_000)
except OSError as error:
    print("failed", error.errno)
"""


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial_one(tmp_path: Path) -> None:
    target = tmp_path / "figure.png"
    target.write_bytes(b"old figure")
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(target)], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.startswith("failed"), done.stderr
    assert target.read_bytes() == b"old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]


def test_a_complete_write_replaces_the_file_with_the_usual_mode(tmp_path: Path) -> None:
    from ortkit.report._report import write_atomically

    target = tmp_path / "report.html"
    target.write_text("old")
    write_atomically(target, b"<html>new</html>")
    assert target.read_bytes() == b"<html>new</html>" and (target.stat().st_mode & 0o777) != 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_negative_threshold_is_a_usage_error(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    for bad in ("-1", "nan", "inf"):
        done = CliRunner().invoke(cli, ["compare", str(db), str(db), "--threshold", bad])
        assert done.exit_code == 2 and "--threshold must be a finite number >= 0" in done.output, done.output
