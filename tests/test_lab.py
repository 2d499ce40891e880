"""cybertriage.lab's throwaway PostgreSQL and Redis servers, checked with the packages' own clients (psql, pg_isready,
redis-cli) and with SQLite's sqlite3 CLI, never with cybertriage's code."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cybertriage import lab
from cybertriage.errors import LabError
from tests.conftest import REPO


def psql(url: str, sql: str) -> str:
    done = subprocess.run(["psql", url, "-X", "-At", "-c", sql], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def redis_cli(url: str, *words: str) -> str:
    done = subprocess.run(["redis-cli", "-u", url, *words], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def redis_run_id(url: str) -> str:
    [run_id] = re.findall(r"^run_id:(\w+)", redis_cli(url, "info", "server"), re.MULTILINE)
    return run_id


def test_postgres_sorts_text_bytewise_as_sqlite_does(lab_postgres: lab.LocalPostgres) -> None:
    assert psql(lab_postgres.url, "SHOW lc_collate") == "C"
    assert psql(lab_postgres.url, "SHOW server_encoding") == "UTF8"
    words = ["b", "B", "a", "é", "Z", "_", "ab", "A b", "ä"]
    query = ("SELECT column1 FROM (VALUES " + ", ".join(f"('{word}')" for word in words) + ") AS v ORDER BY column1")
    sqlite = subprocess.run(["sqlite3", ":memory:", query], capture_output=True, text=True, timeout=30, check=True)
    assert psql(lab_postgres.url, query).splitlines() == sqlite.stdout.splitlines()


def test_postgres_is_the_cybertriage_superuser_on_loopback_with_fsync(lab_postgres: lab.LocalPostgres) -> None:
    url = urlsplit(lab_postgres.url)
    assert (url.scheme, url.username, url.hostname, url.path) == ("postgresql", "cybertriage", "127.0.0.1", "/cybertriage")
    assert subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(url.port)], timeout=30).returncode == 0
    assert psql(lab_postgres.url, "SELECT 1") == "1"
    assert psql(lab_postgres.url, "SELECT current_user, current_database(), rolsuper FROM pg_roles "
                                  "WHERE rolname = current_user") == "cybertriage|cybertriage|t"
    assert psql(lab_postgres.url, "SHOW listen_addresses") == "127.0.0.1"
    assert psql(lab_postgres.url, "SHOW fsync") == "on"  # the benchmark measures a server that flushes


def test_redis_stores_and_answers(lab_redis: lab.LocalRedis) -> None:
    assert re.fullmatch(r"redis://127\.0\.0\.1:\d+/0", lab_redis.url)
    assert redis_cli(lab_redis.url, "set", "examiner", "alice") == "OK"
    assert redis_cli(lab_redis.url, "get", "examiner") == "alice"
    assert redis_cli(lab_redis.url, "config", "get", "appendonly").splitlines() == ["appendonly", "yes"]
    assert redis_cli(lab_redis.url, "config", "get", "bind").splitlines() == ["bind", "127.0.0.1"]


def test_a_redis_restart_keeps_its_port_and_its_data(lab_redis: lab.LocalRedis) -> None:
    url = lab_redis.url
    assert redis_cli(url, "set", "unit:7", "in flight") == "OK"
    before = redis_run_id(url)
    lab_redis.restart()
    assert lab_redis.url == url
    assert redis_run_id(url) != before  # a new server process, not the old one still answering
    assert redis_cli(url, "get", "unit:7") == "in flight"  # replayed from the append-only file


def test_redis_missing_from_path_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(LabError) as raised:
        lab.start_redis(tmp_path / "lab")
    assert "\n" not in str(raised.value)
    assert str(raised.value) == "redis-server not found on PATH: install the Debian package redis-server"
    assert not (tmp_path / "lab").exists()


def test_postgres_missing_from_its_bindir_is_one_clear_line(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "initdb").write_text("#!/bin/sh\nexit 0\n")  # not executable, as after a half-removed package
    with pytest.raises(LabError) as raised:
        lab.start_postgres(tmp_path / "lab", bindir=fake)
    assert "\n" not in str(raised.value)
    assert str(raised.value) == f"initdb not found in {fake}: install the Debian package postgresql"
    assert not (tmp_path / "lab").exists()


@pytest.mark.parametrize("name", ["postgres", "redis"])
def test_a_server_never_starts_over_an_old_folder(tmp_path: Path, name: str) -> None:
    (tmp_path / name).mkdir()
    start = lab.start_postgres if name == "postgres" else lab.start_redis
    with pytest.raises(LabError, match="already exists: a lab server starts in a new folder"):
        start(tmp_path)
    assert list((tmp_path / name).iterdir()) == []


def test_python_m_lab_prints_the_urls_and_stops_both_on_sigterm(tmp_path: Path) -> None:
    lab_process = subprocess.Popen([sys.executable, "-m", "cybertriage.lab", "--root", str(tmp_path / "lab")],
                                   cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert lab_process.stdout is not None
        lines = [lab_process.stdout.readline(), lab_process.stdout.readline()]
        exports = dict(shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export "))
        assert sorted(exports) == ["CYBERTRIAGE_BROKER", "CYBERTRIAGE_STORE"], lines
        assert psql(exports["CYBERTRIAGE_STORE"], "SELECT current_database()") == "cybertriage"
        assert redis_cli(exports["CYBERTRIAGE_BROKER"], "ping") == "PONG"
    finally:
        lab_process.send_signal(signal.SIGTERM)
        _, log = lab_process.communicate(timeout=60)
    assert lab_process.returncode == 0, log
    store, broker = urlsplit(exports["CYBERTRIAGE_STORE"]), urlsplit(exports["CYBERTRIAGE_BROKER"])
    assert subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(store.port)], timeout=30).returncode != 0
    gone = subprocess.run(["redis-cli", "-u", exports["CYBERTRIAGE_BROKER"], "ping"], capture_output=True, text=True,
                          timeout=30)
    assert gone.stdout.strip() != "PONG" and f"127.0.0.1:{broker.port}" in gone.stderr + gone.stdout
    [data] = re.findall(r"PostgreSQL \d+ on \S+ \(data: (.+)\)$", log, re.MULTILINE)
    assert not Path(data, "postmaster.pid").exists()
