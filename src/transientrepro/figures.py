"""Gather the PNGs rendered by the papermill notebooks into one ``figures/`` directory."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

from .io import atomic_path


def collect_figures(executed_notebooks: Iterable[str | Path], out_dir: str | Path, fig_root: str | Path = "results/figures") -> int:
    """Copy ``<fig_root>/<notebook stem minus _figures>/*.png`` to ``out_dir/<group>/``.

    The whole directory is built under a temporary name and renamed, so ``figures/`` is either
    complete or absent. Returns the number of figures.
    """
    n = 0
    with atomic_path(out_dir, suffix="") as tmp:
        tmp.mkdir(parents=True)
        for nb in executed_notebooks:
            group = Path(nb).stem.removesuffix("_figures")
            src = Path(fig_root) / group
            if not src.is_dir():
                raise FileNotFoundError(f"notebook {nb} rendered no figure directory {src}")
            pngs = sorted(src.glob("*.png"))
            if not pngs:
                raise FileNotFoundError(f"notebook {nb} rendered no PNG in {src}")
            (tmp / group).mkdir()
            for png in pngs:
                shutil.copy2(png, tmp / group / png.name)
                n += 1
        (tmp / "README.md").write_text(
            "# Figures\n\nRendered by `snakemake figures/` from the papermill notebooks in "
            "`workflow/notebooks/` (executed copies in `results/notebooks/`).\n"
        )
    return n
