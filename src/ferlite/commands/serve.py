"""``ferlite serve``: the emotion-aware web app on localhost."""

from __future__ import annotations

import argparse
import os
import sys

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
    p.set_defaults(threads=1)  # the models run on one worker thread that all clients share
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
        from ..apps.web.app import create_app
        from ..apps.web.server import check_server_settings, run_server, served_hosts
    except ModuleNotFoundError as e:
        print(f"ferlite serve: needs {e.name!r}; install the apps extra: pip install 'ferlite[apps]'", file=sys.stderr)
        return 2
    check_server_settings(args.host, args.port, args.api_key, args.ssl_certfile, args.ssl_keyfile)  # before the models
    app = create_app(
        build_recognizer(args),
        max_fps=args.max_fps,
        max_bytes=args.max_bytes,
        max_side=args.max_side,
        allowed_hosts=served_hosts(args.host, tuple(args.allow_host)),
        allowed_origins=tuple(args.allow_origin),
        max_clients=args.max_clients,
        api_key=args.api_key,
        max_upload_bytes=args.max_upload_bytes,
    )
    run_server(app, args.host, args.port, args.max_bytes, args.ssl_certfile, args.ssl_keyfile)
    return 0
