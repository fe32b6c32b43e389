"""Running the app: which Host names it answers to, the checks that turn a wrong address, port or certificate into
one line before the models load, and uvicorn with the server's limits."""

from __future__ import annotations

import os
import socket
import ssl
from typing import Any

from ...core.errors import UsageError, stderr_reporter
from .guard import header_timeout_protocol

# Host names a local server answers to; another (a DNS-rebinding page's own name) is refused.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

say_on_stderr = stderr_reporter("serve")


def served_hosts(host: str, also: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The ``Host`` names a server bound to ``host`` answers to: this machine's own, the bound address, and with
    0.0.0.0 or :: this machine's names and addresses and ``also``; never "*", so DNS rebinding stays refused.

    Example:
        >>> served_hosts("192.168.1.5")
        ('127.0.0.1', 'localhost', '::1', '[::1]', '192.168.1.5')
    """
    if host in ("0.0.0.0", "::"):
        return LOCAL_HOSTS + machine_names() + tuple(also)
    return LOCAL_HOSTS + (() if host in LOCAL_HOSTS else (host,))


def machine_names() -> tuple[str, ...]:
    """This machine's host names and addresses, the Host headers that a server bound to every address answers to."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names |= {info[4][0] for info in socket.getaddrinfo(name, None)}
        except OSError:
            continue
    return tuple(sorted(n for n in names if n))


def check_server_settings(host: str, port: int, api_key: str | None, certfile: str | None, keyfile: str | None) -> None:
    """A :class:`UsageError` for settings the server would fail or be unsafe with; a warning when other machines can
    reach it."""
    if host not in LOCAL_HOSTS:
        say_on_stderr(f"binding to {host}: other machines can reach the page; frames travel unencrypted")
        if not api_key:
            raise UsageError(f"--host {host} lets other machines in: set --api-key (or FERLITE_API_KEY) for the REST calls")
    if bool(certfile) != bool(keyfile):
        raise UsageError("--ssl-certfile and --ssl-keyfile go together")
    if certfile and keyfile:
        check_tls_files(certfile, keyfile)
    check_port_free(host, port)


def check_tls_files(certfile: str, keyfile: str) -> None:
    """Load the certificate and key as the server will, so that a wrong file is one line now, not a traceback later."""
    for f in (certfile, keyfile):
        if not os.path.isfile(f):
            raise UsageError(f"{f}: no such file (or it is a folder)")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as e:
        raise UsageError(f"{certfile} / {keyfile}: not a PEM certificate and its private key ({e.strerror or e})") from None


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e} (another server there? try --port)") from None


def run_server(app: Any, host: str, port: int, max_bytes: int, certfile: str | None = None, keyfile: str | None = None) -> None:
    """Serve ``app`` until Ctrl-C. Messages far over ``max_bytes`` are cut off by the WebSocket protocol itself,
    before they reach the app; a client that is slow to send its headers is dropped (:mod:`.guard`)."""
    import uvicorn

    scheme = "https" if certfile else "http"
    say_on_stderr(f"open {scheme}://{host}:{port}/ (REST API: /docs; Ctrl-C stops)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        ws_max_size=max(2 * max_bytes, 1 << 20),
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        http=header_timeout_protocol(),
    )
