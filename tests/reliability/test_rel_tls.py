"""TLS and mutual TLS for the mesh's gRPC servers and clients, with
certificates made in the test: a TLS server serves a verified client and
refuses plaintext and wrong-CA callers; under tls_client_auth=require it also
refuses callers without a certificate, or with one from another CA; peer
channels, health checks and `switchboard up`/`status`/`chat` speak TLS when the
settings say so; bad TLS settings fail fast naming the variable."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rel_certs import Pki, make_pki
from rel_support import REPO, clean_env, read_up_table, record, stop_process
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.clients.health import check_address
from switchboard.clients.mesh_status import mesh_status
from switchboard.mesh import SERVICES
from switchboard.runtime.channels import PeerChannels, channel_credentials
from switchboard.runtime.settings import MeshSettings, SettingsError, load_settings
from switchboard.testing.infra import free_port

CACHE = "switchboard.cache.v1.CacheService"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_settings(tmp_path: Path, pki: Pki, *, client_auth: str = "none", **extra: object) -> MeshSettings:
    return MeshSettings(
        data_dir=tmp_path / "data", shutdown_grace_s=2.0, log_format="text",
        tls_cert_file=pki.server.cert, tls_key_file=pki.server.key, tls_ca_file=pki.ca.cert,
        tls_client_auth=client_auth, **extra,  # type: ignore[arg-type]
    )


async def call_stats(channel: grpc.aio.Channel) -> grpc.StatusCode:
    """A real RPC (cache Stats); its status code."""
    try:
        await cache_pb2_grpc.CacheServiceStub(channel).Stats(cache_pb2.StatsRequest(), timeout=3)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def secure(address: str, ca: Path, cert: Path | None = None, key: Path | None = None) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return grpc.aio.secure_channel(address, credentials)


async def test_tls_server_serves_verified_clients_and_refuses_plaintext_and_strangers(serve, tmp_path, pki) -> None:
    cache = await serve("cache", settings=tls_settings(tmp_path, pki))
    address = cache.address

    async with secure(address, pki.ca.cert) as channel:  # server-only TLS: no client certificate needed
        assert await call_stats(channel) == grpc.StatusCode.OK
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=CACHE), timeout=3)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

    async with grpc.aio.insecure_channel(address) as plaintext:
        assert await call_stats(plaintext) == grpc.StatusCode.UNAVAILABLE
    async with secure(address, pki.rogue_ca.cert) as wrong_ca:  # the server's certificate does not verify
        assert await call_stats(wrong_ca) == grpc.StatusCode.UNAVAILABLE

    # The bootstrap's own channel to it (RunningService.channel) follows the settings.
    assert await call_stats(cache.channel) == grpc.StatusCode.OK


async def test_mutual_tls_requires_a_client_certificate_from_the_ca(serve, tmp_path, pki) -> None:
    cache = await serve("cache", settings=tls_settings(tmp_path, pki, client_auth="require"))
    address = cache.address

    async with secure(address, pki.ca.cert, pki.client.cert, pki.client.key) as channel:
        assert await call_stats(channel) == grpc.StatusCode.OK
    async with secure(address, pki.ca.cert) as no_cert:
        assert await call_stats(no_cert) == grpc.StatusCode.UNAVAILABLE
    async with secure(address, pki.ca.cert, pki.rogue_client.cert, pki.rogue_client.key) as rogue:
        assert await call_stats(rogue) == grpc.StatusCode.UNAVAILABLE
    async with grpc.aio.insecure_channel(address) as plaintext:
        assert await call_stats(plaintext) == grpc.StatusCode.UNAVAILABLE


async def test_peer_channels_and_health_clients_follow_the_tls_settings(serve, tmp_path, pki) -> None:
    server_settings = tls_settings(tmp_path, pki, client_auth="require")
    cache = await serve("cache", settings=server_settings)
    peer = tls_settings(tmp_path, pki, client_auth="require", cache_address=cache.address)

    channels = PeerChannels(peer)  # what the router uses to reach the cache
    try:
        assert await call_stats(channels.channel("cache")) == grpc.StatusCode.OK
    finally:
        await channels.close()

    assert await check_address(cache.address, CACHE, 2.0, peer) == "SERVING"
    assert await check_address(cache.address, CACHE, 2.0) == "UNREACHABLE"  # plaintext probe
    ca_only = MeshSettings(data_dir=tmp_path / "d2", tls_ca_file=pki.ca.cert)  # a tool without a certificate
    assert channel_credentials(ca_only) is not None
    assert await check_address(cache.address, CACHE, 2.0, ca_only) == "UNREACHABLE"  # mTLS wants a certificate

    statuses = await mesh_status(peer, timeout=2.0)
    assert statuses["cache"] == "SERVING"


async def test_server_name_override_checks_the_named_host(serve, tmp_path, pki) -> None:
    cache = await serve("cache", settings=tls_settings(tmp_path, pki))
    # "localhost" is in the certificate: fine; a name it does not carry is refused.
    good = MeshSettings(data_dir=tmp_path / "g", tls_ca_file=pki.ca.cert, tls_server_name="localhost")
    bad = MeshSettings(data_dir=tmp_path / "b", tls_ca_file=pki.ca.cert, tls_server_name="elsewhere.example")
    assert await check_address(cache.address, CACHE, 2.0, good) == "SERVING"
    assert await check_address(cache.address, CACHE, 2.0, bad) == "UNREACHABLE"


def test_bad_tls_settings_fail_fast_naming_the_variable(tmp_path, pki, monkeypatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_TLS_CERT_FILE", str(pki.server.cert))
    with pytest.raises(SettingsError, match="SWITCHBOARD_TLS_KEY_FILE"):
        load_settings(MeshSettings)
    monkeypatch.setenv("SWITCHBOARD_TLS_KEY_FILE", str(pki.server.key))
    monkeypatch.setenv("SWITCHBOARD_TLS_CLIENT_AUTH", "require")
    with pytest.raises(SettingsError, match="SWITCHBOARD_TLS_CA_FILE"):
        load_settings(MeshSettings)
    monkeypatch.setenv("SWITCHBOARD_TLS_CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(SettingsError, match="SWITCHBOARD_TLS_CA_FILE"):
        load_settings(MeshSettings)
    monkeypatch.setenv("SWITCHBOARD_TLS_CA_FILE", str(pki.ca.cert))
    monkeypatch.setenv("SWITCHBOARD_TLS_CLIENT_AUTH", "sometimes")
    with pytest.raises(SettingsError, match="SWITCHBOARD_TLS_CLIENT_AUTH"):
        load_settings(MeshSettings)
    monkeypatch.setenv("SWITCHBOARD_TLS_CLIENT_AUTH", "require")
    settings = load_settings(MeshSettings)
    assert settings.tls_server and settings.tls_client


@pytest.mark.timeout(300)
async def test_switchboard_up_status_and_chat_over_mutual_tls(tmp_path, pki) -> None:
    """The whole mesh with mTLS on every gRPC hop: the supervisor's readiness
    checks, `switchboard status` and `switchboard chat` (gateway → router,
    router → cache/learning) all use the certificates; a plaintext probe is refused."""
    ports = {f"SWITCHBOARD_{s.name.upper()}_PORT": str(free_port()) for s in SERVICES}
    tls = {
        "SWITCHBOARD_TLS_CERT_FILE": str(pki.server.cert), "SWITCHBOARD_TLS_KEY_FILE": str(pki.server.key),
        "SWITCHBOARD_TLS_CA_FILE": str(pki.ca.cert), "SWITCHBOARD_TLS_CLIENT_AUTH": "require",
    }
    env = clean_env(SWITCHBOARD_DATA_DIR=str(tmp_path / "data"), SWITCHBOARD_SHUTDOWN_GRACE_S="3",
                    SWITCHBOARD_ROUTER_PROBE_OLLAMA="false", **ports, **tls)
    up = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.cli", "up", env=env, cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    started = time.monotonic()
    try:
        table = await read_up_table(up, timeout=90)
        up_s = time.monotonic() - started
        assert all(row[1] == "SERVING" for row in table.values()), table

        status = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "switchboard.cli", "status", env=env, cwd=REPO,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(status.communicate(), 30)
        assert status.returncode == 0, out.decode() + err.decode()

        chat = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "switchboard.cli", "chat", "hello over mutual TLS", "--timeout", "20",
            env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(chat.communicate(), 40)
        assert chat.returncode == 0 and out.strip(), out.decode() + err.decode()

        router = f"127.0.0.1:{ports['SWITCHBOARD_ROUTER_PORT']}"
        assert await check_address(router, "switchboard.router.v1.RouterService", 2.0) == "UNREACHABLE"
    finally:
        stopping = time.monotonic()
        code = await stop_process(up, timeout=30)
        stop_s = time.monotonic() - stopping
    record("switchboard up with mutual TLS on every gRPC hop", all_serving_after_s=round(up_s, 1),
           status_exit=status.returncode, chat_exit=chat.returncode, plaintext_probe="UNREACHABLE",
           stopped_after_s=round(stop_s, 1), up_exit_code=code)
    assert code == 0
