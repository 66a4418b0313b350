"""The deploy/ configuration, run on one machine: a PostgreSQL primary and its
streaming standby, Streamlit replicas started as their systemd unit starts
them, and nginx with deploy/nginx/dashboards.conf in front.

Used by ``tests/test_deploy.py`` (which starts all of it, then kills a
replica and stops the standby) and ``benchmarks/load.py`` (one replica, or
two behind nginx). Everything lives in one temporary folder and on free
ports; nothing of the machine's own PostgreSQL or nginx is touched:

- :class:`PgCluster`: ``initdb`` a primary (replication allowed from
  127.0.0.1 by initdb's own pg_hba.conf), ``pg_basebackup -R`` a standby
  from it. As root, every PostgreSQL command runs as the ``postgres`` user
  (the server refuses to run as root).
- :class:`Replica`: the ``ExecStart`` of ``deploy/systemd/dashboards@.service``
  with ``%i`` = the port, this Python's Streamlit, an environment file in the
  unit's format.
- :class:`Nginx`: ``deploy/nginx/dashboards.conf`` with its upstream servers,
  listen port and cache folder rewritten (:func:`render_nginx_conf`), inside
  a minimal ``nginx.conf`` of a temporary prefix, run in the foreground.

A missing binary raises :class:`MissingTool` naming it and the package that
brings it.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NGINX_CONF = DEPLOY / "nginx" / "dashboards.conf"
REPLICA_UNIT = DEPLOY / "systemd" / "dashboards@.service"
#: Seconds a replica, nginx or a PostgreSQL server gets to answer after start.
START_S = 60.0


class MissingTool(RuntimeError):
    """A binary the stack needs is not installed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_root() -> bool:
    return os.geteuid() == 0


def pg_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<n>/bin`` with the server and
    ``pg_basebackup`` (Debian's layout), else the folder of ``pg_ctl`` on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "pg_basebackup")):
            return folder
    raise MissingTool(
        "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found under "
        "/usr/lib/postgresql/*/bin or on PATH: apt-get install postgresql"
    )


def nginx_binary() -> Path:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else ""
    )
    if not found:
        raise MissingTool("nginx not found: apt-get install nginx")
    return Path(found)


def wait_http_ok(url: str, deadline_s: float, alive: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``url`` answers 200; raise with the reason if ``alive`` exits
    or ``deadline_s`` passes."""
    deadline = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"exited with {alive.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {deadline_s:.0f} s ({last})")


def _spawn(argv: list[str], log: Path, **popen: object) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **popen)  # type: ignore[call-overload, no-any-return]


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- PostgreSQL ------------------------------------------------------------


@dataclass
class PgCluster:
    """One PostgreSQL server of the stack: its data folder and port."""

    datadir: Path
    port: int
    bindir: Path = field(default_factory=pg_bindir)

    @property
    def log(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *cmd: str | Path) -> None:
        argv = [str(c) for c in cmd]
        if is_root():
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )

    @classmethod
    def primary(cls, datadir: Path, port: int) -> PgCluster:
        """``initdb`` a new cluster (trust on localhost, replication included),
        configured to listen on 127.0.0.1:``port`` only."""
        cluster = cls(datadir, port)
        _own_by_postgres(datadir.parent)
        cluster._run(
            cluster.bindir / "initdb", "-D", datadir, "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        with (datadir / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write(
                "\n# deploy/stack.py: a throwaway primary\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{datadir.parent}'\n"
                "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        return cluster

    @classmethod
    def standby_of(cls, primary: PgCluster, datadir: Path, port: int) -> PgCluster:
        """``pg_basebackup -R`` from ``primary``: a streaming standby (its
        ``standby.signal`` and ``primary_conninfo`` written by ``-R``)."""
        cluster = cls(datadir, port, primary.bindir)
        cluster._run(
            cluster.bindir / "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port),
            "-U", "postgres", "-D", datadir, "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        return cluster

    def start(self) -> None:
        # The port on the command line: a standby's postgresql.conf is the
        # primary's copy.
        self._run(
            self.bindir / "pg_ctl", "-D", self.datadir, "-l", self.log, "-w", "-t", "60",
            "-o", f"-p {self.port}", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run(self.bindir / "pg_ctl", "-D", self.datadir, "-m", mode, "-w", "stop")

    def sql(self, statement: str, database: str = "postgres") -> str:
        """One statement through psql (autocommit); its unaligned output."""
        result = subprocess.run(
            [str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", database, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", statement],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"psql on port {self.port}: {result.stderr.strip()}")
        return result.stdout.strip()

    def wait_replayed(self, primary: PgCluster, deadline_s: float = 30.0) -> float:
        """Wait until this standby has replayed everything ``primary`` has
        written so far; the seconds it took."""
        t0 = time.monotonic()
        target = primary.sql("SELECT pg_current_wal_lsn()")
        while True:
            behind = self.sql(f"SELECT pg_wal_lsn_diff('{target}', pg_last_wal_replay_lsn()) > 0")
            if behind == "f":
                return time.monotonic() - t0
            if time.monotonic() - t0 > deadline_s:
                raise RuntimeError(f"standby on {self.port} did not replay {target} in time")
            time.sleep(0.1)


def _own_by_postgres(folder: Path) -> None:
    """As root, hand ``folder`` to the postgres user (the server runs as it)."""
    folder.mkdir(parents=True, exist_ok=True)
    if is_root():
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    folder.chmod(0o700)


# --- Streamlit replicas ----------------------------------------------------


def app_config(folder: Path, wall_token: str, district: str, **site: int) -> dict[str, str]:
    """The app's configuration files for a stack, in ``folder``, as
    environment variables: ``access.toml`` (no login, everyone a leader;
    one wall signed in by ``wall_token``, scoped to ``district``), an empty
    ``secrets.toml``, and ``config/site.toml`` with each ``key = value``
    line of ``site`` replaced (e.g. ``refresh_s=3``)."""
    from data_access.access import token_sha256

    access = folder / "access.toml"
    access.write_text(
        f'[login]\nno_login_role = "leader"\n\n[[walls]]\nname = "wall"\n'
        f'token_sha256 = "{token_sha256(wall_token)}"\ndistricts = ["{district}"]\n',
        encoding="utf-8",
    )
    secrets = folder / "secrets.toml"
    secrets.write_text("# no [auth]: tests and benchmarks never read a developer's secrets\n")
    text = (ROOT / "config" / "site.toml").read_text(encoding="utf-8")
    for key, value in site.items():
        text, n = re.subn(rf"(?m)^{key} = \d+", f"{key} = {value}", text)
        if n != 1:
            raise ValueError(f"config/site.toml: no single '{key} = <number>' line")
    site_toml = folder / "site.toml"
    site_toml.write_text(text, encoding="utf-8")
    return {
        "OPS_ACCESS_CONFIG": str(access),
        "OPS_SITE_CONFIG": str(site_toml),
        "STREAMLIT_SECRETS_FILES": str(secrets),
    }


def read_env_file(path: Path) -> dict[str, str]:
    """A systemd ``EnvironmentFile``: ``VAR=value`` lines, ``#`` comments,
    optional quotes around the value."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: not VAR=value: {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def write_env_file(path: Path, env: Mapping[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    path.chmod(0o600)
    return path


def replica_command(port: int) -> list[str]:
    """The unit's ``ExecStart`` for instance ``port``, with this Python's
    Streamlit in place of the virtualenv's ``streamlit`` script."""
    text = REPLICA_UNIT.read_text(encoding="utf-8")
    match = re.search(r"(?m)^ExecStart=(.+)$", text)
    if not match:
        raise ValueError(f"{REPLICA_UNIT}: no ExecStart")
    argv = shlex.split(match.group(1).replace("%i", str(port)))
    if not argv[0].endswith("/streamlit"):
        raise ValueError(f"{REPLICA_UNIT}: ExecStart does not start streamlit: {argv[0]}")
    return [sys.executable, "-m", "streamlit", *argv[1:]]


class _OnLoopback:
    """A server of the stack, on 127.0.0.1:``port``."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@dataclass
class Replica(_OnLoopback):
    """One ``dashboards@<port>`` replica."""

    port: int
    env_file: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, extra_env: Mapping[str, str] | None = None) -> None:
        env = {**os.environ, **read_env_file(self.env_file), "PYTHONUNBUFFERED": "1"}
        env.update(extra_env or {})
        self.process = _spawn(replica_command(self.port), self.log, cwd=ROOT, env=env)

    def wait_healthy(self, deadline_s: float = START_S) -> None:
        try:
            wait_http_ok(f"{self.url}_stcore/health", deadline_s, self.process)
        except RuntimeError as exc:
            raise RuntimeError(f"replica {self.port}: {exc}\n{self.log_tail()}") from None

    def kill(self) -> None:
        """SIGKILL: a replica that dies, as a crash or an OOM kill would end it."""
        _stop(self.process, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.process)

    def connections(self) -> int:
        """Websocket sessions this replica has opened so far, new and
        reconnected (Streamlit's own counters, ``/_stcore/metrics``)."""
        with urllib.request.urlopen(f"{self.url}_stcore/metrics", timeout=5) as r:
            text = r.read().decode()
        found = re.findall(
            r'(?m)^session_events_total\{type="(?:connect|reconnect)"\}\s+(\d+)', text
        )
        if not found:
            raise RuntimeError(f"replica {self.port}: no session counters in /_stcore/metrics")
        return sum(int(n) for n in found)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def start_replicas(replicas: Iterable[Replica]) -> None:
    """Start them all, then wait for each (they start side by side)."""
    started = list(replicas)
    for replica in started:
        replica.start()
    for replica in started:
        replica.wait_healthy()


def stop_all(replicas: Iterable[Replica]) -> None:
    """SIGTERM to every replica at once, then wait for each."""
    running = [r.process for r in replicas if r.process is not None and r.process.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        _stop(process)


# --- nginx -----------------------------------------------------------------


def render_nginx_conf(ports: Iterable[int], listen_port: int, cache_dir: Path) -> str:
    """``deploy/nginx/dashboards.conf`` for these replica ports: its
    ``server 127.0.0.1:<port> ...;`` lines replaced by one per port (same
    parameters), ``listen 80`` by ``listen 127.0.0.1:<listen_port>``, its
    cache folder by ``cache_dir``. Everything else as shipped."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    server_line = re.compile(r"(?m)^(\s*)server 127\.0\.0\.1:\d+( [^;]*)?;\n")
    found = server_line.findall(text)
    if not found:
        raise ValueError(f"{NGINX_CONF}: no 'server 127.0.0.1:<port>' line in the upstream")
    indent, params = found[0]
    lines = "".join(f"{indent}server 127.0.0.1:{p}{params};\n" for p in ports)
    text = server_line.sub("", text, count=len(found) - 1)
    text = server_line.sub(lambda _m: lines, text, count=1)
    text, listens = re.subn(r"(?m)^(\s*)listen 80;", rf"\1listen 127.0.0.1:{listen_port};", text)
    text, caches = re.subn(
        r"(?m)^proxy_cache_path /var/cache/nginx/dashboards ",
        f"proxy_cache_path {cache_dir} ",
        text,
    )
    if listens != 1 or caches != 1:
        raise ValueError(f"{NGINX_CONF}: expected one 'listen 80;' and one cache path")
    return text


#: The top of a throwaway nginx: everything in its prefix, in the foreground.
NGINX_MAIN = """{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/dashboards.conf;
}}
"""


@dataclass
class Nginx(_OnLoopback):
    """nginx with the deploy configuration, in ``prefix``, on ``port``."""

    prefix: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def configure(self, replica_ports: Iterable[int]) -> Path:
        """Write the prefix's ``nginx.conf`` and ``dashboards.conf``; check them (``nginx -t``)."""
        for sub in ("tmp", "cache"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        user = ""
        if is_root():  # workers run as nobody: they need their folders
            nobody = pwd.getpwnam("nobody")
            user = f"user nobody {_group_name(nobody.pw_gid)};\n"
            self.prefix.chmod(0o755)
            for sub in ("tmp", "cache"):
                os.chown(self.prefix / sub, nobody.pw_uid, nobody.pw_gid)
        (self.prefix / "dashboards.conf").write_text(
            render_nginx_conf(replica_ports, self.port, self.prefix / "cache"), encoding="utf-8"
        )
        conf = self.prefix / "nginx.conf"
        conf.write_text(NGINX_MAIN.format(user=user, prefix=self.prefix), encoding="utf-8")
        result = subprocess.run(
            [str(nginx_binary()), "-t", "-p", str(self.prefix), "-c", str(conf)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"nginx -t refused the configuration:\n{result.stderr}")
        return conf

    def start(self, replica_ports: Iterable[int]) -> None:
        conf = self.configure(replica_ports)
        argv = [str(nginx_binary()), "-p", str(self.prefix), "-c", str(conf)]
        self.process = _spawn(argv, self.prefix / "stderr.log")
        try:
            wait_http_ok(f"{self.url}_stcore/health", START_S, self.process)
        except RuntimeError as exc:
            raise RuntimeError(f"nginx: {exc}\n{self.error_log()}") from None

    def stop(self) -> None:
        _stop(self.process)  # SIGTERM: nginx's fast shutdown

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name
