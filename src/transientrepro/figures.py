"""Gather the PNGs rendered by the papermill notebooks into one ``figures/`` directory."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

from .io import atomic_path


def collect_figures(figures: Iterable[str | Path], out_dir: str | Path, fig_root: str | Path = "results/figures") -> int:
    """Copy every declared figure ``<fig_root>/<group>/<name>.png`` to ``out_dir/<group>/<name>.png``.

    ``figures`` are the figures the workflow declares (each with its caption in the HTML report). A
    PNG in one of their group directories that is not declared is an error: it would be in
    ``figures/`` but not in the report. The whole directory is built under a temporary name and
    renamed, so ``out_dir`` is either complete or absent. Returns the number of figures.
    """
    root = Path(fig_root)
    declared = [Path(f) for f in figures]
    if not declared:
        raise ValueError("no figure declared")
    rel = []
    for f in declared:
        try:
            rel.append(f.relative_to(root))
        except ValueError:
            raise ValueError(f"figure {f} is not under {root}") from None
        if not f.is_file():
            raise FileNotFoundError(f"declared figure {f} was not rendered")
    groups = sorted({r.parts[0] for r in rel})
    undeclared = sorted(str(p) for g in groups for p in (root / g).glob("*.png") if p.relative_to(root) not in set(rel))
    if undeclared:
        raise ValueError(
            f"figure(s) {undeclared} were rendered but not declared: register each with register_figure() "
            "and a caption in workflow/report/ (workflow/rules/figures.smk), or stop drawing it"
        )
    with atomic_path(out_dir, suffix="") as tmp:
        tmp.mkdir(parents=True)
        for src, r in zip(declared, rel):
            (tmp / r).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp / r)
        (tmp / "README.md").write_text(
            "# Figures\n\nRendered by `snakemake figures/` from the papermill notebooks in "
            "`workflow/notebooks/` (executed copies in `results/notebooks/`). Each one, with its "
            "caption, is also in the HTML report (`snakemake --report results/report.html`).\n"
        )
    return len(declared)
