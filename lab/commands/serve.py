"""``lab serve RUN... [--host H] [--port P] [--token T | --insecure]``: finished runs as a web service and a
web page (FastAPI on uvicorn: ``pip install 'the-lab[serve]'``)."""

import ipaddress
import os
import sys

from lab.errors import UsageError

try:  # the `serve` extra (FastAPI, uvicorn); without it `lab serve` says how to install it
    from lab.serve.app import create_app
    from lab.serve.runs import open_all
except ImportError as _missing:
    create_app = open_all = None
    MISSING = _missing.name

USES_TENSORFLOW = True

DESCRIPTION = """Serve finished runs over HTTP: a web page at / (recommendations in the Netflix manner, a
drawing pad that classifies as you draw, text that streams in as it is sampled, a VAE's samples and latent
space, the maze agent on a new maze) and a JSON API under /api/runs/<run>/... (its schema at /docs).

It binds 127.0.0.1 by default. Any other address needs --token (every API call then needs
`Authorization: Bearer <token>`; open the page as http://HOST:PORT/#token=<token>) or --insecure.

Examples:
  lab serve runs/<rbm-run> runs/<classifier-run> runs/<lm-run> runs/<vae-run> runs/<dqn-run>
  lab serve runs/<rbm-run> --host 0.0.0.0 --port 8080 --token "$(openssl rand -hex 16)"
  curl -s localhost:8000/api/runs"""


def add_arguments(p):
    p.add_argument("runs", nargs="+", metavar="RUN", help="finished run folders")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--token", help="require `Authorization: Bearer TOKEN` on every API call "
                                   "(default: the LAB_SERVE_TOKEN environment variable)")
    p.add_argument("--insecure", action="store_true", help="serve on a non-loopback address without a token")


def check_exposure(host: str, token: str | None, insecure: bool) -> None:
    """A non-loopback address needs a token or an explicit --insecure (a UsageError otherwise)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not token and not insecure:
        raise UsageError(f"--host {host} makes the runs reachable from other machines: give --token TOKEN "
                         f"(clients send `Authorization: Bearer TOKEN`), or --insecure to serve them to "
                         f"anyone")
    if token is not None and (len(token) < 8 or any(c.isspace() for c in token)):
        raise UsageError("--token: use at least 8 characters and no spaces")


def main(args) -> int:
    if create_app is None:
        raise UsageError(f"lab serve needs FastAPI and uvicorn ({MISSING} is missing): "
                         f"pip install 'the-lab[serve]'")
    import uvicorn

    token = args.token or os.environ.get("LAB_SERVE_TOKEN") or None
    check_exposure(args.host, token, args.insecure)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: give 0 ... 65535")
    runs = open_all(args.runs)
    app = create_app(runs, token)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    _announce(server, runs, args, token)
    server.run()
    return 0


def _announce(server, runs, args, token) -> None:
    """Print the address once uvicorn listens (with --port 0, the port it was given)."""
    started = server.startup

    async def startup(sockets=None):
        await started(sockets=sockets)
        port = next((s.getsockname()[1] for srv in server.servers for s in srv.sockets), args.port)
        where = f"http://{args.host}:{port}"
        print(f"serving {len(runs)} run(s) on {where}  (API schema at {where}/docs)", flush=True)
        if token is not None:
            print(f"the page: {where}/#token={token}", flush=True)
        if token is None and args.insecure:
            print("warning: --insecure: anyone who can reach this address can use these runs",
                  file=sys.stderr)

    server.startup = startup
