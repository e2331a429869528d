"""Shared helpers of the router's integration tests: a TOML file of backends
pointing at fake backend servers, the router started on a real port, and
streams read to their end (events plus final status)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from services.router.settings import RouterSettings
from switchboard.testing.infra import free_port  # noqa: F401  (re-exported for the tests)
from switchboard.testing.mesh_files import write_backends  # noqa: F401
from switchboard.learning.v1 import learning_pb2 as L
from switchboard.learning.v1 import learning_pb2_grpc
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.clock import Clock
from switchboard.runtime.server import GrpcApp
from switchboard.runtime.settings import MeshSettings
from switchboard.runtime.tenant import TENANT_METADATA
from switchboard.testing.fake_backend import FakeBackend

CLOSED = "127.0.0.1:1"  # nothing listens here: a peer that is down



def fake_table(name: str, fake: FakeBackend, *, kind: str = "openai", priority: int = 10,
               first_token_s: float = 5.0, between_tokens_s: float = 5.0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "base_url": fake.url,
        "model": f"{name}-model",
        "priority": priority,
        "timeouts": {"connect_s": 2.0, "first_token_s": first_token_s, "between_tokens_s": between_tokens_s,
                     "total_s": 30.0},
        **extra,
    }


ServeFn = Callable[..., Awaitable[Any]]


@dataclass
class Router:
    running: Any
    stub: router_pb2_grpc.RouterServiceStub

    @property
    def app(self) -> Any:
        return self.running.app


async def start_router(
    serve: ServeFn,
    mesh_settings: MeshSettings,
    tmp_path: Path,
    tables: Sequence[Mapping[str, Any]] | None,
    *,
    clock: Clock | None = None,
    learning: str = CLOSED,
    cache: str = CLOSED,
    monitor: str = CLOSED,
    **overrides: Any,
) -> Router:
    """The router on a free port with `tables` as its [[backends]] (None: no file)."""
    config = write_backends(tmp_path / "switchboard.toml", tables) if tables is not None else None
    base = mesh_settings.model_dump()
    base.update(
        config=config,
        learning_address=learning,
        cache_address=cache,
        monitor_address=monitor,
        router_probe_ollama=False,
        # No shutdown flush unless a test asks: with learning down it would wait out its budget.
        router_outcome_flush_timeout_s=0,
    )
    base.update(overrides)
    settings = RouterSettings(**base)
    running = await serve("router", settings=settings, clock=clock)
    return Router(running, router_pb2_grpc.RouterServiceStub(running.channel))


@dataclass
class Streamed:
    events: list[router_pb2.GenerateResponse] = field(default_factory=list)
    code: grpc.StatusCode = grpc.StatusCode.OK
    details: str = ""

    def of(self, kind: str) -> list[Any]:
        return [getattr(e, kind) for e in self.events if e.WhichOneof("event") == kind]

    @property
    def kinds(self) -> list[str]:
        return [str(e.WhichOneof("event")) for e in self.events]

    @property
    def text(self) -> str:
        return "".join(t.text for t in self.of("token"))

    @property
    def start(self) -> router_pb2.StartEvent:
        return self.of("start")[0]

    @property
    def done(self) -> router_pb2.DoneEvent:
        return self.of("done")[0]

    @property
    def error(self) -> router_pb2.ErrorEvent:
        return self.of("error")[0]

    def assert_well_formed(self) -> None:
        """Start first, then exactly one terminal event, last."""
        kinds = self.kinds
        terminal = [k for k in kinds if k in ("done", "error")]
        assert len(terminal) == 1 and kinds[-1] == terminal[0], kinds
        if kinds[0] != "error":
            assert kinds[0] == "start" and kinds.count("start") == 1, kinds


async def generate(stub: router_pb2_grpc.RouterServiceStub, timeout: float | None = 20.0,
                   metadata: Any = None, **fields: Any) -> Streamed:
    out = Streamed()
    call = stub.Generate(router_pb2.GenerateRequest(**fields), timeout=timeout, metadata=metadata)
    try:
        async for event in call:
            out.events.append(event)
    except grpc.aio.AioRpcError as exc:
        out.code, out.details = exc.code(), exc.details() or ""
    return out


async def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class MemoryLearning(learning_pb2_grpc.LearningServiceServicer):
    """Enough of LearningService for the router: idempotent records and a fixed ranking."""

    def __init__(self, order: list[str] | None = None, delay_s: float = 0.0, *, draws: bool = True) -> None:
        self.interactions: dict[str, L.Interaction] = {}
        self.duplicates = 0
        self.order = order
        self.delay_s = delay_s
        self.recommend_requests: list[L.RecommendRequest] = []
        self.recommend_tenants: list[str] = []  # the tenant metadata of each Recommend
        self.draws = draws  # False: a learning that predates RecommendRequest.draws

    def _record(self, interaction: L.Interaction) -> L.InteractionAck:
        duplicate = interaction.interaction_id in self.interactions
        if duplicate:
            self.duplicates += 1
        else:
            self.interactions[interaction.interaction_id] = interaction
        return L.InteractionAck(interaction_id=interaction.interaction_id, duplicate=duplicate,
                                durability=L.DURABILITY_STORED)

    async def RecordInteractions(self, request, context):  # noqa: N802
        acks = [self._record(i) for i in request.interactions]
        return L.RecordInteractionsResponse(acks=acks, counts=L.IngestCounts(received=len(acks)))

    async def RecordInteraction(self, request, context):  # noqa: N802
        return L.RecordInteractionResponse(ack=self._record(request.interaction))

    async def Recommend(self, request, context):  # noqa: N802
        self.recommend_requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.recommend_tenants.append(dict(context.invocation_metadata()).get(TENANT_METADATA, ""))
        names = list(request.candidate_backends)
        order = [n for n in (self.order or names) if n in names]
        order += [n for n in names if n not in order]
        return L.RecommendResponse(
            ranked=[L.BackendRecommendation(backend=n, rank=i + 1) for i, n in enumerate(order)],
            topic=request.topic or "general",
            draws=[L.RankingDraw(backends=order) for _ in range(request.draws if self.draws else 0)],
        )


async def serve_learning(serve, servicer: MemoryLearning):
    app = GrpcApp(
        service_names=[L.DESCRIPTOR.services_by_name["LearningService"].full_name],
        servicers=[(learning_pb2_grpc.add_LearningServiceServicer_to_server, servicer)],
    )
    return await serve("learning", app=app)
