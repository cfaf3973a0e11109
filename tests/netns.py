"""Hosts on a private network, from network namespaces: real separation for chaos tests.

`Network(["db", "w1", "w2"])` creates one namespace per host plus a "switch" namespace
holding a Linux bridge, joins each host to the bridge with a veth pair (the host's end is
`eth0`, with 10.X.0.N/24; `lo` is up too) and adds one more veth from the root namespace,
so the test process itself can reach every host (at 10.X.0.254). A process runs on a host
under `ip netns exec NAME ...` (`network.exec_prefix(host)`).

`cut(host)` takes the host's port on the switch down: the host keeps its address and routes
but its `eth0` loses carrier, and every packet to or from it is dropped without an error
reaching anyone, as when a cable is pulled or a switch dies (`method="netem"` drops them with
`tc netem loss 100%` instead, where sch_netem exists). `restore(host)` plugs it back.

Names start with `PREFIX` and the creating process's pid, so parallel runs do not clash;
closing removes everything (and kills what still runs in the namespaces), also after a
failure, and creating removes the leftovers of runs whose process is gone. Everything needs
root and iproute2: `available()` says why not, in one line, where that is missing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

PREFIX = "cmh"
SWITCH = "switch"
ROOT_HOST_NUMBER = 254
_LOCK_PATH = Path("/run/lock/campaigns-netns.lock")
_SUBNETS = range(200, 255)  # the X of 10.X.0.0/24
_CLOSED_PORT = 9  # discard: nothing listens there on a test host
_NAME = re.compile(rf"^{PREFIX}(\d+)-")
_ROOT_LINK = re.compile(rf"^{PREFIX}(\d+)$")

CutMethod = Literal["link", "netem"]


class NetnsError(RuntimeError):
    pass


def ip(*args: str, check: bool = True, timeout: float = 30) -> str:
    """Run `ip ARGS...`; its stdout, or NetnsError with its stderr."""
    return _run(["ip", *args], check=check, timeout=timeout)


def _run(command: list[str], *, check: bool = True, timeout: float = 30) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise NetnsError(f"{' '.join(command)}: {result.stderr.strip() or result.returncode}")
    return result.stdout


@lru_cache(maxsize=1)
def available() -> str | None:
    """None when namespaces, veth pairs and a bridge can be made here; else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add); this run is not root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH (Debian: apt-get install iproute2)"
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        remove_leftovers()
        ip("netns", "add", probe)
        ip("-n", probe, "link", "add", "name", "br0", "type", "bridge")
        ip("-n", probe, "link", "add", "name", "pa", "type", "veth", "peer", "name", "pb")
        ip("-n", probe, "link", "set", "pa", "master", "br0")
    except (NetnsError, OSError, subprocess.SubprocessError) as exc:
        return f"cannot create network namespaces, veth pairs or a bridge: {exc}"
    finally:
        ip("netns", "delete", probe, check=False)
    return None


@lru_cache(maxsize=1)
def netem_available() -> bool:
    """Whether `tc ... netem` works (the sch_netem module is often missing in containers)."""
    probe = f"{PREFIX}{os.getpid()}-netem"
    try:
        ip("netns", "add", probe)
        _run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "netem"])
    except (NetnsError, OSError, subprocess.SubprocessError):
        return False
    finally:
        ip("netns", "delete", probe, check=False)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    # `ip netns list` prints "name" or "name (id: N)".
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def _kill_namespace_processes(namespace: str) -> None:
    """SIGKILL whatever still runs in `namespace`, and wait until it is gone."""
    deadline = time.monotonic() + 30
    while True:
        pids = [int(p) for p in ip("netns", "pids", namespace, check=False).split() if p.isdigit()]
        if not pids:
            return
        if time.monotonic() > deadline:
            raise NetnsError(f"processes {pids} in namespace {namespace} survive SIGKILL")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _delete_namespace(namespace: str) -> None:
    _kill_namespace_processes(namespace)
    ip("netns", "delete", namespace, check=False)


def remove_leftovers() -> list[str]:
    """Delete the namespaces and root-namespace links (names starting with PREFIX) of earlier
    runs whose process is gone (a crash, a SIGKILLed pytest); returns their names."""
    removed = []
    for namespace in _namespaces():
        match = _NAME.match(namespace)
        if match and not _alive(int(match.group(1))):
            _delete_namespace(namespace)
            removed.append(namespace)
    for line in ip("-o", "link", "show").splitlines():
        # "12: cmh123@if11: <...>" -> "cmh123"
        name = line.split(":", 2)[1].strip().split("@")[0]
        match = _ROOT_LINK.match(name)
        if match and not _alive(int(match.group(1))):
            ip("link", "delete", name, check=False)
            removed.append(name)
    return removed


@contextlib.contextmanager
def _setup_lock() -> Iterator[None]:
    """Held while a network is set up, so two runs never pick the same 10.X subnet."""
    _LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK_PATH.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_subnet() -> int:
    used = ip("-4", "-o", "addr", "show") + ip("-4", "route", "show", "table", "all")
    for x in _SUBNETS:
        if not re.search(rf"(^|\s)10\.{x}\.", used, re.MULTILINE):
            return x
    raise NetnsError("no free 10.X.0.0/24 subnet for a test network (200 <= X < 255)")


class Network:
    """Hosts `hosts` (short names, e.g. "db", "w1") on one bridge; a context manager."""

    def __init__(self, hosts: Sequence[str]) -> None:
        if len(set(hosts)) != len(hosts) or SWITCH in hosts or not hosts:
            raise ValueError(f"hosts must be distinct, not empty and not {SWITCH!r}: {hosts}")
        if len(hosts) >= ROOT_HOST_NUMBER:
            raise ValueError("too many hosts for a /24")
        for host in hosts:
            if not re.fullmatch(r"[a-z][a-z0-9]{0,7}", host):
                raise ValueError(f"host name {host!r}: 1-8 lowercase letters and digits")
        self.hosts = list(hosts)
        self.tag = f"{PREFIX}{os.getpid()}"
        self.subnet = -1
        self._created: list[str] = []
        self._root_link: str | None = None
        self._cut: dict[str, CutMethod] = {}

    # -- names and addresses -------------------------------------------------------------

    def namespace(self, host: str) -> str:
        if host != SWITCH and host not in self.hosts:
            raise KeyError(host)
        return f"{self.tag}-{host}"

    def address(self, host: str) -> str:
        """The host's IPv4 address on the test network."""
        return f"10.{self.subnet}.0.{self.hosts.index(host) + 1}"

    @property
    def root_address(self) -> str:
        """The test process's own address on the test network (the root namespace)."""
        return f"10.{self.subnet}.0.{ROOT_HOST_NUMBER}"

    def exec_prefix(self, host: str) -> list[str]:
        """Prefix a command with this to run it on `host`."""
        return ["ip", "netns", "exec", self.namespace(host)]

    def run(self, host: str, *command: str, check: bool = True, timeout: float = 30) -> str:
        return _run([*self.exec_prefix(host), *command], check=check, timeout=timeout)

    # -- faults --------------------------------------------------------------------------

    def cut(self, host: str, method: CutMethod = "link") -> None:
        """Cut `host` off from every other host and from the test process."""
        if host in self._cut:
            raise NetnsError(f"{host} is already cut off")
        port = _port(host)
        if method == "link":
            ip("-n", self.namespace(SWITCH), "link", "set", port, "down")
        else:
            if not netem_available():
                raise NetnsError("tc netem is not available here (no sch_netem module)")
            # Both directions: the switch's port (towards the host) and the host's eth0.
            for namespace, device in ((SWITCH, port), (host, "eth0")):
                command = ["tc", "qdisc", "add", "dev", device, "root", "netem", "loss", "100%"]
                _run(["ip", "netns", "exec", self.namespace(namespace), *command])
        self._cut[host] = method

    def restore(self, host: str) -> None:
        method = self._cut.pop(host, None)
        if method is None:
            raise NetnsError(f"{host} is not cut off")
        port = _port(host)
        if method == "link":
            ip("-n", self.namespace(SWITCH), "link", "set", port, "up")
        else:
            for namespace, device in ((SWITCH, port), (host, "eth0")):
                command = ["tc", "qdisc", "del", "dev", device, "root"]
                _run(["ip", "netns", "exec", self.namespace(namespace), *command])

    @contextlib.contextmanager
    def cut_off(self, host: str, method: CutMethod = "link") -> Iterator[None]:
        self.cut(host, method)
        try:
            yield
        finally:
            self.restore(host)

    def reachable(self, host: str, *, timeout: float = 1) -> bool:
        """Whether `host` answers from the root namespace: a TCP connection to a port nothing
        listens on is refused (the host's kernel replied) rather than timing out."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(timeout)
            try:
                probe.connect((self.address(host), _CLOSED_PORT))
            except ConnectionRefusedError:
                return True
            except OSError:
                return False
        return True

    # -- life cycle ----------------------------------------------------------------------

    def create(self) -> None:
        remove_leftovers()
        for name in (self.namespace(SWITCH), *map(self.namespace, self.hosts)):
            if name in _namespaces():  # left by this very process, before a crash
                _delete_namespace(name)
        with _setup_lock():
            self.subnet = _free_subnet()
            switch = self.namespace(SWITCH)
            self._add_namespace(switch)
            ip("-n", switch, "link", "add", "name", "br0", "type", "bridge")
            ip("-n", switch, "link", "set", "br0", "up")
            for host in self.hosts:
                namespace = self.namespace(host)
                self._add_namespace(namespace)
                port = _port(host)
                peer = ["peer", "name", "eth0", "netns", namespace]
                ip("-n", switch, "link", "add", "name", port, "type", "veth", *peer)
                ip("-n", switch, "link", "set", port, "master", "br0", "up")
                ip("-n", namespace, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
                ip("-n", namespace, "link", "set", "eth0", "up")
            # The test process's own port: created in the switch, its end then moved to this
            # process's namespace (a crash in between leaves nothing outside the namespaces).
            self._root_link = self.tag
            ip(
                "-n",
                switch,
                "link",
                "add",
                "name",
                "p-root",
                "type",
                "veth",
                "peer",
                "name",
                self.tag,
            )
            ip("-n", switch, "link", "set", self.tag, "netns", str(os.getpid()))
            ip("-n", switch, "link", "set", "p-root", "master", "br0", "up")
            ip("addr", "add", f"{self.root_address}/24", "dev", self.tag)
            ip("link", "set", self.tag, "up")
        self._wait_until_connected()

    def _add_namespace(self, namespace: str) -> None:
        ip("netns", "add", namespace)
        self._created.append(namespace)
        ip("-n", namespace, "link", "set", "lo", "up")

    def _wait_until_connected(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        for host in self.hosts:
            while not self.reachable(host):
                if time.monotonic() > deadline:
                    raise NetnsError(f"{host} ({self.address(host)}) does not answer a ping")
                time.sleep(0.1)

    def close(self) -> None:
        """Kill what still runs on the hosts; remove the namespaces and the root's link."""
        problems = []
        for namespace in reversed(self._created):
            try:
                _delete_namespace(namespace)
            except (NetnsError, OSError, subprocess.SubprocessError) as exc:
                problems.append(str(exc))
        self._created.clear()
        if self._root_link is not None:
            # Gone with the switch namespace already (its peer was there); just in case.
            ip("link", "delete", self._root_link, check=False)
            self._root_link = None
        self._cut.clear()
        if problems:
            raise NetnsError("; ".join(problems))

    def __enter__(self) -> Self:
        try:
            self.create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _port(host: str) -> str:
    return f"p-{host}"
