"""One etcd and three Patroni-managed PostgreSQL nodes on loopback, for the failover test.

The configuration is the repository's (``deploy/ha/etcd.conf.yml`` and
``deploy/ha/patroni.yml``), with ports and folders filled in: free loopback
ports (never 2379, which Debian's etcd unit takes on a host with systemd), a
temporary folder, and an unprivileged user (initdb and postgres refuse root:
as root the cluster runs as ``vrsha``, created with ``useradd`` if missing).
Debian's ``patroni`` and ``etcd-server`` packages provide the programs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import string
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.realparts import missing_part, require_executable
from tests.reliability.own_postgres import postgres_binaries
from tests.server_process import ROOT, free_port

DEPLOY = ROOT / "deploy" / "ha"
CLUSTER_USER = "vrsha"


@dataclass
class Node:
    """One Patroni node: its PostgreSQL port, REST port and process."""

    name: str
    pg_port: int
    rest_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    def status(self) -> dict[str, Any]:
        """Patroni's own view of this node (GET /patroni); {} when it does not answer."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.rest_port}/patroni", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return {}

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid (first line of postmaster.pid), if any."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None


@dataclass
class PatroniCluster:
    """etcd plus three Patroni nodes under ``base``; start with :meth:`start`."""

    base: Path
    user: str | None
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    nodes: list[Node] = field(default_factory=list)
    etcd: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        for n in range(1, 4):
            self.nodes.append(
                Node(f"node{n}", free_port(), free_port(), self.base / f"node{n}" / "data")
            )

    # --- start and stop ---------------------------------------------------------

    def start(self) -> None:
        """etcd, then the three nodes; returns once a primary and two replicas run."""
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "sockets").mkdir(exist_ok=True)
        (self.base / "logs").mkdir(exist_ok=True)
        values = {
            "name": "etcd1", "data_dir": str(self.base / "etcd"),
            "client_port": self.etcd_port, "peer_port": self.etcd_peer_port,
        }  # fmt: skip
        etcd_config = self.base / "etcd.conf.yml"
        etcd_config.write_text(_fill(DEPLOY / "etcd.conf.yml", values))
        for node in self.nodes:
            node.data_dir.parent.mkdir(parents=True, exist_ok=True)
            config = self.base / f"{node.name}.yml"
            config.write_text(_fill(DEPLOY / "patroni.yml", {
                "name": node.name, "rest_port": node.rest_port, "pg_port": node.pg_port,
                "etcd_hosts": f"127.0.0.1:{self.etcd_port}", "log_dir": str(self.base / "logs"),
                "data_dir": str(node.data_dir), "bin_dir": str(postgres_binaries()),
                "base_dir": str(self.base), "socket_dir": str(self.base / "sockets"),
                "auth": "trust", "superuser_password": "vrs-ha-test",
                "replication_password": "vrs-ha-test",
            }))  # fmt: skip
        self._own()
        self.etcd = self._spawn(
            [require_executable("etcd"), "--config-file", str(etcd_config)], "etcd"
        )
        _wait(lambda: _http_ok(f"http://127.0.0.1:{self.etcd_port}/health"), 30, "etcd")
        patroni = require_executable("patroni")
        first, *others = self.nodes
        first.process = self._spawn([patroni, str(self.base / f"{first.name}.yml")], first.name)
        _wait(lambda: first.status().get("role") in ("master", "primary"), 60, "the first primary")
        for node in others:
            node.process = self._spawn([patroni, str(self.base / f"{node.name}.yml")], node.name)
        self.wait_healthy(90)

    def stop(self) -> None:
        """Stop the nodes (Patroni stops its postgres), then etcd; kill what lingers."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(node.process.pid, signal.SIGKILL)
                    node.process.wait()
            pid = node.postmaster_pid()
            if pid is not None and _alive(pid):
                _kill_tree(pid)
        if self.etcd is not None and self.etcd.poll() is None:
            self.etcd.terminate()
            try:
                self.etcd.wait(10)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
                self.etcd.wait()

    # --- the cluster's state ----------------------------------------------------

    def primary(self) -> Node | None:
        """The node whose postgres runs as primary, by Patroni's own account."""
        for node in self.nodes:
            status = node.status()
            if status.get("role") in ("master", "primary") and status.get("state") == "running":
                return node
        return None

    def members(self) -> list[dict[str, Any]]:
        """GET /cluster from any node that answers: name, role, state, lag of each member."""
        for node in self.nodes:
            try:
                reply = httpx.get(f"http://127.0.0.1:{node.rest_port}/cluster", timeout=2)
                return reply.json().get("members", [])
            except (httpx.HTTPError, ValueError):
                continue
        return []

    def healthy(self) -> bool:
        """One leader, two running replicas, one of them the synchronous standby."""
        members = self.members()
        roles = sorted(m.get("role", "") for m in members)
        running = all(m.get("state") in ("running", "streaming") for m in members)
        return len(members) == 3 and running and roles == ["leader", "replica", "sync_standby"]

    def wait_healthy(self, seconds: float) -> None:
        _wait(self.healthy, seconds, f"a healthy cluster: {self.members()}")

    def dsn(self, database: str, first: Node | None = None) -> str:
        """A URL listing all three hosts (``first`` first) with target_session_attrs=read-write."""
        ordered = sorted(self.nodes, key=lambda node: node is not first)
        hosts = ",".join(f"127.0.0.1:{node.pg_port}" for node in ordered)
        return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"

    def node_url(self, node: Node, database: str) -> str:
        """One node's URL (superuser)."""
        return f"postgresql://postgres@127.0.0.1:{node.pg_port}/{database}"

    def patch_config(self, changes: dict[str, Any]) -> None:
        """Change the cluster-wide (etcd) configuration, like ``patronictl edit-config``."""
        reply = httpx.patch(
            f"http://127.0.0.1:{self.nodes[0].rest_port}/config", json=changes, timeout=5
        )
        reply.raise_for_status()

    # --- faults -----------------------------------------------------------------

    def kill_postgres(self, node: Node) -> None:
        """SIGKILL ``node``'s postmaster and every backend (Patroni itself keeps running)."""
        pid = node.postmaster_pid()
        assert pid is not None, f"{node.name} has no postmaster"
        _kill_tree(pid)

    def walreceivers(self, node: Node) -> list[int]:
        """The pids of ``node``'s WAL receiver processes (a replica has one)."""
        pid = node.postmaster_pid()
        if pid is None:
            return []
        return [child for child in _children(pid) if "walreceiver" in _cmdline(child)]

    def walsenders(self, node: Node) -> list[int]:
        """The pids of ``node``'s WAL sender processes (a primary has one per replica)."""
        pid = node.postmaster_pid()
        if pid is None:
            return []
        return [child for child in _children(pid) if "walsender" in _cmdline(child)]

    # --- helpers ----------------------------------------------------------------

    def _spawn(self, command: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.base / "logs" / f"{name}.out").open("ab")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.base),
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}  # fmt: skip
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, user=self.user, env=env,
            cwd=self.base, start_new_session=True,
        )  # fmt: skip

    def _own(self) -> None:
        if self.user is None:
            return
        entry = pwd.getpwnam(self.user)
        for folder, _, files in os.walk(self.base):
            shutil.chown(folder, entry.pw_uid, entry.pw_gid)
            for name in files:
                shutil.chown(Path(folder) / name, entry.pw_uid, entry.pw_gid)
        os.chmod(self.base, 0o700)

    def log_tail(self, lines: int = 40) -> str:
        """The end of every process log, for a failure message."""
        parts = []
        for path in sorted((self.base / "logs").glob("*")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)


def cluster_user() -> str | None:
    """None when not root; else the unprivileged user to run the cluster as (created if missing)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(CLUSTER_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        done = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             CLUSTER_USER], capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            missing_part(f"an unprivileged user for the cluster (useradd: {done.stderr.strip()})")
    return CLUSTER_USER


def new_cluster() -> PatroniCluster:
    """A cluster object under a fresh folder (not started)."""
    require_executable("patroni")
    require_executable("etcd")
    # Not under pytest's tmp_path: root's 0700 folder, which the cluster user cannot enter.
    base = Path(tempfile.mkdtemp(prefix="vrs-ha-"))
    return PatroniCluster(base, cluster_user())


def _fill(template: Path, values: dict[str, Any]) -> str:
    return string.Template(template.read_text()).substitute(
        {key: str(value) for key, value in values.items()}
    )


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as dead)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _kill_tree(pid: int) -> None:
    """SIGKILL a postmaster and its children at once (a crash, not a shutdown)."""
    victims = [pid, *_children(pid)]
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(v) for v in victims):
        time.sleep(0.02)
