"""The committed gRPC stubs are exactly what the one command generates from
protos/, and grpcio-tools is pinned to the grpcio that runs them."""

from __future__ import annotations

import importlib.util
from importlib.metadata import version
from pathlib import Path

import grpc

from foundation_support import REPO

GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _gen_protos():
    spec = importlib.util.spec_from_file_location("gen_protos_under_test", REPO / "scripts" / "gen_protos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stubs(root: Path) -> dict[str, bytes]:
    found = {}
    for suffix in GENERATED_SUFFIXES:
        for path in (root / "switchboard").glob(f"*/v1/*{suffix}"):
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    gen = _gen_protos()
    protos = gen.proto_files()
    assert len(protos) >= 5, protos
    gen.generate(out=tmp_path)

    fresh, committed = _stubs(tmp_path), _stubs(REPO)
    # Three files per proto: messages, typing stubs, gRPC classes.
    assert len(fresh) == 3 * len(protos), sorted(fresh)
    assert sorted(fresh) == sorted(committed), "stubs missing or left over: run `make protos`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale stubs (run `make protos`): {stale}"


def test_grpcio_tools_is_pinned_to_grpcio() -> None:
    assert version("grpcio-tools") == version("grpcio") == grpc.__version__
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"grpcio-tools=={grpc.__version__}"' in pyproject
    assert f'"grpcio=={grpc.__version__}"' in pyproject
