"""The web service of ``lab serve``: JSON endpoints per kind of run, the web page, health checks.

Endpoints (``{run}`` is a served run folder's name; the OpenAPI schema is at ``/docs`` and
``/openapi.json``):

- ``GET /api/runs``: the served runs, their task, kind, figures and what their panel needs;
- ``POST /api/runs/{run}/predict``: JSON ``pixels`` (or a multipart ``file``) -> class probabilities;
- ``POST /api/runs/{run}/generate``: prompt, length, temperature, top-k, seed -> server-sent events, one
  per token, then ``event: done``; same seed, same text;
- ``POST /api/runs/{run}/recommend``: ``user`` or ``ratings`` (title -> stars), ``top`` -> picks with
  predicted stars and why; ``GET /api/runs/{run}/titles?q=`` searches titles;
- ``POST /api/runs/{run}/sample``: ``n``, ``seed``, ``temperature`` or ``latents`` -> PNG digits and codes;
- ``POST /api/runs/{run}/solve``: a maze ``seed`` and size (random-maze runs) -> the agent's path, max-Q
  and greedy action per tile, the optimal length;
- ``GET /health`` (the process answers) and ``GET /ready`` (every run is loaded);
- ``/``: the page (``lab/serve/static``: plain HTML, CSS and JavaScript, nothing fetched from outside).

Security: with a token every ``/api`` call needs ``Authorization: Bearer <token>`` (the page reads it from
``#token=...`` in its address). Clients name runs only by the names given at start: no path from a request
reaches the file system. Bodies are bounded (:data:`MAX_BODY` bytes; counts, sizes and lengths in
:data:`lab.serve.runs.LIMITS`). Every mistake a client can make is a 4xx JSON ``{"error": ...}``; anything
else is logged and answered 500 without a traceback. Model calls run in worker threads, off the event loop.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from lab import __version__
from lab.serve import runs as served_runs
from lab.serve.runs import LIMITS, ClientError, ServedRun

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 6 * 2**20
log = logging.getLogger("lab.serve")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictBody(Strict):
    pixels: list = Field(..., description="H rows of W grey values 0-255 (or [r, g, b] triples)")
    top: int = Field(3, ge=1, le=LIMITS["top"])
    invert: Literal["auto", True, False] = "auto"


class GenerateBody(Strict):
    prompt: str | None = Field(None, max_length=2000, description="default: the run's generate.prompt")
    length: int = Field(300, ge=1, le=LIMITS["length"])
    temperature: float = Field(0.8, gt=0, le=5)
    top_k: int | None = Field(None, ge=1, le=100_000)
    seed: int = Field(0, ge=0, le=2**31 - 1)


class RecommendBody(Strict):
    user: int | str | None = Field(None, description="a user id of the run's data")
    ratings: dict[str, float] | None = Field(None, max_length=500, description="title -> stars")
    top: int = Field(10, ge=1, le=LIMITS["top"])


class SampleBody(Strict):
    n: int = Field(16, ge=1, le=LIMITS["samples"])
    seed: int = Field(0, ge=0, le=2**31 - 1)
    temperature: float = Field(1.0, gt=0, le=3)
    latents: list[list[float]] | None = Field(None, max_length=LIMITS["samples"])


class SolveBody(Strict):
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    width: int | None = Field(None, ge=2, le=LIMITS["maze_side"])
    height: int | None = Field(None, ge=2, le=LIMITS["maze_side"])
    layout: str | None = Field(
        None,
        max_length=LIMITS["layout_chars"],
        description="a maze as text: '#' wall, '.' floor, 'S' start, 'G' goal",
    )


def create_app(runs: list[ServedRun], token: str | None = None) -> FastAPI:
    """The service for ``runs`` (opened: :func:`lab.serve.runs.open_all`)."""
    app = FastAPI(
        title="the lab",
        version=__version__,
        description="Finished runs of the lab as a web service: predict, generate, recommend, sample, solve.",
    )
    by_name = {r.name: r for r in runs}
    _errors(app)
    app.add_middleware(BoundedBody)
    api = [Depends(_auth(token))]

    def served(run: str) -> ServedRun:
        if run not in by_name:
            raise ClientError(f"no run named {run!r} is served; GET /api/runs lists them", "run", 404)
        return by_name[run]

    @app.get("/health", tags=["health"])
    async def health():  # on the event loop: never queued behind model calls in the worker threads
        return Answer({"status": "ok"})

    @app.get("/ready", tags=["health"])
    async def ready():
        return Answer({"status": "ready", "runs": len(by_name)})

    @app.get("/api/runs", dependencies=api, tags=["runs"])
    def list_runs():
        return Answer({"runs": [r.listing() for r in runs]})

    _routes(app, api, served)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    return app


def _routes(app: FastAPI, api, served) -> None:
    @app.post("/api/runs/{run}/predict", dependencies=api, tags=["classifier"], openapi_extra=PREDICT_BODY)
    async def predict(run: str, request: Request):
        """A picture's class probabilities: JSON ``pixels`` (PredictBody), or a PNG/JPEG as the multipart
        field ``file`` (with optional form field ``top``)."""
        target = served(run)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            image, top = await _upload(request)
            return Answer(await run_in_threadpool(served_runs.predict, target, image=image, top=top))
        body = _parse(PredictBody, await request.body())
        return Answer(
            await run_in_threadpool(
                served_runs.predict, target, pixels=body.pixels, top=body.top, invert=body.invert
            )
        )

    @app.post(
        "/api/runs/{run}/generate",
        dependencies=api,
        tags=["language model"],
        response_class=StreamingResponse,
    )
    def generate(run: str, body: GenerateBody):
        tokens = served_runs.generation(
            served(run), body.prompt, body.length, body.temperature, body.top_k, body.seed
        )
        return StreamingResponse(
            _events(tokens), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.post("/api/runs/{run}/recommend", dependencies=api, tags=["recommender"])
    def recommend(run: str, body: RecommendBody):
        return Answer(served_runs.recommend(served(run), user=body.user, ratings=body.ratings, top=body.top))

    @app.get("/api/runs/{run}/titles", dependencies=api, tags=["recommender"])
    def titles(
        run: str,
        q: str = Query("", max_length=LIMITS["query_chars"]),
        limit: int = Query(20, ge=1, le=LIMITS["titles"]),
    ):
        return Answer(served_runs.titles(served(run), q, limit))

    @app.post("/api/runs/{run}/sample", dependencies=api, tags=["vae"])
    def sample(run: str, body: SampleBody):
        return Answer(
            served_runs.sample(
                served(run), n=body.n, seed=body.seed, temperature=body.temperature, latents=body.latents
            )
        )

    @app.post("/api/runs/{run}/solve", dependencies=api, tags=["maze agent"])
    def solve(run: str, body: SolveBody):
        return Answer(
            served_runs.solve(
                served(run), seed=body.seed, width=body.width, height=body.height, layout=body.layout
            )
        )


PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PredictBody.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "a PNG or JPEG picture",
                        },
                        "top": {"type": "integer", "minimum": 1, "maximum": LIMITS["top"]},
                    },
                }
            },
        },
    }
}


async def _upload(request: Request) -> tuple[bytes, int]:
    form = await request.form(max_files=1, max_fields=4)
    file = form.get("file")
    if file is None or isinstance(file, str):
        raise ClientError("a multipart upload needs the picture in the field `file`", "file")
    data = await file.read(LIMITS["upload_bytes"] + 1)
    top = str(form.get("top") or "3")
    if not top.isdigit():
        raise ClientError(f"top {top!r}: give a whole number", "top")
    return data, int(top)


def _parse(model: type[BaseModel], raw: bytes):
    """A JSON body validated by ``model`` (a RequestValidationError, answered 422, when it is not)."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def _events(tokens):
    for item in tokens:
        if "done" in item:
            yield f"event: done\ndata: {json.dumps(item['done'])}\n\n"
        else:
            yield f"data: {json.dumps(item)}\n\n"


def _auth(token: str | None):
    def check(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise ClientError(
                "this service needs `Authorization: Bearer <token>` (the token given to lab serve --token)",
                "authorization",
                401,
            )

    return check


class Answer(JSONResponse):
    """A JSON answer written straight from plain data (FastAPI's encoder skipped: half the time of a small
    request here); NumPy scalars become numbers."""

    def render(self, content) -> bytes:
        return json.dumps(
            content,
            ensure_ascii=False,
            separators=(",", ":"),
            default=lambda o: o.item() if hasattr(o, "item") else str(o),
        ).encode("utf-8")


class BoundedBody:
    """413 for a request whose Content-Length is over MAX_BODY bytes (plain ASGI: no cost per request
    beyond reading one header)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                answer = Answer(
                    {
                        "error": f"the request body has {length.decode(errors='replace')} bytes; at "
                        f"most {MAX_BODY:,}"
                    },
                    413,
                )
                return await answer(scope, receive, send)
        await self.app(scope, receive, send)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ClientError)
    async def client_error(request: Request, exc: ClientError):
        return Answer({"error": exc.message, "setting": exc.setting}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        ]
        return JSONResponse({"error": "; ".join(problems), "problems": problems}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": str(exc.detail)}, exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("error answering %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error (the server's log has the details)"}, 500)
