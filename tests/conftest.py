import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def snakemake_cmd() -> list[str]:
    exe = VENV_BIN / "snakemake"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "snakemake"]


def run_snakemake(args: list[str], cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(snakemake_cmd() + args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of the repository's tracked workflow files (no results), to run snakemake in isolation."""
    dst = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if not src.is_file() or f.startswith(("tests/", ".ci/")):
            continue
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / f)
    return dst
