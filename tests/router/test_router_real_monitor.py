"""The router subscribed to the REAL monitor service (services/health), both
reading the same TOML file: a backend the monitor's probes find unhealthy is
skipped before any caller's request reaches it, and used again once the probes
pass. Also: the router asks for heartbeats, so a silent monitor stops steering."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import duration_pb2

from router_harness import eventually, fake_table, generate, start_router, write_backends
from services.health.settings import MonitorSettings
from switchboard.monitor.v1 import monitor_pb2 as M
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.router.v1 import router_pb2 as R
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.server import GrpcApp
from switchboard.testing.fake_backend import FakeBackend


async def health_of(router, name: str) -> int:
    listed = await router.stub.ListBackends(R.ListBackendsRequest(), timeout=5)
    return next(x.health for x in listed.backends if x.name == name)


async def until_health(router, name: str, health: int, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (seen := await health_of(router, name)) != health:
        if loop.time() > end:
            raise AssertionError(f"{name}: health {R.BackendHealth.Name(seen)}, expected {R.BackendHealth.Name(health)}")
        await asyncio.sleep(0.05)


def generations(fake: FakeBackend) -> int:
    return sum(1 for r in fake.requests if r.wire is not None)  # probes have no wire format


async def test_real_monitor_unhealthy_backend_is_skipped_then_used_again(serve, mesh_settings, tmp_path) -> None:
    async with FakeBackend(tokens=4) as a, FakeBackend(tokens=4) as b:
        tables = [fake_table("alpha", a, priority=1), fake_table("beta", b, priority=2)]
        config = write_backends(tmp_path / "switchboard.toml", tables)
        a.set_fault("http_error:503", probes=True)  # the monitor's probe (GET /v1/models) fails too
        monitor = await serve("monitor", settings=MonitorSettings(**{
            **mesh_settings.model_dump(),
            "config": config,
            "monitor_services": "",  # backends only
            "monitor_probe_interval_s": 0.2,
            "monitor_backend_timeout_s": 1.0,
            "monitor_startup_grace_s": 0.0,
        }))
        router = await start_router(serve, mesh_settings, tmp_path, tables, monitor=monitor.address,
                                    router_monitor_heartbeat_s=1.0)

        await until_health(router, "alpha", R.BACKEND_HEALTH_UNHEALTHY)
        assert await health_of(router, "beta") == R.BACKEND_HEALTH_HEALTHY
        out = await generate(router.stub, prompt="hello")
        assert out.code == grpc.StatusCode.OK and out.start.backend == "beta"
        assert [(x.backend, x.outcome, x.detail) for x in out.done.attempts] == [
            ("alpha", R.ATTEMPT_OUTCOME_SKIPPED, "monitor reports unhealthy"),
            ("beta", R.ATTEMPT_OUTCOME_SUCCESS, ""),
        ]
        assert generations(a) == 0  # skipped before any request reached it: nothing failed for the caller

        a.set_fault(None)
        await until_health(router, "alpha", R.BACKEND_HEALTH_HEALTHY)
        out = await generate(router.stub, prompt="hello again")
        assert out.start.backend == "alpha" and generations(a) == 1
        assert [x.outcome for x in out.done.attempts] == [R.ATTEMPT_OUTCOME_SUCCESS]


class SilentMonitor(monitor_pb2_grpc.MonitorServiceServicer):
    """Sends one view (honouring the heartbeat the router asked for) and then
    nothing more, with the stream left open: a monitor that hangs."""

    def __init__(self) -> None:
        self.requests: list[M.WatchBackendHealthRequest] = []

    async def WatchBackendHealth(self, request, context):  # noqa: N802
        self.requests.append(request)
        message = M.WatchBackendHealthResponse(
            backends=[M.BackendHealth(backend="alpha", status=M.TARGET_STATUS_UNHEALTHY)])
        if request.HasField("heartbeat_interval"):
            beat = request.heartbeat_interval.ToTimedelta().total_seconds()
            message.stale_after.CopyFrom(duration_pb2.Duration(seconds=int(2 * beat + 1)))
        yield message
        await asyncio.Event().wait()


async def test_router_asks_for_heartbeats_so_a_silent_monitor_goes_stale(serve, mesh_settings, tmp_path) -> None:
    clock = ManualClock()
    silent = SilentMonitor()
    monitor = await serve("monitor", app=GrpcApp(
        service_names=[M.DESCRIPTOR.services_by_name["MonitorService"].full_name],
        servicers=[(monitor_pb2_grpc.add_MonitorServiceServicer_to_server, silent)],
    ))
    async with FakeBackend(tokens=3) as a, FakeBackend(tokens=3) as b:
        router = await start_router(serve, mesh_settings, tmp_path,
                                    [fake_table("alpha", a, priority=1), fake_table("beta", b, priority=2)],
                                    monitor=monitor.address, clock=clock, router_monitor_heartbeat_s=2.0)
        await eventually(lambda: bool(silent.requests), what="the subscription")
        assert silent.requests[0].heartbeat_interval.ToTimedelta().total_seconds() == 2.0
        await until_health(router, "alpha", R.BACKEND_HEALTH_UNHEALTHY)
        assert (await generate(router.stub, prompt="hi")).start.backend == "beta"
        clock.advance(6)  # two heartbeats missed (stale after 2 * 2 + 1 s): the breakers decide alone
        assert await health_of(router, "alpha") == R.BACKEND_HEALTH_UNSPECIFIED
        assert (await generate(router.stub, prompt="hi")).start.backend == "alpha"
