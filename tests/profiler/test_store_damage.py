"""A damaged results database still serves: undecodable rows are listed and left out, a broken
file is refused at open with the way out, `ortkit db check` / `ortkit db recover` salvage it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.cli import cli
from ortkit.profiler import ResultStore, StoreError, check_store, recover_store
from tests.profiler.test_store import _ok, _spec


def _store(path: Path, rows: int = 40) -> Path:
    with ResultStore(path) as store:
        for batch in range(1, rows + 1):
            store.add(_ok(_spec(batch=batch)))
    return path


def _poke(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql)
    conn.close()


def _truncate(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)


def test_invalid_utf8_in_one_row_leaves_the_rest_readable(tmp_path: Path) -> None:
    db = _store(tmp_path / "r.db", rows=3)
    _poke(db, "UPDATE results SET metrics = CAST(X'7b22ff' AS TEXT) WHERE batch = 3")
    with ResultStore(db, readonly=True) as store:
        rows = store.results()
        assert sorted(r.spec.batch for r in rows) == [1, 2]
        assert [reason for _, reason in store.damaged] == ["ValueError: column 'metrics' is not valid UTF-8"]
        assert store.get(_spec(batch=3).key(rows[0].environment.key)) is None


@pytest.mark.parametrize("table", ["environments", "accuracy"])
def test_invalid_utf8_in_side_tables_is_left_out(tmp_path: Path, table: str) -> None:
    db = _store(tmp_path / "r.db", rows=1)
    with ResultStore(db) as store:
        store.put_accuracy("ab" * 32, {"metric": 0.5})
    _poke(db, f"UPDATE {table} SET data = CAST(X'7bff7d' AS TEXT)")
    with ResultStore(db, readonly=True) as store:
        assert store.accuracies() == ({} if table == "accuracy" else {"ab" * 32: {"metric": 0.5}})
        results = store.results()
        assert len(results) == (0 if table == "environments" else 1)


def test_truncated_file_is_refused_at_open_with_the_recovery_named(tmp_path: Path) -> None:
    db = _store(tmp_path / "r.db")
    _truncate(db)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"is damaged .*ortkit db recover"):
            ResultStore(db, readonly=readonly)


def test_check_names_sound_damaged_and_broken_files(tmp_path: Path) -> None:
    db = _store(tmp_path / "r.db", rows=3)
    assert check_store(db).ok and check_store(db).rows == 3
    _poke(db, "UPDATE results SET samples_ms = 'not json' WHERE batch = 2")
    found = check_store(db)
    assert not found.ok and found.rows == 2 and len(found.damaged) == 1 and not found.problems
    big = _store(tmp_path / "big.db")
    _truncate(big)
    broken = check_store(big)
    assert broken.problems and not broken.ok
    with pytest.raises(StoreError, match="not an SQLite file"):
        check_store(_text_file(tmp_path))


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_text("hello")
    return path


@pytest.mark.parametrize("use_cli", [True, False])
def test_recover_salvages_the_readable_rows_into_a_new_file(tmp_path: Path, use_cli: bool) -> None:
    db = _store(tmp_path / "r.db", rows=120)
    _truncate(db)
    before = db.read_bytes()
    done = recover_store(db, tmp_path / "new.db", use_cli=use_cli)
    assert db.read_bytes() == before  # the damaged file is only read
    # Some sqlite3 builds lack the sqlite_dbpage table `.recover` needs: then the copy is row by row.
    assert done.method in (("sqlite3 .recover", "row by row") if use_cli and _has_sqlite3() else ("row by row",))
    assert 0 < done.results < 120 and dict(done.copied)["environments"] == 1
    with ResultStore(done.out) as store:  # a sound, writable results database again
        assert len(store.results()) == done.results
        store.add(_ok(_spec(batch=999)))
    with pytest.raises(StoreError, match="already exists"):
        recover_store(db, tmp_path / "new.db")


def test_recover_keeps_undecodable_rows_as_damaged_not_repaired(tmp_path: Path) -> None:
    db = _store(tmp_path / "r.db", rows=3)
    _poke(db, "UPDATE results SET message = CAST(X'ff' AS TEXT) WHERE batch = 1")
    done = recover_store(db, use_cli=False)
    assert done.out.endswith("r.recovered.db") and done.results == 2 and done.damaged == 1


def _has_sqlite3() -> bool:
    import shutil

    return shutil.which("sqlite3") is not None


def test_db_commands(tmp_path: Path) -> None:
    db = _store(tmp_path / "r.db", rows=60)
    runner = CliRunner()
    ok = runner.invoke(cli, ["db", "check", str(db)])
    assert ok.exit_code == 0 and "60 result(s) readable, 0 damaged" in ok.output
    _truncate(db)
    report = runner.invoke(cli, ["report", str(db), "--out", str(tmp_path / "rep")])
    assert report.exit_code == 1 and "ortkit db recover" in report.output and "Traceback" not in report.output
    bad = runner.invoke(cli, ["db", "check", str(db)])
    assert bad.exit_code == 1 and "damaged file" in bad.output
    fixed = runner.invoke(cli, ["db", "recover", str(db), "--out", str(tmp_path / "fixed.db")])
    assert fixed.exit_code == 0 and "recovered into" in fixed.output
    assert runner.invoke(cli, ["db", "check", str(tmp_path / "fixed.db")]).exit_code == 0
    missing = runner.invoke(cli, ["db", "check", str(tmp_path / "none.db")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_report_on_an_empty_writable_file_says_it_holds_no_results(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    done = CliRunner().invoke(cli, ["report", str(empty), "--out", str(tmp_path / "rep")])
    assert done.exit_code == 1 and "holds no results" in done.output and "read-only" not in done.output


def test_profile_on_a_truncated_store_fails_at_once_instead_of_resuming(tmp_path: Path, build) -> None:
    model = build.matmul(tmp_path / "mm.onnx")
    db = _store(tmp_path / "r.db")
    _truncate(db)
    done = CliRunner().invoke(cli, ["profile", str(model), "--batch", "1,2,3", "--db", str(db)])
    assert done.exit_code == 1 and "is damaged" in done.output and "resumed" not in done.output, done.output


def test_a_schema_name_that_is_not_utf8_is_a_damaged_file_not_a_unicode_error(tmp_path: Path) -> None:
    # Found by the store fuzzer: sqlite3 decodes SQLite's error message, which quotes the name.
    db = _store(tmp_path / "r.db", rows=2)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA writable_schema = ON")
    with conn:
        conn.execute("UPDATE sqlite_master SET name = CAST(X'6dff' AS TEXT), sql = 'CREATE TABLE (' WHERE name = 'meta'")
    conn.close()
    with pytest.raises(StoreError, match="is damaged"):
        ResultStore(db, readonly=True)
    assert check_store(db).problems
    with pytest.raises(StoreError):
        recover_store(db, use_cli=False)
