"""Regenerate the Python stubs (``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py``).

One command for everyone: ``make protos`` (or ``python scripts/gen_protos.py``).
Stubs land in the ``switchboard`` package next to the shared runtime, mirroring
``protos/switchboard/<svc>/v1/``, so ``import switchboard.router.v1.router_pb2``
works. ``--out DIR`` writes elsewhere (the staleness test uses it).
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.glob("switchboard/**/*.proto"))


def include_dirs() -> list[str]:
    """Our protos, protobuf's well-known types, and google/api from googleapis-common-protos."""
    well_known = str(resources.files("grpc_tools") / "_proto")
    # googleapis-common-protos ships google/api/*.proto beside its modules
    # (google is a namespace package, so locate it through a module file).
    from google.api import annotations_pb2  # noqa: PLC0415

    googleapis = str(Path(annotations_pb2.__file__).resolve().parent.parent.parent)
    return [str(PROTO_ROOT), well_known, googleapis]


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = ["grpc_tools.protoc"]
    args += [f"-I{d}" for d in include_dirs()]
    args += [f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed (see the messages above)")
    # Make every generated directory an importable package.
    for proto in files:
        pkg = out / Path(proto).parent
        while pkg != out:
            (pkg / "__init__.py").touch(exist_ok=True)
            pkg = pkg.parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: the repo)")
    generate(parser.parse_args(argv).out)


if __name__ == "__main__":
    sys.exit(main())
