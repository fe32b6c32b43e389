"""``ferlite serve``: the emotion-aware web app on localhost."""

from __future__ import annotations

import argparse
import os
import sys

from ..core.errors import UsageError
from ..core.options import port_number
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
        help="also let pages of this origin (e.g. https://app.example.org) open the WebSocket; repeat for several "
        "(default: only the server's own page)",
    )
    p.add_argument("--max-clients", type=int, default=8, help="WebSocket clients served at once (default 8)")
    p.add_argument(
        "--api-key",
        default=os.environ.get("FERLITE_API_KEY"),
        help="key the REST calls (/v1/predict, /v1/analyze) need in an X-API-Key header (default: $FERLITE_API_KEY); "
        "required when --host is not this machine",
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
    for f in (args.ssl_certfile, args.ssl_keyfile):
        if f and not os.path.isfile(f):
            raise UsageError(f"{f}: file not found")
    _check_port_free(args.host, args.port)  # before the models load: one line, exit 2
    if args.threads is None:
        args.threads = 1
    from ..apps.web.app import LOCAL_HOSTS

    hosts = LOCAL_HOSTS + (() if args.host in LOCAL_HOSTS or args.host in ("0.0.0.0", "::") else (args.host,))
    if args.host in ("0.0.0.0", "::"):
        hosts = ("*",)  # every address of this machine: names cannot be listed in advance
    app = create_app(
        build_recognizer(args),
        max_fps=args.max_fps,
        max_bytes=args.max_bytes,
        max_side=args.max_side,
        allowed_hosts=hosts,
        allowed_origins=tuple(args.allow_origin),
        max_clients=args.max_clients,
        api_key=args.api_key,
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
    )
    return 0


def _check_port_free(host: str, port: int) -> None:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e} (another server there? try --port)") from None
