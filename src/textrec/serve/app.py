"""The web front end: a JSON API over :class:`Service` and one static page (``static/index.html``).

API (FastAPI documents it at ``/docs`` and ``/openapi.json``):

* ``POST /api/sessions`` ``{"text": "..."}`` (optional opening sentence) -> the session, its
  first item;
* ``GET /api/sessions/{id}`` -> the session: current item, conversation so far;
* ``GET /api/sessions/{id}/item`` -> the item on show (the next item after the last feedback);
* ``POST /api/sessions/{id}/feedback`` ``{"text": "..."}`` -> the session with the next item (a
  sentence such as "that's it" ends it as found);
* ``POST /api/sessions/{id}/show`` ``{"item_id": "..."}`` -> the session with an item it showed
  before on show again (the page's strip of recent items, "go back");
* ``POST /api/sessions/{id}/end`` ``{"found": true|false}`` -> ends and logs it;
* ``GET /api/items/{item_id}/image`` -> the item's picture (catalog items only; 404 when the
  catalog has no pictures);
* ``GET /api/catalog`` -> the catalog's attributes and the page's example sentences;
* ``GET /api/health`` -> catalog, policy, open sessions.

Every input is bounded: request bodies (``max_body_bytes``, 413), sentences
(:func:`~textrec.serve.session.clean_text`, 422), session ids (404 unless live), item ids (404
unless in the catalog). Finished sessions go to the log (:class:`~textrec.logs.append.SessionLog`)
as soon as they end; sessions evicted, expired or open at shutdown are logged as abandoned.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any, Generic, Literal, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from textrec.errors import InputError
from textrec.logs.append import FinishedSession, SessionLog
from textrec.serve.images import ItemImages
from textrec.serve.labels import attribute_label, value_label
from textrec.serve.session import (
    MAX_TEXT_CHARS,
    Context,
    Conversation,
    Picker,
    act_reader,
    describe,
    item_positions,
    run,
)
from textrec.serve.standing import Understood, Want, prepare
from textrec.serve.store import SessionStore, StoreConfig, UnknownSession
from textrec.serve.titles import CatalogWords
from textrec.simulator.task import TaskConfig

__all__ = [
    "Batcher",
    "LogBatcher",
    "PickBatcher",
    "ServeConfig",
    "Service",
    "create_app",
    "steps_run",
]

log = logging.getLogger(__name__)

DEVICE = "web"
"""Device name of web sessions in the log."""


@dataclass(frozen=True)
class ServeConfig:
    """Limits of the web server."""

    max_sessions: int = 1000
    """Sessions held at once (the one idle the longest is evicted beyond it)."""
    idle_seconds: float = 1800.0
    """Inactivity after which a session expires."""
    max_body_bytes: int = 4096
    """Largest request body accepted (413 beyond)."""
    expire_every: float = 30.0
    """Seconds between sweeps that expire idle sessions and log them."""
    batch_wait: float = 0.002
    """How long a batch of item choices lets the event loop read other requests first, so
    that they join it (seconds; see :class:`PickBatcher`)."""

    def __post_init__(self) -> None:
        StoreConfig(self.max_sessions, self.idle_seconds)  # validates both
        if self.max_body_bytes < 256:
            raise InputError(
                f"ServeConfig.max_body_bytes must be >= 256, got {self.max_body_bytes}"
            )
        if not self.expire_every > 0:
            raise InputError(f"ServeConfig.expire_every must be > 0, got {self.expire_every}")
        if not 0 <= self.batch_wait <= 1:
            raise InputError(f"ServeConfig.batch_wait must be in [0, 1] s, got {self.batch_wait}")


# ---------------------------------------------------------------------------------------- service
T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Calls of ``run`` on batches of items queued by many requests (asyncio).

    :meth:`submit` queues an item and awaits its result. One batch runs at a time, in a thread
    of its own, so that the event loop goes on reading the next requests meanwhile and the batch
    never waits for a free thread behind the requests' own steps (asyncio's shared pool has a
    few threads): it first lets the loop run for ``max_wait`` seconds (the requests being read
    now join it), then takes up to ``max_batch`` queued items and calls ``run`` once for all of
    them; what queues up while it runs is the next batch. A batch that fails fails its requests
    (each gets the exception), and the next batch goes on.
    """

    def __init__(
        self, run: Callable[[list[T]], list[R]], max_batch: int, max_wait: float, name: str
    ) -> None:
        if max_batch < 1:
            raise InputError(f"{type(self).__name__}: max_batch must be >= 1, got {max_batch}")
        if not 0 <= max_wait <= 1:
            raise InputError(f"{type(self).__name__}: max_wait must be in [0, 1] s, got {max_wait}")
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"textrec-{name}")
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        """How many batches of each size were run (for the load benchmark)."""

    async def submit(self, item: T) -> R:
        """``item``'s result, computed in a batch with others."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._queue:
            await asyncio.sleep(self.max_wait)
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            self.batch_sizes[len(batch)] += 1
            try:
                results = await asyncio.get_running_loop().run_in_executor(
                    self._thread, self.run, [x for x, _ in batch]
                )
            except Exception as exc:  # noqa: BLE001 -- handed to each waiting request
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():  # its request may have been cancelled
                    future.set_result(result)

    def close(self) -> None:
        """Stop the batches' thread (after the last batch)."""
        self._thread.shutdown()


class PickBatcher(Batcher[Context, str]):
    """Item choices of many sessions answered by one batched policy call: a :class:`Batcher`
    of :meth:`~textrec.serve.session.PolicyPicker.pick` (a batch of 32 costs about as much as
    two single choices)."""

    def __init__(self, picker: Picker, max_batch: int = 64, max_wait: float = 0.002) -> None:
        super().__init__(picker.pick, max_batch, max_wait, "picks")
        self.picker = picker

    async def pick(self, context: Context) -> str:
        """The next item of the conversation ``context``, chosen in a batch with others."""
        return await self.submit(context)


class LogBatcher(Batcher[FinishedSession, None]):
    """Finished sessions appended to the log in batches (group commit): a :class:`Batcher` of
    :meth:`~textrec.logs.append.SessionLog.append_many`, so that the sessions that end while a
    batch is written are written next as one shard, with one lock and two manifest writes for
    all of them, not a file each. A request's :meth:`write` returns once its session is in a
    listed shard (an append that fails fails the requests of its batch: nothing of it is
    listed)."""

    def __init__(self, log: SessionLog, max_batch: int = 1000) -> None:
        super().__init__(self._append, max_batch, 0.0, "log")
        self.log = log

    def _append(self, sessions: list[FinishedSession]) -> list[None]:
        self.log.append_many(sessions)
        return [None] * len(sessions)

    async def write(self, finished: FinishedSession) -> None:
        """Append ``finished`` to the log, in a batch with the sessions ending now."""
        await self.submit(finished)


async def steps_run(
    steps: Generator[Context, str, Any],
    batcher: PickBatcher,
    first: Context | StopIteration | None = None,
) -> Any:
    """:func:`~textrec.serve.session.run` for the event loop: the steps run in worker threads
    (reading a sentence, the reply), each item they ask for is chosen by ``batcher``, in a batch
    with other sessions' choices. ``first``: the steps' first yield, when the caller ran it."""
    step = await asyncio.to_thread(_advance, steps, None) if first is None else first
    while isinstance(step, Context):
        step = await asyncio.to_thread(_advance, steps, await batcher.pick(step))
    return step.value


def _advance(steps: Generator[Context, str, Any], item: str | None) -> Context | StopIteration:
    """The next item ``steps`` asks for (sent ``item``, the last one asked for), or its end
    (a StopIteration cannot cross into an asyncio future)."""
    try:
        return next(steps) if item is None else steps.send(item)
    except StopIteration as done:
        return done


class Service:
    """Sessions of one picker, their store and their log, served from one asyncio event loop.

    What a request does to its conversation (reading a sentence, the reply) runs in a worker
    thread, step by step (:func:`steps_run`); the items its steps ask for are chosen for all
    sessions together, one batched policy call at a time (:class:`PickBatcher`); the sessions
    that end are appended to the log together, one batch at a time (:class:`LogBatcher`). The
    requests of one session are served one at a time (an ``asyncio.Lock`` each); the store and
    the log have their own locks.
    """

    def __init__(
        self,
        picker: Picker,
        log_dir: SessionLog | None = None,
        config: ServeConfig | None = None,
        task: TaskConfig | None = None,
        policy_name: str = "",
    ) -> None:
        act_reader(picker)  # built now, not by the first sessions, all at once
        prepare(picker.catalog)
        self.log, self.config = log_dir, config or ServeConfig()
        self.picker = picker
        self.batcher = PickBatcher(picker, max_wait=self.config.batch_wait)
        self.logs = None if log_dir is None else LogBatcher(log_dir)
        self.task = task or TaskConfig()
        self.catalog = picker.catalog
        self.policy_name = policy_name
        self.images = ItemImages(self.catalog)
        self.words = CatalogWords(self.catalog)
        self.store = SessionStore(StoreConfig(self.config.max_sessions, self.config.idle_seconds))
        self._turns: weakref.WeakKeyDictionary[Conversation, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        opening = Conversation(picker, DEVICE, "", self.task, defer=True).opened
        run(opening, picker.pick)  # "nothing said" chosen now, then remembered

    def close(self) -> None:
        """Stop the batches' threads (after the last batches)."""
        self.batcher.close()
        if self.logs is not None:
            self.logs.close()

    def _opened(self, opening: str) -> tuple[Conversation, Context | StopIteration]:
        """A new conversation and its first step (one trip to a worker thread)."""
        conversation = Conversation(self.picker, DEVICE, opening, self.task, defer=True)
        return conversation, _advance(conversation.opened, None)

    async def start(self, opening: str = "") -> tuple[str, Conversation]:
        """A new session (its first item chosen in a batch); its id and the conversation."""
        conversation, first = await asyncio.to_thread(self._opened, opening)
        await steps_run(conversation.opened, self.batcher, first)
        token, gone = self.store.add(conversation)
        if gone:
            await asyncio.to_thread(self.abandon, gone)
        return token, conversation

    def get(self, token: str) -> Conversation:
        """The live session ``token`` (UnknownSession otherwise)."""
        return self.store.get(token)

    def _turn(self, conversation: Conversation) -> asyncio.Lock:
        return self._turns.setdefault(conversation, asyncio.Lock())

    async def say(self, token: str, text: str) -> Conversation:
        """Feedback on the item on show; the next item is chosen, or the session ends."""
        conversation = self.store.get(token)
        async with self._turn(conversation):
            await steps_run(conversation.saying(text), self.batcher)
        if conversation.finished is not None:
            await self._close(token, conversation.finished)
        return conversation

    async def show(self, token: str, item_id: str) -> Conversation:
        """Show again an item the session ``token`` showed before."""
        conversation = self.store.get(token)
        async with self._turn(conversation):
            with conversation.lock:
                conversation.show(item_id)
        return conversation

    async def end(self, token: str, found: bool) -> Conversation:
        """End the session ``token`` (found: the item on show is the one) and log it."""
        conversation = self.store.get(token)
        async with self._turn(conversation):
            with conversation.lock:
                finished = conversation.finish(found)
        await self._close(token, finished)
        return conversation

    def abandon(self, conversations: list[Conversation]) -> None:
        """Log sessions that ended without their person saying so (evicted, expired, shutdown),
        in one append."""
        finished = []
        for c in conversations:
            with c.lock:
                if c.finished is None:
                    finished.append(c.finish(found=False))
        if self.log is None or not finished:
            return
        try:
            self.log.append_many(finished)
        except OSError as exc:  # disk full, permissions: say so, keep serving
            log.error("%d abandoned sessions not logged: %s", len(finished), exc)

    async def _close(self, token: str, finished: FinishedSession) -> None:
        with contextlib.suppress(UnknownSession):
            self.store.pop(token)
        if self.logs is None:
            return
        try:
            await self.logs.write(finished)
        except OSError as exc:  # disk full, permissions: say so, keep serving
            log.error("session %s not logged: %s", finished.session_id, exc)
            raise HTTPException(503, f"the session ended but could not be logged: {exc}") from exc


# ---------------------------------------------------------------------------------------- models
class OpeningIn(BaseModel):
    """Body of ``POST /api/sessions``."""

    text: str = Field("", max_length=MAX_TEXT_CHARS, description="What the person looks for.")


class FeedbackIn(BaseModel):
    """Body of ``POST /api/sessions/{id}/feedback``."""

    text: str = Field(..., max_length=MAX_TEXT_CHARS, description="Feedback on the item on show.")


class ShowIn(BaseModel):
    """Body of ``POST /api/sessions/{id}/show``."""

    item_id: str = Field(..., max_length=200, description="An item this session showed before.")


class EndIn(BaseModel):
    """Body of ``POST /api/sessions/{id}/end``."""

    found: bool = Field(..., description="The item on show is the one ('this is it').")


class ItemOut(BaseModel):
    """An item as shown."""

    item_id: str
    title: str = Field(..., description='A one-line human name: "Women\'s ankle boots, zipper".')
    attributes: dict[str, str] = Field(..., description="Attribute label -> stored value(s).")
    labels: dict[str, str] = Field(
        ..., description='Attribute label -> the value(s) in words ("lace-up, slip-on").'
    )
    image_url: str
    has_picture: bool
    picture: Literal["photo", "drawing", "none"] = Field(
        ...,
        description="A photo (136x102, best shown at an integer scale, pixels kept), a drawing "
        "(544x408, shown at half size) or none.",
    )


class TurnOut(BaseModel):
    """One shown item and what the person said about it (``""``: nothing yet)."""

    item: ItemOut
    feedback: str


class RequestOut(BaseModel):
    """One request of the shopper ("women", "not: lace-up"), with its human-readable names."""

    attribute: str
    attribute_label: str
    value: str
    value_label: str
    negated: bool = Field(..., description="The shopper does NOT want this value.")


class UnderstoodOut(BaseModel):
    """What the recommender took from the last sentence."""

    act: str = Field(
        ...,
        description="describe | feedback | accept | go_back | reject_all | restart | off_topic "
        "| not_understood",
    )
    kept: list[RequestOut] = Field(..., description="Requests read from the sentence and kept.")
    dropped: list[RequestOut] = Field(
        ..., description="Standing requests the sentence retracted or changed."
    )
    unsupported: list[str] = Field(
        ..., description="What the catalog lacks, e.g. 'this catalog has no colour'."
    )
    unmet: list[RequestOut] = Field(
        ..., description="Standing requests the item on show could not satisfy."
    )


class SessionOut(BaseModel):
    """A session's state."""

    session_id: str = Field(..., description="Secret id of this session (send it back).")
    opening: str
    turn: int = Field(..., description="Items shown so far.")
    max_turns: int
    item: ItemOut = Field(..., description="The item on show (the last one shown).")
    history: list[TurnOut]
    finished: bool
    found: bool | None = Field(None, description="Set once finished.")
    log_session_id: str = Field(..., description="The session's id in the experience log.")
    reply: str = Field(..., description="What the recommender says this turn (never empty).")
    understood: UnderstoodOut | None = Field(
        None, description="What was taken from the last sentence (None before any sentence)."
    )
    standing: list[RequestOut] = Field(..., description="Every request standing now.")


class AttributeOut(BaseModel):
    """One attribute of the catalog."""

    name: str
    label: str = Field(..., description='In words: "heel height".')
    values: list[str] = Field(..., description="Its values in words.")


class CatalogOut(BaseModel):
    """What the catalog holds, for the page's hints."""

    name: str
    n_items: int
    attributes: list[AttributeOut]
    describe_hint: str = Field(..., description="An example opening sentence from this catalog.")
    feedback_hint: str = Field(..., description="An example feedback sentence from this catalog.")


class HealthOut(BaseModel):
    """What the server serves."""

    status: str
    catalog: str
    n_items: int
    policy: str
    open_sessions: int
    max_sessions: int
    logging: bool
    batches: int = Field(..., description="Batches of item choices served so far.")
    picks: int = Field(..., description="Item choices made so far (picks / batches: mean batch).")


# ---------------------------------------------------------------------------------------- app
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_PAGE_CSP = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STATIC = {
    "app.js": "text/javascript",
    "style.css": "text/css",
    "favicon.svg": "image/svg+xml",
}


def _static(name: str) -> bytes:
    return resources.files("textrec.serve").joinpath("static", name).read_bytes()


def _item(service: Service, item_id: str) -> ItemOut:
    view = describe(service.catalog, item_id)
    words = service.words.item(item_positions(service.catalog)[item_id])
    images = service.images
    return ItemOut(
        item_id=view.item_id,
        title=words.title,
        attributes=view.attributes,
        labels=words.labels,
        image_url=f"/api/items/{view.item_id}/image",
        has_picture=images.has_pictures,
        picture="drawing" if images.drawn else "photo" if images.has_pictures else "none",
    )


def _request(service: Service, want: Want) -> RequestOut:
    schema = service.catalog.schema
    return RequestOut(
        attribute=want.attribute,
        attribute_label=attribute_label(schema, want.attribute),
        value=want.value,
        value_label=value_label(schema, want.attribute, want.value),
        negated=want.negated,
    )


def _understood(service: Service, u: Understood | None) -> UnderstoodOut | None:
    if u is None:
        return None
    return UnderstoodOut(
        act=u.act,
        kept=[_request(service, w) for w in u.kept],
        dropped=[_request(service, w) for w in u.dropped],
        unsupported=list(u.unsupported),
        unmet=[_request(service, w) for w in u.unmet],
    )


def _session_out(service: Service, token: str, c: Conversation) -> SessionOut:
    return SessionOut(
        session_id=token,
        opening=c.opening,
        turn=c.turn,
        max_turns=c.max_turns,
        item=_item(service, c.current),
        history=[
            TurnOut(item=_item(service, s), feedback=f)
            for s, f in zip(c.shown, c.feedback, strict=True)
        ],
        finished=c.finished is not None,
        found=None if c.finished is None else c.finished.found,
        log_session_id=c.session_id,
        reply=c.reply,
        understood=_understood(service, c.understood),
        standing=[_request(service, w) for w in c.standing],
    )


class _Guard:
    """ASGI middleware: security headers on every answer; 413 for a request body over ``limit``
    bytes (declared or streamed). Plain ASGI, so it costs next to nothing per request."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADER_BYTES]
            await send(message)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            too_big = JSONResponse({"detail": f"request body over {self.limit} bytes"}, 413)
            await too_big(scope, receive, with_headers)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited, with_headers)


_HEADER_BYTES = [(k.lower().encode(), v.encode()) for k, v in _SECURITY_HEADERS.items()]


def create_app(service: Service) -> FastAPI:
    """The FastAPI app serving ``service``: the API, the page and its two static files."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def sweep() -> None:
            while True:
                await asyncio.sleep(service.config.expire_every)
                await asyncio.to_thread(service.abandon, service.store.expire())

        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()
            service.abandon(service.store.drain())
            service.close()

    app = FastAPI(
        title="textrec",
        version="1",
        summary="Find a shoe by telling a recommender what to change.",
        lifespan=lifespan,
    )
    app.add_middleware(_Guard, limit=service.config.max_body_bytes)
    _add_error_handlers(app)
    _add_page(app, service)
    _add_api(app, service)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"detail": "one clear line"}``."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}"}, 422)

    @app.exception_handler(InputError)
    async def bad_input(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 422)

    @app.exception_handler(UnknownSession)
    async def unknown(_: Request, exc: UnknownSession) -> JSONResponse:
        return JSONResponse({"detail": "no such session (unknown, ended or expired)"}, 404)


def _add_page(app: FastAPI, service: Service) -> None:
    """``/``: the page (with a strict content security policy), its script, style and icon, and
    what it says about the catalog."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_static("index.html"), headers={"Content-Security-Policy": _PAGE_CSP})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in _STATIC:
            raise HTTPException(404, "no such file")
        return Response(_static(name), media_type=_STATIC[name])

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(_static("favicon.svg"), media_type=_STATIC["favicon.svg"])

    @app.get("/api/catalog")
    async def catalog() -> CatalogOut:
        """The catalog's attributes in words, and example sentences that only use them."""
        schema, words = service.catalog.schema, service.words
        return CatalogOut(
            name=service.catalog.name,
            n_items=service.catalog.n_items,
            attributes=[
                AttributeOut(
                    name=a.name,
                    label=words.attribute(a.name),
                    values=[words.value(a.name, v) for v in a.values],
                )
                for a in schema.attributes
            ],
            describe_hint=words.describe_hint,
            feedback_hint=words.feedback_hint,
        )


def _add_api(app: FastAPI, service: Service) -> None:
    """The JSON API (see the module docstring).

    The session routes are ``async``: they run on the event loop, the item choices of all
    sessions in batches (:class:`PickBatcher`) and log writes in worker threads.
    """

    @app.get("/api/health")
    async def health() -> HealthOut:
        """What is served, and how many sessions are open."""
        return HealthOut(
            status="ok",
            catalog=service.catalog.name,
            n_items=service.catalog.n_items,
            policy=service.policy_name,
            open_sessions=len(service.store),
            max_sessions=service.config.max_sessions,
            logging=service.log is not None,
            batches=sum(service.batcher.batch_sizes.values()),
            picks=sum(n * c for n, c in service.batcher.batch_sizes.items()),
        )

    @app.post("/api/sessions", status_code=201)
    async def create_session(body: OpeningIn | None = None) -> SessionOut:
        """Start a session (optionally with what the person looks for); its first item."""
        token, c = await service.start(body.text if body is not None else "")
        return _session_out(service, token, c)

    @app.get("/api/sessions/{session_id}")
    async def get_session(session_id: str) -> SessionOut:
        """The session: the item on show and the conversation so far."""
        return _session_out(service, session_id, service.get(session_id))

    @app.get("/api/sessions/{session_id}/item")
    async def next_item(session_id: str) -> ItemOut:
        """The item on show: the recommendation after the last feedback."""
        return _item(service, service.get(session_id).current)

    @app.post("/api/sessions/{session_id}/feedback")
    async def feedback(session_id: str, body: FeedbackIn) -> SessionOut:
        """Say what to change about the item on show; the next item ("that's it" ends it)."""
        return _session_out(service, session_id, await service.say(session_id, body.text))

    @app.post("/api/sessions/{session_id}/show")
    async def show(session_id: str, body: ShowIn) -> SessionOut:
        """Show again an item this session showed before (422 for any other item)."""
        return _session_out(service, session_id, await service.show(session_id, body.item_id))

    @app.post("/api/sessions/{session_id}/end")
    async def end(session_id: str, body: EndIn) -> SessionOut:
        """End the session: ``found`` if the item on show is the one. It is logged."""
        return _session_out(service, session_id, await service.end(session_id, body.found))

    @app.get(
        "/api/items/{item_id}/image",
        responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
    )
    def image(item_id: str) -> Response:
        """The picture of a catalog item: its photo as stored, or its drawing."""
        index = item_positions(service.catalog).get(item_id)
        if index is None:
            raise HTTPException(404, f"item id {item_id!r} is not in the catalog")
        picture = service.images.picture(index)
        if picture is None:
            raise HTTPException(404, f"catalog {service.catalog.name!r} has no pictures")
        return Response(
            picture.data,
            media_type=picture.media_type,
            headers={"Cache-Control": "public, max-age=86400"},
        )
