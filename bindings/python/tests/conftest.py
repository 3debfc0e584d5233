"""Shared helpers: the repository's fixtures, the `pvc` binary to compare with, and pyvene's
fixture models (rebuilt with models/pvc_fixtures.py, the script that exported the ONNX files)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
MODELS = ROOT / "models"
CASES = MODELS / "cases"
sys.path.insert(0, str(MODELS))


def pvc_bin() -> pathlib.Path:
    """The CLI built from the same checkout ($PVC_BIN, else target/debug/pvc)."""
    path = pathlib.Path(os.environ.get("PVC_BIN", ROOT / "target" / "debug" / "pvc"))
    if not path.is_file():
        pytest.fail(f"{path}: no pvc binary; build it (cargo build --locked) or set PVC_BIN")
    return path


def cli(*args, ok=True):
    """Runs `pvc ARGS`; returns (exit code, stderr)."""
    p = subprocess.run([str(pvc_bin()), *map(str, args)], capture_output=True, text=True)
    if ok and p.returncode != 0:
        pytest.fail(f"pvc {' '.join(map(str, args))} failed: {p.stderr}")
    return p.returncode, p.stderr
