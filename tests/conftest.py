import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_synthetic_ingest(d: Path, n_objects: int, seed: int, stamp: int = 8, max_epochs: int = 6):
    """A synthetic SDSS ingest in ``d`` (objects.parquet, stamps.h5); returns (objects, stamps)."""
    from transientrepro.convention.data import synthetic_ingest
    from transientrepro.io import write_parquet
    from transientrepro.sdss.stamp_store import save_stamps

    objects, stamps = synthetic_ingest(n_objects=n_objects, stamp=stamp, max_epochs=max_epochs, seed=seed)
    write_parquet(objects, d / "objects.parquet")
    save_stamps(d / "stamps.h5", stamps)
    return objects, stamps


def snakemake_cmd() -> list[str]:
    exe = VENV_BIN / "snakemake"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "snakemake"]


def run_snakemake(args: list[str], cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(snakemake_cmd() + args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def copy_repo(dst: Path) -> Path:
    """Copy the repository's tracked workflow files (no results) to ``dst``."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if not src.is_file() or f.startswith(("tests/", ".ci/")):
            continue
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / f)
    return dst


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of the repository's tracked workflow files (no results), to run snakemake in isolation."""
    return copy_repo(tmp_path / "repo")


TINY = "config/test_tiny.yaml"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """The whole workflow on the tiny config, once per test session, in a copy of the repository
    (shared by the end-to-end test and the HTML report test). Returns (repo copy, the run)."""
    repo = copy_repo(tmp_path_factory.mktemp("tiny") / "repo")
    res = run_snakemake(["--cores", "2", "--configfile", TINY], cwd=repo, timeout=1200)
    return repo, res
