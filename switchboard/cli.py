"""The `switchboard` command.

  switchboard up                      run the whole mesh on this machine
  switchboard serve <service> [--port N]
  switchboard status                  every service's health
  switchboard probe <service>         exit 0 if that service is SERVING (healthchecks)
  switchboard chat "question"         stream an answer through the router
  switchboard brief morning [--owner X]   print today's brief (afternoon, evening too)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from switchboard.mesh import BY_NAME, SERVICES
from switchboard.runtime.settings import MeshSettings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="The switchboard AI request mesh.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run one service in the foreground")
    serve.add_argument("service", choices=[s.name for s in SERVICES])
    serve.add_argument("--port", type=int, default=None, help="port to bind (0: any free port)")
    sub.add_parser("up", help="run all six services as separate processes, supervised")
    status = sub.add_parser("status", help="print every service's health")
    status.add_argument("--timeout", type=float, default=1.0, help="seconds per health check")
    probe = sub.add_parser(
        "probe", help="exit 0 if one service is SERVING (grpc.health.v1; the gateway's /healthz): for container healthchecks"
    )
    probe.add_argument("service", choices=[s.name for s in SERVICES])
    probe.add_argument("--timeout", type=float, default=2.0, help="seconds")
    chat = sub.add_parser("chat", help="stream an answer through the router")
    chat.add_argument("prompt")
    chat.add_argument("--user", default="", help="user id")
    chat.add_argument("--topic", default="", help="topic (default: classified by the router)")
    chat.add_argument("--backend", default="", help="pin one backend")
    chat.add_argument("--timeout", type=float, default=120.0, help="deadline in seconds")
    brief = sub.add_parser("brief", help="print today's morning, afternoon or evening brief")
    brief.add_argument("kind", choices=["morning", "afternoon", "evening"])
    brief.add_argument("--owner", default=None, help="owner id (default: $USER)")
    brief.add_argument("--tenant", default="default", help="tenant (x-switchboard-tenant)")
    brief.add_argument("--timeout", type=float, default=30.0, help="deadline in seconds per call")
    return parser


def _settings() -> MeshSettings:
    try:
        return load_settings(MeshSettings)
    except SettingsError as exc:
        raise SystemExit(f"switchboard: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from switchboard.runtime.entry import run_service  # noqa: PLC0415
        from switchboard.runtime.lifeline import bind_to_supervisor  # noqa: PLC0415

        if args.port is not None and not 0 <= args.port <= 65535:
            raise SystemExit(f"switchboard: --port {args.port}: must be 0–65535")
        bind_to_supervisor()
        return run_service(args.service, args.port)
    settings = _settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.command == "up":
        from switchboard.supervisor import run_up  # noqa: PLC0415

        return asyncio.run(run_up(settings))
    if args.command == "status":
        return asyncio.run(_status(settings, args.timeout))
    if args.command == "probe":
        from switchboard.clients.mesh_status import service_status  # noqa: PLC0415

        status = asyncio.run(service_status(BY_NAME[args.service], settings, args.timeout))
        print(f"{args.service}: {status}")
        return 0 if status == "SERVING" else 1
    if args.command == "chat":
        from switchboard.chat import chat  # noqa: PLC0415

        return asyncio.run(chat(settings, args.prompt, user=args.user, topic=args.topic,
                                backend=args.backend, timeout=args.timeout))
    if args.command == "brief":
        from switchboard.brief_cli import print_brief  # noqa: PLC0415

        owner = args.owner or os.environ.get("USER") or "default"
        return asyncio.run(print_brief(settings, args.kind, owner=owner, tenant=args.tenant, timeout=args.timeout))
    raise AssertionError(args.command)


async def _status(settings: MeshSettings, timeout: float) -> int:
    from switchboard.clients.mesh_status import mesh_status  # noqa: PLC0415
    from switchboard.table import render  # noqa: PLC0415

    statuses = await mesh_status(settings, timeout)
    rows = [[name, settings.address_of(name), status] for name, status in statuses.items()]
    print(render(["service", "address", "status"], rows))
    return 0 if all(s == "SERVING" for s in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
