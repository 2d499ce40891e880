"""Lab scale: the command line's words for a case several workstations share (scan --store/--broker, the
`worker` command), and throwaway PostgreSQL and Redis servers on this machine, for the tests and `make lab`.

Both are the Debian packages' own programs (postgresql, redis-server), started on free ports of 127.0.0.1 with
their data and logs in a folder the caller names, and stopped by the caller. Nothing here speaks either
server's protocol: the case store and the workers bring their own clients; this module only starts, checks (with
the packages' pg_isready and redis-cli) and stops.

`python -m cybertriage.lab --root DIR` starts both, prints the shell lines that point cybertriage at them, and
stops both on Ctrl-C or SIGTERM. With `--workers N` it also starts N `cybertriage worker` processes, and with
`--case DIR EVIDENCE…` it scans the evidence through them into a case kept in the PostgreSQL server, writes its
report, and stops everything (`make lab`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from cybertriage.errors import LabError, UsageError

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
SUPERUSER = "cybertriage"  # the role initdb creates; the case store connects as it
DATABASE = "cybertriage"
POSTGRES_ACCOUNT = "postgres"  # the system user the Debian package creates: PostgreSQL refuses to run as root
POSTGRES_VERSIONS = Path("/usr/lib/postgresql")  # Debian's /usr/lib/postgresql/<major>/bin
START_SECONDS = 30  # how long a server may take to answer before it is given up
PORT_ATTEMPTS = 3  # a free port can be taken by someone else between our look and the server's bind


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now (the kernel's choice of an unused one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _client_environment() -> dict[str, str]:
    """This process's environment without libpq's PG* variables, which would redirect pg_ctl or a client elsewhere."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PG")}


def _last_line(text: str) -> str:
    """The line of a program's output or log that says why it failed: its last error, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if any(word in line for word in ("FATAL", "ERROR", "error", "Failed", "failed"))]
    return (errors or lines or ["no output"])[-1]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _run(command: list[str], what: str, cwd: Path, timeout: float = START_SECONDS) -> str:
    """Run one of the servers' programs to its end; its output, or a LabError with the line that says why it failed."""
    try:
        done = subprocess.run(command, cwd=cwd, env=_client_environment(), capture_output=True, text=True,
                              timeout=timeout, start_new_session=True)  # Ctrl-C is ours to handle, not theirs
    except subprocess.TimeoutExpired:
        raise LabError(f"{what} did not finish within {timeout:.0f} s") from None
    except OSError as error:
        raise LabError(f"{what} could not be run: {error.strerror} ({command[0]})") from None
    if done.returncode != 0:
        raise LabError(f"{what} failed: {_last_line(done.stderr + done.stdout)}")
    return done.stdout


def _wait_until(ready: Callable[[], bool], what: str, seconds: float = START_SECONDS) -> None:
    """Ask `ready` every tenth of a second until it says yes; a LabError after `seconds`."""
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise LabError(f"{what} did not answer within {seconds:.0f} s")
        time.sleep(0.1)


def _program(folder: Path, name: str, package: str) -> Path:
    path = folder / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise LabError(f"{name} not found in {folder}: install the Debian package {package}")
    return path


def _on_path(name: str, package: str) -> Path:
    found = shutil.which(name)
    if found is None:
        raise LabError(f"{name} not found on PATH: install the Debian package {package}")
    return Path(found)


def _version_key(folder: Path) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin → (15,): versions compare as numbers, 9.6 before 10."""
    return tuple(int(part) for part in folder.parent.name.split(".") if part.isdigit())


def postgres_bindir() -> Path:
    """Where PostgreSQL's server programs are: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin.

    Debian's pg_config names the server's folder even when only the client is installed, so a folder without
    initdb is passed over.
    """
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(LabError):
            folder = Path(_run([pg_config, "--bindir"], "pg_config --bindir", Path.cwd(), timeout=10).strip())
            if (folder / "initdb").is_file():
                return folder
    installed = [folder for folder in POSTGRES_VERSIONS.glob("*/bin") if (folder / "initdb").is_file()]
    if not installed:
        raise LabError(f"PostgreSQL's initdb not found (pg_config --bindir, {POSTGRES_VERSIONS}/*/bin): "
                       "install the Debian package postgresql")
    return max(installed, key=_version_key)


def _postgres_account() -> pwd.struct_passwd | None:
    """The system user PostgreSQL must run as when we are root (it refuses root); None: it runs as us."""
    if os.geteuid() != 0:
        return None
    _on_path("runuser", "util-linux")
    try:
        return pwd.getpwnam(POSTGRES_ACCOUNT)
    except KeyError:
        raise LabError(f"PostgreSQL refuses to run as root and there is no '{POSTGRES_ACCOUNT}' system user: "
                       "install the Debian package postgresql") from None


def _reachable_by(account: pwd.struct_passwd, folder: Path) -> bool:
    """Whether `account` may pass through `folder` and every folder above it (ACLs too), asked as that account."""
    done = subprocess.run(["runuser", "-u", account.pw_name, "--", "test", "-x", str(folder)],
                          capture_output=True, timeout=10, cwd="/")
    return done.returncode == 0


def _new_folder(root: Path, name: str, account: pwd.struct_passwd | None) -> tuple[Path, bool]:
    """A new folder for one server's data, socket and log, owned by the account it runs as.

    It is `root/name`, but for the postgres account under a folder it cannot pass through (pytest's temporary
    folders are root's alone): then a private folder of the system's temporary folder, removed when the server
    stops. The flag says which.
    """
    folder = root / name
    if folder.exists():
        raise LabError(f"{folder} already exists: a lab server starts in a new folder")
    root.mkdir(parents=True, exist_ok=True)
    if account is not None and not _reachable_by(account, root.resolve()):
        folder, private = Path(tempfile.mkdtemp(prefix=f"cybertriage-lab-{name}-")), True
        logger.info("the %s user cannot reach %s: the %s data goes to %s", account.pw_name, root, name, folder)
    else:
        folder.mkdir(mode=0o700)
        private = False
    if account is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
    return folder.resolve(), private


def _config_value(text: str) -> str:
    """A value of postgresql.conf, quoted as it reads them."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass
class LocalPostgres:
    """A PostgreSQL server of this machine's own, on 127.0.0.1:`port`, with the `cybertriage` superuser and database.

    Its data folder is `folder`/data, its unix socket and its log (server.log) are in `folder`.
    """

    bindir: Path
    folder: Path
    port: int
    account: pwd.struct_passwd | None  # the system user it runs as; None: this process's own
    private_folder: bool = False  # `folder` is outside the caller's root and goes when the server stops

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{DATABASE}"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def _as_account(self, *command: str | Path) -> list[str]:
        words = [str(word) for word in command]
        return ["runuser", "-u", self.account.pw_name, "--", *words] if self.account else words

    def _initdb(self) -> None:
        # C collation: text sorts by bytes, as SQLite sorts it, so both stores list alike. Trust is for this
        # machine only: the server listens on 127.0.0.1 and its private socket folder. --no-sync skips initdb's
        # final flush of a folder that is thrown away; the server itself keeps fsync on.
        _run(self._as_account(self.bindir / "initdb", "-D", self.data, "-U", SUPERUSER, "--encoding=UTF8",
                              "--locale=C", "--auth-local=trust", "--auth-host=trust", "--no-sync"),
             "initdb", self.folder, timeout=120)
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"\n# cybertriage.lab\nlisten_addresses = {_config_value(HOST)}\n"
                       f"unix_socket_directories = {_config_value(str(self.folder))}\n")

    def _start_server(self) -> None:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                _run(self._as_account(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-w",
                                      "-t", str(START_SECONDS), "-o", f"-p {self.port}", "start"),
                     f"PostgreSQL on {HOST}:{self.port}", self.folder, timeout=START_SECONDS + 10)
                return
            except LabError as error:
                log = _read(self.log)
                if "already in use" in log and attempt < PORT_ATTEMPTS:
                    logger.info("port %d was taken meanwhile: another one", self.port)
                    self.log.unlink(missing_ok=True)
                    self.port = free_port()
                    continue
                where = "" if self.private_folder else f" (log: {self.log})"  # a private folder goes with the server
                raise LabError(f"PostgreSQL did not start on {HOST}:{self.port}: {_last_line(log or str(error))}{where}") from None

    def _ready(self) -> bool:
        done = subprocess.run([str(self.bindir / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port),
                               "-U", SUPERUSER, "-d", "postgres", "-t", "2"],
                              env=_client_environment(), capture_output=True, timeout=10)
        return done.returncode == 0

    def start(self) -> None:
        """Make the cluster, start the server, wait until it accepts connections, create the database."""
        self._initdb()
        self._start_server()
        _wait_until(self._ready, f"PostgreSQL on {HOST}:{self.port}")
        _run([str(self.bindir / "createdb"), "-h", HOST, "-p", str(self.port), "-U", SUPERUSER, DATABASE],
             f"createdb {DATABASE}", self.folder)
        logger.info("PostgreSQL %s on %s (data: %s)", self.bindir.parent.name, self.url, self.data)

    def restart(self) -> None:
        """Stop the server (every session ended) and start it again on the same port with the same data."""
        _run(self._as_account(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-m", "fast", "-w",
                              "-t", str(START_SECONDS), "-o", f"-p {self.port}", "restart"),
             f"PostgreSQL on {HOST}:{self.port} restarted", self.folder, timeout=2 * START_SECONDS + 10)
        _wait_until(self._ready, f"PostgreSQL on {HOST}:{self.port}")

    def stop(self) -> None:
        """Stop the server: sessions are ended (fast shutdown); a stopped or never started one is left as it is."""
        if (self.data / "postmaster.pid").exists():
            pg_ctl = self.bindir / "pg_ctl"
            try:
                _run(self._as_account(pg_ctl, "-D", self.data, "-m", "fast", "-w", "-t", str(START_SECONDS), "stop"),
                     "pg_ctl stop", self.folder, timeout=START_SECONDS + 10)
            except LabError:  # a session that ignores the fast shutdown: stop without waiting for anybody
                _run(self._as_account(pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop"),
                     "pg_ctl stop -m immediate", self.folder)
            logger.info("PostgreSQL on port %d stopped", self.port)
        if self.private_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(root: Path, bindir: Path | None = None) -> LocalPostgres:
    """Start a new PostgreSQL server with its data in a new folder `root`/postgres; the caller stops it.

    `bindir` is where initdb, pg_ctl, pg_isready and createdb are (by default, `postgres_bindir()`).
    """
    bindir = bindir if bindir is not None else postgres_bindir()
    for name in ("initdb", "pg_ctl", "pg_isready", "createdb"):
        _program(bindir, name, "postgresql")
    account = _postgres_account()
    folder, private = _new_folder(root, "postgres", account)
    server = LocalPostgres(bindir, folder, free_port(), account, private)
    try:
        server.start()
    except BaseException:  # a half-started server is not left behind (Ctrl-C included)
        server.stop()
        raise
    return server


def _redis_config_value(text: str) -> str:
    """A value of redis.conf, quoted as it reads them."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class LocalRedis:
    """A Redis server of this machine's own on 127.0.0.1:`port`, its append-only file and log in `folder`.

    It keeps what it was given across `restart()`: the same port, and the data replayed from its append-only file.
    """

    server: Path  # redis-server
    cli: Path  # redis-cli
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def config(self) -> Path:
        return self.folder / "redis.conf"

    @property
    def log(self) -> Path:
        return self.folder / "redis.log"

    def write_config(self) -> None:
        """redis.conf: this port on 127.0.0.1 only, in the foreground, no snapshots, every write in the append-only file."""
        self.config.write_text("\n".join([
            f"port {self.port}",
            f"bind {HOST}",
            "protected-mode no",
            "daemonize no",
            f"dir {_redis_config_value(str(self.folder))}",
            f"logfile {_redis_config_value(str(self.log))}",
            'save ""',
            "appendonly yes",
            "",
        ]), encoding="utf-8")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise LabError(f"redis-server on {HOST}:{self.port} exited: {_last_line(_read(self.log))} (log: {self.log})")
        try:  # a port somebody else listens on accepts the connection and never answers
            done = subprocess.run([str(self.cli), "-h", HOST, "-p", str(self.port), "ping"],
                                  capture_output=True, text=True, timeout=2)
        except subprocess.TimeoutExpired:
            return False
        return done.stdout.strip() == "PONG"

    def start(self) -> None:
        """Start the server with its redis.conf and wait for its PONG."""
        try:
            self.process = subprocess.Popen([str(self.server), str(self.config)], cwd=self.folder,
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as error:
            raise LabError(f"redis-server could not be run: {error.strerror} ({self.server})") from None
        _wait_until(self._ready, f"redis-server on {HOST}:{self.port}")
        logger.info("Redis on %s (data: %s)", self.url, self.folder)

    def stop(self) -> None:
        """Stop the server the way its service does (SIGTERM: the append-only file is flushed); kill one that hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=START_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        logger.info("Redis on port %d stopped", self.port)

    def restart(self) -> None:
        """Stop and start again: the same port, and the same data, replayed from the append-only file."""
        self.stop()
        self.start()


def start_redis(root: Path) -> LocalRedis:
    """Start a new Redis server with its data in a new folder `root`/redis; the caller stops it."""
    server = LocalRedis(_on_path("redis-server", "redis-server"), _on_path("redis-cli", "redis-server"),
                        root / "redis", free_port())
    if server.folder.exists():
        raise LabError(f"{server.folder} already exists: a lab server starts in a new folder")
    server.folder.mkdir(parents=True, mode=0o700)
    server.folder = server.folder.resolve()
    try:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            server.write_config()
            try:
                server.start()
                return server
            except LabError:
                if "already in use" not in _read(server.log) or attempt == PORT_ATTEMPTS:
                    raise
                logger.info("port %d was taken meanwhile: another one", server.port)
                server.port = free_port()
    except BaseException:  # a half-started server is not left behind (Ctrl-C included)
        server.stop()
        raise
    raise AssertionError("unreachable: the last attempt returns or raises")


# -- the command line's words -----------------------------------------------------------------------------------


def add_scan_options(scan: argparse.ArgumentParser) -> None:
    scan.add_argument("--store", metavar="URL",
                      help="keep a new case's tables in PostgreSQL (postgresql://USER@HOST:PORT/DATABASE; the password "
                           "from PGPASSWORD or ~/.pgpass, never here) instead of DIR/case.db, so that several "
                           "examiners open it at once; the case folder remembers the store, and holds the carried "
                           "objects and custody.log")
    scan.add_argument("--broker", metavar="URL",
                      help="spread the evidence items over the workers of this Celery broker (redis://HOST:6379/0; "
                           "start them with `cybertriage worker`); needs --store, and evidence and case folder on a "
                           "share every worker sees")
    scan.add_argument("--worker-timeout", type=float, default=60.0, metavar="SECONDS",
                      help="with --broker: a unit whose worker gives no sign of life this long is sent to another "
                           "worker (default 60)")
    scan.add_argument("--unit-mb", type=int, default=256, metavar="MB",
                      help="with --broker: a disk image's or a folder's files go to the workers in parts of about this "
                           "much content (and at most 2,000 files), so that one large drive keeps every worker busy; "
                           "0 gives each item whole to one worker (default 256)")


def prepare_scan(args: argparse.Namespace) -> None:
    """Before a scan with --store or --broker starts: the broker reachable, the case's store made or checked."""
    from cybertriage.case.store import use_store
    from cybertriage.case.stores import store_of

    if args.unit_mb < 0:
        raise UsageError("--unit-mb must be 0 (each disk image whole) or more")
    if args.broker:
        from cybertriage.pipeline.distributed import broker_address, check_broker

        check_broker(broker_address(args.broker))
        if not args.store and store_of(args.case) is None:
            raise UsageError("--broker needs a case store every worker writes: add --store postgresql://…")
    if args.store:
        use_store(args.case, args.store)


def add_worker_command(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser(
        "worker", help="examine the units of scans spread over workstations (a Celery worker)",
        description="Take units of work (evidence items) from the broker that `scan --broker` sends them to, and "
                    "examine each into its case's shared PostgreSQL store, until stopped (Ctrl-C). The evidence and "
                    "the case folder must be at the same paths as on the scanning workstation (a share), and the "
                    "store's password, if any, in PGPASSWORD or ~/.pgpass.")
    worker.add_argument("--broker", required=True, metavar="URL", help="the Celery broker, e.g. redis://HOST:6379/0")
    worker.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="units examined at once (default 1: each unit already keeps every core busy)")
    worker.add_argument("--jobs", type=int, default=os.cpu_count() or 2, metavar="N",
                        help="analysis threads per unit (default: number of cores)")
    worker.add_argument("--name", metavar="NAME@HOST", help="the worker's name in the case (default: cybertriage-PID@HOST)")


def worker_command(args: argparse.Namespace) -> int:
    """`cybertriage worker`: examine units until stopped."""
    from cybertriage.pipeline.distributed import run_worker

    if args.concurrency < 1 or args.jobs < 1:
        raise UsageError("--concurrency and --jobs must be at least 1")
    run_worker(args.broker, args.concurrency, args.jobs, args.name)
    return 0


# -- throwaway servers and workers ------------------------------------------------------------------------------


WORKER_START_SECONDS = 60  # a worker imports the whole pipeline and connects to the broker before it says so


@dataclass
class LocalWorkers:
    """`cybertriage worker` processes on this machine, each with its log in `folder`; stopped by `stop()`."""

    processes: list[subprocess.Popen]
    logs: list[Path]

    def ready(self) -> bool:
        return all(b" ready." in log.read_bytes() for log in self.logs)

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown: a unit in hand is finished), SIGKILL after 30 s."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_workers(broker: str, folder: Path, names: list[str], jobs: int | None = None,
                  environments: list[dict[str, str]] | None = None) -> LocalWorkers:
    """Start a worker per name, with the extra environment given for it, and wait until each is ready."""
    processes, logs = [], []
    for index, name in enumerate(names):
        log = folder / f"worker-{name.partition('@')[0]}.log"
        extra = environments[index] if environments and index < len(environments) else {}
        command = [sys.executable, "-m", "cybertriage", "worker", "--broker", broker, "--name", name]
        if jobs:
            command += ["--jobs", str(jobs)]
        with log.open("wb") as output:
            processes.append(subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                              env={**os.environ, **extra}))
        logs.append(log)
    workers = LocalWorkers(processes, logs)
    try:
        _wait_until(lambda: workers.ready() or any(p.poll() is not None for p in processes), "the workers",
                    WORKER_START_SECONDS)
        ended = [log for process, log in zip(processes, logs) if process.poll() is not None]
        if ended:
            raise LabError(f"a worker stopped at its start: {_last_line(_read(ended[0]))} (log: {ended[0]})")
    except BaseException:
        workers.stop()
        raise
    return workers


def _scan_through(case: Path, evidence: list[Path], store: str, broker: str) -> int:
    """`cybertriage scan` of the evidence through the workers into the store, then `report`; the scan's exit code."""
    cybertriage = [sys.executable, "-m", "cybertriage"]
    scan = subprocess.run([*cybertriage, "scan", *map(str, evidence), "--case", str(case), "--store", store,
                           "--broker", broker])
    if scan.returncode > 1:
        return scan.returncode
    report = subprocess.run([*cybertriage, "report", "--case", str(case), "--pdf", str(case / "report.pdf"),
                             "--html", str(case / "report.html"), "--case-number", "LAB-DEMO", "--force"])
    print(f"Case {case}: report in {case / 'report.pdf'}. Its tables were in this throwaway PostgreSQL, stopped "
          f"now; for a lab that stays up: python -m cybertriage.lab --root DIR --workers 2")
    return scan.returncode or report.returncode


class _Stop(Exception):
    """SIGTERM or SIGHUP asked the lab to stop."""


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    """Start both servers under --root, print where they are as shell lines, stop both on Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m cybertriage.lab", description=(
        "Start a throwaway PostgreSQL and Redis on free ports of 127.0.0.1, print the lines that point cybertriage "
        "at them, and stop both on Ctrl-C or SIGTERM."))
    parser.add_argument("--root", type=Path, required=True,
                        help="folder for the servers' data and logs (its postgres/ and redis/ must not exist yet)")
    parser.add_argument("--workers", type=int, default=0, metavar="N", help="also start N cybertriage workers")
    parser.add_argument("--jobs", type=int, metavar="N", help="analysis threads per worker (default: all cores)")
    parser.add_argument("--case", type=Path, metavar="DIR",
                        help="scan EVIDENCE through the workers into this new case, write its report, and stop")
    parser.add_argument("evidence", nargs="*", type=Path, metavar="EVIDENCE")
    args = parser.parse_args(argv)
    if bool(args.case) != bool(args.evidence) or (args.case and args.workers < 1):
        parser.error("--case and EVIDENCE go together, with --workers 1 or more")
    logging.basicConfig(level=logging.INFO, format="cybertriage lab: %(message)s")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_on_signal)
    try:
        with contextlib.ExitStack() as servers:
            postgres = start_postgres(args.root)
            servers.callback(postgres.stop)
            redis = start_redis(args.root)
            servers.callback(redis.stop)
            if args.workers:
                names = [f"lab{number}@{socket.gethostname()}" for number in range(1, args.workers + 1)]
                workers = start_workers(redis.url, args.root, names, args.jobs)
                servers.callback(workers.stop)
            if args.case:
                return _scan_through(args.case, args.evidence, postgres.url, redis.url)
            print(f"export CYBERTRIAGE_STORE={shlex.quote(postgres.url)}")
            print(f"export CYBERTRIAGE_BROKER={shlex.quote(redis.url)}", flush=True)
            while True:
                signal.pause()
    except LabError as error:
        print(f"cybertriage lab: {error}", file=sys.stderr)
        return 2
    except (_Stop, KeyboardInterrupt):
        return 0


if __name__ == "__main__":
    sys.exit(main())
