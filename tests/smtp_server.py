"""A real SMTP server on a loopback port for tests: scripted failures, recorded messages.

`SmtpTestServer` runs aiosmtpd's threaded `Controller` on 127.0.0.1 and a free port (the
listening socket is bound before the server starts, so there is no port race). Every
message it accepts is recorded with its envelope and parsed back into an `EmailMessage`
(`email.policy.default`). Tests script misbehaviour through `server.handler`:

- `reply_next("MAIL" | "RCPT" | "DATA", "451 4.3.0 Try later", times=N)`: answer the next
  N such commands with that reply instead of accepting (for DATA: after the body was
  read, as the reply to the final ".");
- `refuse_recipient(address)`: 550 at RCPT for that address, every time (or, with
  `times=N`, the next N times; give a 4xx `reply` for a temporary refusal);
- `drop_after_data(times=N)`: read and record the whole message, then close the
  connection without replying (the RFC 1047 window: the client cannot know the message
  was taken);
- `withhold_extension("8BITMIME")`: leave that keyword out of the EHLO reply;
- `stall_next("MAIL" | "RCPT" | "DATA", seconds)`: hold the reply to the next such command (for
  DATA: after the whole message was read and recorded) for that long; `handler.stalled`
  is set when the stall begins, so a test can act (kill the client) at exactly that point.

Options of `running_smtp_server`: `login=(user, password)` requires AUTH (PLAIN/LOGIN)
with that login before MAIL; `tls="starttls" | "implicit"` with a `TestCertificate`.
Certificates are self-signed, made at test time by the `openssl` command line tool (the
`cryptography` package is not installed in this project); the `test_certificate` fixture
skips the test when `openssl` is missing.

Also here: `silent_server()` (accepts TCP connections, never says a word) and
`closed_port()` (a loopback port nothing listens on).

Fixtures: `smtp_server` (plain, no AUTH) and `test_certificate` (session-wide). A test
module gets them with `from tests.smtp_server import smtp_server_fixture` (and
`test_certificate_fixture`), like `tests.http_server`.

With `login` and no STARTTLS, aiosmtpd warns ("Requiring AUTH while not requiring TLS",
UserWarning; "Session.login_data is deprecated", DeprecationWarning): modules using it
filter those two, as tests/test_smtp.py does.
"""

from __future__ import annotations

import asyncio
import email
import shutil
import socket
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
Command = Literal["MAIL", "RCPT", "DATA"]


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    # MAIL FROM parameters, upper-cased by aiosmtpd (e.g. "BODY=8BITMIME").
    mail_options: tuple[str, ...]
    rcpt_tos: tuple[str, ...]
    # The login the client authenticated as, or None without AUTH.
    login: str | None
    raw: bytes
    message: EmailMessage


class ScriptedHandler:
    """aiosmtpd handler: accepts and records mail unless a test scripted otherwise.

    Runs on the server's event-loop thread; tests script it from theirs, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: dict[Command, deque[str]] = {
            "MAIL": deque(),
            "RCPT": deque(),
            "DATA": deque(),
        }
        self._refused: dict[str, tuple[str, int | None]] = {}
        self._stalls: dict[Command, deque[float]] = {
            "MAIL": deque(),
            "RCPT": deque(),
            "DATA": deque(),
        }
        self.stalled = threading.Event()
        self._drops = 0
        self._withheld: set[str] = set()
        self._messages: list[ReceivedMessage] = []

    def reply_next(self, command: Command, reply: str, times: int = 1) -> None:
        with self._lock:
            self._replies[command].extend([reply] * times)

    def refuse_recipient(
        self, address: str, reply: str = "550 5.1.1 No such user here", times: int | None = None
    ) -> None:
        with self._lock:
            self._refused[address] = (reply, times)

    def stall_next(self, command: Command, seconds: float) -> None:
        with self._lock:
            self._stalls[command].append(seconds)

    async def _maybe_stall(self, command: Command) -> None:
        with self._lock:
            stalls = self._stalls[command]
            seconds = stalls.popleft() if stalls else None
        if seconds is not None:
            self.stalled.set()
            await asyncio.sleep(seconds)

    def drop_after_data(self, times: int = 1) -> None:
        with self._lock:
            self._drops += times

    def withhold_extension(self, keyword: str) -> None:
        with self._lock:
            self._withheld.add(keyword.upper())

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    def _scripted(self, command: Command) -> str | None:
        with self._lock:
            replies = self._replies[command]
            return replies.popleft() if replies else None

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        # With this hook aiosmtpd leaves recording the greeting to the handler.
        session.host_name = hostname
        with self._lock:
            withheld = set(self._withheld)
        # Lines look like "250-8BITMIME" or "250-AUTH LOGIN PLAIN"; the last, "250 HELP", stays.
        return [line for line in responses if line[4:].split(" ")[0].upper() not in withheld]

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        await self._maybe_stall("MAIL")
        scripted = self._scripted("MAIL")
        if scripted is not None:
            return scripted
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        await self._maybe_stall("RCPT")
        scripted = self._scripted("RCPT")
        if scripted is not None:
            return scripted
        with self._lock:
            reply, times = self._refused.get(address, (None, None))
            if reply is not None and times is not None:
                if times <= 1:
                    del self._refused[address]
                else:
                    self._refused[address] = (reply, times - 1)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        scripted = self._scripted("DATA")
        if scripted is not None:
            return scripted
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        auth = session.auth_data
        received = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            mail_options=tuple(envelope.mail_options),
            rcpt_tos=tuple(envelope.rcpt_tos),
            login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            raw=raw,
            message=parsed,
        )
        with self._lock:
            self._messages.append(received)
            drop = self._drops > 0
            if drop:
                self._drops -= 1
        await self._maybe_stall("DATA")
        if drop:
            assert server.transport is not None
            # Written after close(), the reply below is discarded: the client sees EOF.
            server.transport.close()
        return "250 2.0.0 Message accepted"


@dataclass(frozen=True)
class TestCertificate:
    """A self-signed certificate for CN=localhost, SAN DNS:localhost and IP:127.0.0.1."""

    __test__ = False  # not a test class, despite the name

    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Verifies the server against this certificate alone, hostname included."""
        return ssl.create_default_context(cafile=str(self.cert_path))


def make_test_certificate(directory: Path) -> TestCertificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("the openssl command line tool is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return TestCertificate(cert_path=cert, key_path=key)


class _LoopbackController(Controller):
    """A Controller serving on an already-bound socket, so port 0 needs no guessing."""

    def __init__(self, handler: ScriptedHandler, sock: socket.socket, **kwargs: Any) -> None:
        super().__init__(handler, hostname=HOST, port=sock.getsockname()[1], **kwargs)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SmtpTestServer:
    """A running loopback SMTP server; `host` and `port` say where."""

    def __init__(
        self,
        *,
        login: tuple[str, str] | None = None,
        tls: Literal["none", "starttls", "implicit"] = "none",
        certificate: TestCertificate | None = None,
    ) -> None:
        if tls != "none" and certificate is None:
            raise ValueError("TLS needs a certificate")
        self.handler = ScriptedHandler()
        self.host = HOST
        smtp_options: dict[str, Any] = {}
        if login is not None:
            smtp_options.update(
                authenticator=_fixed_login(*login),
                auth_required=True,
                # aiosmtpd sees implicit TLS as plaintext (it is done by the transport), so it
                # only insists on TLS for AUTH when STARTTLS is what provides it.
                auth_require_tls=tls == "starttls",
            )
        if tls == "starttls" and certificate is not None:
            smtp_options.update(tls_context=certificate.server_context(), require_starttls=True)
        if tls == "implicit" and certificate is not None:
            smtp_options["ssl_context"] = certificate.server_context()
        sock = socket.create_server((HOST, 0))
        self.port: int = sock.getsockname()[1]
        self._controller = _LoopbackController(self.handler, sock, **smtp_options)
        self._controller.start()

    @property
    def messages(self) -> list[ReceivedMessage]:
        return self.handler.messages

    def close(self) -> None:
        self._controller.stop()


def _fixed_login(user: str, password: str) -> Any:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data == LoginPassword(
            user.encode(), password.encode()
        )
        # handled=False: aiosmtpd itself then answers a failure with 535.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


@contextmanager
def running_smtp_server(
    *,
    login: tuple[str, str] | None = None,
    tls: Literal["none", "starttls", "implicit"] = "none",
    certificate: TestCertificate | None = None,
) -> Iterator[SmtpTestServer]:
    server = SmtpTestServer(login=login, tls=tls, certificate=certificate)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port whose listener never accepts: connects succeed, nothing is said."""
    with socket.create_server((HOST, 0)) as sock:
        yield sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (just released by the OS, so unlikely reused)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(name="smtp_server")
def smtp_server_fixture() -> Iterator[SmtpTestServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture(name="test_certificate", scope="session")
def test_certificate_fixture(tmp_path_factory: pytest.TempPathFactory) -> TestCertificate:
    try:
        return make_test_certificate(tmp_path_factory.mktemp("smtp-tls"))
    except FileNotFoundError as exc:
        pytest.skip(f"TLS tests need a self-signed certificate: {exc}")
