"""The wheel carries the built-in policies and schemas: build it, install it in a fresh venv,
and evaluate a built-in policy by id from another directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_evaluates_builtin_policy_by_id(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("recnav_rules-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    facts = elsewhere / "referral.json"
    facts.write_text((ROOT / "examples" / "hiu-referral.json").read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run(
        [str(bindir / "recnav-rules"), "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", "--json", "referral.json"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["outcome"] == "accept"
    assert decision["reference_data"]["gp_practices"]["as_of"] == "2020-01-01"
    listing = subprocess.run(
        [str(bindir / "python"), "-c", "import recnav_rules; print(sorted(p.id for p in recnav_rules.list_policies()))"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "bnssg-hiu-pilot" in listing.stdout and "somerset-waiting-list" in listing.stdout
    typed = subprocess.run(
        [str(bindir / "python"), "-c", "import importlib.resources as r; print(r.files('recnav_rules').joinpath('py.typed').is_file())"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    assert typed.stdout.strip() == "True"
