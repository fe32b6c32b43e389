"""``ferlite serve``: the emotion-aware web app on localhost."""

from __future__ import annotations

import argparse
import os
import sys

from ..core.errors import UsageError
from ..core.options import port_number, positive_int
from ._common import add_runtime_args, build_recognizer


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    from ..apps.web import MAX_BYTES, MAX_FPS, MAX_SIDE

    p = argparse.ArgumentParser(
        prog="ferlite serve",
        description="Serve the emotion-aware web app: a page that captures the webcam in the browser and "
        "shows faces, emotions, a live mood bar and large captions. Binds to localhost by default.",
        add_help=add_help,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port_number, default=8000, help="TCP port (default 8000)")
    p.add_argument("--max-fps", type=float, default=MAX_FPS, help=f"frames per second accepted per client (default {MAX_FPS:g})")
    p.add_argument("--max-bytes", type=int, default=MAX_BYTES, help=f"largest frame message in bytes (default {MAX_BYTES})")
    p.add_argument("--max-side", type=int, default=MAX_SIDE, help=f"largest frame side in pixels (default {MAX_SIDE})")
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also let pages of this origin (e.g. https://app.example.org) call the server, REST and WebSocket; "
        "repeat for several (default: only the server's own page)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="with --host 0.0.0.0: also answer to this Host name (e.g. a DNS name of this machine); its own names and "
        "addresses are allowed already",
    )
    p.add_argument(
        "--max-upload-bytes",
        type=positive_int,
        default=50_000_000,
        help="largest upload of one REST request, in all (default 50000000); larger ones get 413 at once",
    )
    p.add_argument("--max-clients", type=int, default=8, help="WebSocket clients served at once (default 8)")
    p.add_argument(
        "--api-key",
        default=os.environ.get("FERLITE_API_KEY"),
        help="key that everything but the page's own files needs: an X-API-Key header, or ?key= in the page's address "
        "(default: $FERLITE_API_KEY); required when --host is not this machine",
    )
    p.add_argument(
        "--static-only",
        metavar="DIR",
        default=None,
        help="write the page as a folder for any static web host and exit: it runs on the visitor's device only "
        "(the models and onnxruntime-web included; DIR must be new or empty)",
    )
    p.add_argument("--ssl-certfile", default=None, help="serve HTTPS/WSS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", default=None, help="the certificate's private key (PEM)")
    add_runtime_args(p)
    return p


def main(args: argparse.Namespace) -> int:
    if args.static_only:
        from ..apps.web import write_static_site

        out = write_static_site(args.static_only, build_recognizer(args))
        print(
            f"ferlite serve: wrote the on-device page to {out}/ ; serve that folder from any static host, with the "
            "headers of its _headers file for WebAssembly threads",
            file=sys.stderr,
        )
        return 0
    try:
        import uvicorn

        from ..apps.web.app import create_app
        from ..apps.web.guard import header_timeout_protocol
    except ModuleNotFoundError as e:
        print(f"ferlite serve: needs {e.name!r}; install the apps extra: pip install 'ferlite[apps]'", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"ferlite serve: binding to {args.host}: other machines can reach the page; frames travel unencrypted",
            file=sys.stderr,
        )
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.api_key:
        raise UsageError(f"--host {args.host} lets other machines in: set --api-key (or FERLITE_API_KEY) for the REST calls")
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise UsageError("--ssl-certfile and --ssl-keyfile go together")
    if args.ssl_certfile:
        _check_tls_files(args.ssl_certfile, args.ssl_keyfile)
    _check_port_free(args.host, args.port)  # before the models load: one line, exit 2
    if args.threads is None:
        args.threads = 1
    from ..apps.web.app import LOCAL_HOSTS

    hosts = LOCAL_HOSTS + (() if args.host in LOCAL_HOSTS else (args.host,))
    if args.host in ("0.0.0.0", "::"):
        hosts = LOCAL_HOSTS + machine_names() + tuple(args.allow_host)  # never "*": DNS rebinding stays refused
    app = create_app(
        build_recognizer(args),
        max_fps=args.max_fps,
        max_bytes=args.max_bytes,
        max_side=args.max_side,
        allowed_hosts=hosts,
        allowed_origins=tuple(args.allow_origin),
        max_clients=args.max_clients,
        api_key=args.api_key,
        max_upload_bytes=args.max_upload_bytes,
    )
    scheme = "https" if args.ssl_certfile else "http"
    print(f"ferlite serve: open {scheme}://{args.host}:{args.port}/ (REST API: /docs; Ctrl-C stops)", file=sys.stderr)
    # Messages far over --max-bytes are cut off by the WebSocket protocol itself, before reaching the app.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        ws_max_size=max(2 * args.max_bytes, 1 << 20),
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        http=header_timeout_protocol(),
    )
    return 0


def machine_names() -> tuple[str, ...]:
    """This machine's host names and addresses, the Host headers that a server bound to every address answers to."""
    import socket

    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names |= {info[4][0] for info in socket.getaddrinfo(name, None)}
        except OSError:
            continue
    return tuple(sorted(n for n in names if n))


def _check_tls_files(certfile: str, keyfile: str) -> None:
    """Load the certificate and key as the server will, so that a wrong file is one line now, not a traceback later."""
    import ssl

    for f in (certfile, keyfile):
        if not os.path.isfile(f):
            raise UsageError(f"{f}: no such file (or it is a folder)")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as e:
        raise UsageError(f"{certfile} / {keyfile}: not a PEM certificate and its private key ({e.strerror or e})") from None


def _check_port_free(host: str, port: int) -> None:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e} (another server there? try --port)") from None
