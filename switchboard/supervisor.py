"""`switchboard up`: every service as its own process on localhost, watched.

Starts the six, waits until each reports SERVING (grpc.health.v1; the gateway's
/healthz), prints one table and the router's backends (the mock labelled as such),
then restarts any process that exits unexpectedly
(exponential back-off, a restart budget) until SIGINT/SIGTERM, when it stops all
of them gracefully and leaves no process behind. It also restarts a process the
monitor reports NOT_SERVING or unreachable for too long (a SIGSTOPped one too)
and reports every restart to the monitor: see switchboard/healing.py. Children's
logs go to `<data_dir>/logs/<service>.log`; the supervisor's own lines go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from switchboard.clients.mesh_status import service_status
from switchboard.clients.router_backends import router_backends_line
from switchboard.healing import HealingConfig, HealthFeed, Verdict, monitor_channel, report_restart
from switchboard.mesh import SERVICES, ServiceEntry
from switchboard.monitor.v1 import monitor_pb2
from switchboard.restart_policy import RestartPolicy
from switchboard.runtime.clock import Clock, SystemClock
from switchboard.runtime.lifeline import SUPERVISOR_PID_ENV
from switchboard.runtime.settings import MeshSettings, SettingsError
from switchboard.table import render

log = logging.getLogger("switchboard.up")


@dataclass
class Child:
    entry: ServiceEntry
    policy: RestartPolicy
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    gave_up: bool = False
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)
    spawned_at: float = 0.0  # monotonic time of the latest start
    seen_serving: bool = False  # answered SERVING since the latest start
    killed_for: Verdict | None = None  # set when the healer killed it for bad health


class StartupFailed(Exception):
    pass


class Supervisor:
    def __init__(
        self,
        settings: MeshSettings,
        *,
        clock: Clock | None = None,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        ready_timeout_s: float = 30.0,
        out: Callable[[str], None] = print,
        healing: HealingConfig | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock or SystemClock()
        self._python = python
        self._env = dict(os.environ if env is None else env)
        self._ready_timeout_s = ready_timeout_s
        self._out = out
        self._stopping = False
        self.log_dir = Path(settings.data_dir) / "logs"
        self.children = {e.name: Child(e, RestartPolicy(self._clock)) for e in SERVICES}
        self._status: dict[str, str] = {}
        # Self-healing (switchboard/healing.py): restart what the monitor reports
        # NOT_SERVING/unreachable too long, and report restarts to it. Off when None.
        self._healing = healing
        self._feed: HealthFeed | None = None
        self._monitor_channel: grpc.aio.Channel | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Starts everything and returns once all are SERVING; raises StartupFailed."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children.values():
            await self._spawn(child)
        await self._wait_ready()
        for child in self.children.values():
            child.watcher = asyncio.create_task(self._watch(child))
        if self._healing is not None:
            self._monitor_channel = monitor_channel(self._settings)
            self._feed = HealthFeed(self._monitor_channel, self._clock, self._healing)
            self._keep(self._feed.run())
            self._keep(self._heal(self._healing))

    async def stop(self) -> None:
        """SIGTERM to every child, wait out their grace, SIGKILL what is left."""
        self._stopping = True
        for child in self.children.values():
            if child.watcher is not None:
                child.watcher.cancel()
        for task in list(self._background):
            task.cancel()
        if self._monitor_channel is not None:
            await self._monitor_channel.close()
        procs = [c.process for c in self.children.values() if c.process and c.process.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = self._settings.shutdown_grace_s + 5.0
        waits = [asyncio.wait_for(p.wait(), deadline) for p in procs]
        for proc, result in zip(procs, await asyncio.gather(*waits, return_exceptions=True), strict=True):
            if isinstance(result, BaseException):
                log.warning("child did not stop in time; killing it (pid %s)", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    def table(self) -> str:
        rows = []
        for child in self.children.values():
            name = child.entry.name
            pid = child.process.pid if child.process else "-"
            rows.append([name, self._settings.address_of(name), self._status.get(name, "?"), pid])
        return render(["service", "address", "status", "pid"], rows)

    # -- internals -----------------------------------------------------------

    async def _spawn(self, child: Child) -> None:
        name = child.entry.name
        env = {**self._env, SUPERVISOR_PID_ENV: str(os.getpid())}
        logfile = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (handed to the child)
        try:
            child.process = await asyncio.create_subprocess_exec(
                self._python, "-m", child.entry.module,
                env=env, stdin=asyncio.subprocess.DEVNULL, stdout=logfile, stderr=logfile,
            )
        finally:
            logfile.close()
        child.policy.started()
        child.spawned_at = self._clock.monotonic()
        child.seen_serving = False
        child.killed_for = None
        if self._feed is not None:
            self._feed.restarted(name)
        log.info("started %s (pid %s)", name, child.process.pid)

    async def _wait_ready(self) -> None:
        self._status = {}
        deadline = self._clock.monotonic() + self._ready_timeout_s
        pending = dict(self.children)
        while pending:
            for name, child in list(pending.items()):
                assert child.process is not None
                if child.process.returncode is not None:
                    raise StartupFailed(
                        f"{name} exited with code {child.process.returncode} while starting; "
                        f"last lines of {self.log_dir / (name + '.log')}:\n{self._tail(name)}"
                    )
                status = await service_status(child.entry, self._settings, timeout=0.5)
                self._status[name] = status
                if status == "SERVING":
                    del pending[name]
            if not pending:
                return
            if self._clock.monotonic() > deadline:
                raise StartupFailed(
                    f"not SERVING after {self._ready_timeout_s:.0f} s: "
                    + ", ".join(f"{n} ({self._status.get(n)})" for n in pending)
                )
            await self._clock.sleep(0.1)

    async def _watch(self, child: Child) -> None:
        """Restarts `child` whenever it exits, until stopping or out of budget."""
        name = child.entry.name
        while not self._stopping:
            assert child.process is not None
            code = await child.process.wait()
            if self._stopping:
                return
            self._status[name] = "EXITED"
            old_pid, killed_for = child.process.pid, child.killed_for
            delay = child.policy.next_delay()
            if delay is None:
                child.gave_up = True
                log.error(
                    "%s exited with code %s; restart budget spent (%s restarts in %.0f s): not restarting",
                    name, code, child.policy.budget, child.policy.window_s,
                )
                self._report(child, old_pid, killed_for, code, 0.0, budget_exhausted=True)
                return
            child.restarts += 1
            log.warning("%s exited with code %s; restarting in %.1f s (restart #%s)", name, code, delay, child.restarts)
            await self._clock.sleep(delay)
            if self._stopping:
                return
            await self._spawn(child)
            self._status[name] = "STARTING"
            self._report(child, old_pid, killed_for, code, delay)

    # -- self-healing (see switchboard/healing.py) -----------------------------

    def _keep(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _heal(self, config: HealingConfig) -> None:
        """SIGKILLs a child the monitor has reported bad for too long (a stopped
        process too); `_watch` then restarts it with back-off and budget."""
        assert self._feed is not None
        while not self._stopping:
            await self._clock.sleep(0.2)
            now = self._clock.monotonic()
            for child in self.children.values():
                proc = child.process
                if proc is None or proc.returncode is not None or child.killed_for is not None:
                    continue
                if now - child.spawned_at < config.grace_s:
                    continue
                if not child.seen_serving:
                    # A slow start (a busy host) is not a failure: leave a child
                    # alone until it first answers SERVING or the start-up
                    # allowance runs out.
                    if await service_status(child.entry, self._settings, timeout=0.5) == "SERVING":
                        child.seen_serving = True
                    elif now - child.spawned_at < self._ready_timeout_s:
                        continue
                verdict = self._feed.verdict(child.entry.name)
                if verdict is None or verdict.bad_for_s < config.restart_after_s:
                    continue
                # Confirm first: the monitor's view of a freshly restarted child
                # can lag (its Watch reconnects with back-off), and killing a
                # healthy process on a stale report would loop restarts.
                if await service_status(child.entry, self._settings, timeout=1.0) == "SERVING":
                    log.info("%s: monitor reports %s but it answers SERVING; not restarting",
                             child.entry.name, verdict.detail)
                    self._feed.restarted(child.entry.name)  # its bad time starts over
                    continue
                if proc.returncode is not None or self._stopping:
                    continue
                child.killed_for = verdict
                log.warning("%s: %s for %.1f s; killing pid %s to restart it",
                            child.entry.name, verdict.detail, verdict.bad_for_s, proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()  # SIGKILL ends a SIGSTOPped process too

    def _report(self, child: Child, old_pid: int, killed_for: Verdict | None, code: int, delay: float,
                *, budget_exhausted: bool = False) -> None:
        """ReportRestart to the monitor, in the background (never delays a restart)."""
        if self._monitor_channel is None:
            return
        if killed_for is not None:
            reason, detail = killed_for.reason, f"{killed_for.detail} for {killed_for.bad_for_s:.1f} s"
        else:
            reason, detail = monitor_pb2.RESTART_REASON_PROCESS_EXITED, f"exit code {code}"
        self._keep(report_restart(
            self._monitor_channel,
            service=child.entry.name,
            pid=0 if budget_exhausted or child.process is None else child.process.pid,
            previous_pid=old_pid,
            reason=reason,
            detail=detail,
            attempt=child.policy.restarts_in_window,
            backoff_s=delay,
            budget_exhausted=budget_exhausted,
        ))

    def _tail(self, name: str, lines: int = 15) -> str:
        path = self.log_dir / f"{name}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _say(text: str) -> None:
    # Flushed: stdout is often a pipe (`| tee`, a test), and the table must show
    # while the mesh runs, not when it exits.
    print(text, flush=True)


async def run_up(settings: MeshSettings, out: Callable[[str], None] = _say) -> int:
    """The whole of `switchboard up`: start, print the table, supervise until a signal."""
    try:
        healing = HealingConfig.from_environment()
    except SettingsError as exc:
        out(f"switchboard up: {exc}")
        return 2
    sup = Supervisor(settings, out=out, healing=healing, ready_timeout_s=settings.up_ready_timeout_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sup.start()
    except StartupFailed as exc:
        log.error("startup failed: %s", exc)
        await sup.stop()
        out(sup.table())
        return 1
    out(sup.table())
    out(await router_backends_line(settings))  # says plainly when the answers come from the mock
    out(f"switchboard is up; logs in {sup.log_dir}. Ctrl-C stops everything.")
    await stop.wait()
    log.info("stopping all services")
    await sup.stop()
    log.info("all services stopped")
    return 0
