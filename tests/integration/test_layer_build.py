"""shared/Makefile (SharedLayer's `sam build`) ships arm64 wheels with bytecode that Lambda
can use as is: one unchecked-hash .pyc for python3.11 beside every .py, so a cold start on
the read-only /opt compiles nothing. Installs from the package index, as `sam build` does."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.coldstart.test_layer_services import makefile_list

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # sam build runs the target in a copy of shared/ with ARTIFACTS_DIR set: do the same.
    work = tmp_path_factory.mktemp("layer")
    source = work / "shared"
    shutil.copytree(ROOT / "shared", source, ignore=shutil.ignore_patterns("__pycache__", ".layer-build"))
    artifacts = work / "artifacts"
    proc = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "build-SharedLayer",
            f"ARTIFACTS_DIR={artifacts}",
            f"PYTHON={sys.executable}",
        ],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return artifacts / "python"


def _pyc_flags(pyc: Path) -> tuple[bytes, int]:
    header = pyc.read_bytes()[:8]
    return header[:4], int.from_bytes(header[4:8], "little")


def test_every_module_has_unchecked_hash_bytecode_for_python311(layer: Path) -> None:
    sources = [p for p in layer.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 500 and (layer / "bcpoller" / "settings.py") in sources
    missing, wrong = [], []
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-311.pyc"
        if not pyc.exists():
            missing.append(source)
            continue
        magic, flags = _pyc_flags(pyc)
        # flags 0b01: hash-based and not checked against the source (PEP 552).
        if magic != importlib.util.MAGIC_NUMBER or flags != 0b01:
            wrong.append((source, magic, flags))
    assert not missing, f"{len(missing)} modules without bytecode, e.g. {missing[:3]}"
    assert not wrong, f"{len(wrong)} pycs not unchecked-hash for this Python, e.g. {wrong[:3]}"
    assert not [p for p in layer.rglob("*.pyc") if "cpython-311" not in p.name]


def test_native_wheels_are_for_lambdas_arm64(layer: Path) -> None:
    native = [p.name for p in layer.rglob("*.so")]
    assert any(name.startswith("_pydantic_core") for name in native)
    assert native and all("aarch64" in name for name in native), native


def test_only_the_called_services_models_ship(layer: Path) -> None:
    shipped = {p.name for p in (layer / "botocore" / "data").iterdir() if p.is_dir()}
    assert shipped == makefile_list("BOTOCORE_SERVICES")
    assert (layer / "botocore" / "data" / "endpoints.json").exists()
    assert {p.name for p in (layer / "boto3" / "data").iterdir()} == makefile_list("BOTO3_RESOURCES")


def test_the_domain_package_ships_whole(layer: Path) -> None:
    ours = {p.relative_to(ROOT / "shared").as_posix() for p in (ROOT / "shared" / "bcpoller").rglob("*.py")}
    shipped = {p.relative_to(layer).as_posix() for p in (layer / "bcpoller").rglob("*.py")}
    assert shipped == ours
