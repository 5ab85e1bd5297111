"""Put each paper's published number beside the reproduced one.

Inputs are the per-model ``metrics.json`` files and the parameter-count fragments written by the
model stages; the published values come from ``data/paper_numbers.yaml`` (each cited). Outputs:
``results/tables/parameter_counts.csv``, ``results/report/comparison.csv``, a Markdown report and,
for the HTML report (``snakemake --report``), the published-vs-reproduced table formatted for reading
(``published_vs_reproduced.csv``) and every table on one HTML page (``tables.html``).
"""
from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from .io import atomic_path, read_json, write_csv
from .paper import paper_numbers

# Reproduced metric key -> how the papers state it. ConvEntion reports percentages.
T2_KEYS = ["log_loss", "roc_auc_micro", "roc_auc_macro", "pr_auc_micro", "accuracy", "balanced_accuracy",
           "redshift_activation_mean"]
SDSS_KEYS = {"accuracy": "accuracy", "f1": "f1_macro"}
#: The ``paper`` of the rows of t2 on SDSS (transientrepro.t2.sdss): a comparison neither paper made.
NEW_COMPARISON = "t2 on SDSS-II (new comparison, no published number)"
NEW_KEYS = {"accuracy": "accuracy", "f1": "f1_macro", "balanced_accuracy": "balanced_accuracy"}


def concat_parameter_counts(fragments: Iterable[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate the per-model ``parameter_counts_*.csv`` fragments into one table."""
    frames = []
    for f in sorted(map(str, fragments)):
        df = pd.read_csv(f)
        missing = {"model", "built_n_params"} - set(df.columns)
        if missing:
            raise ValueError(f"{f}: parameter-count fragment lacks column(s) {sorted(missing)}")
        frames.append(df)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model", "built_n_params"])
    write_csv(table, out)
    return table


def format_value(x: Any) -> str:
    """A table cell as the reports print it: ``–`` for missing, thousands separators for counts,
    three decimals for other floats (three significant digits below 0.1)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, (int, float)) and not isinstance(x, bool) and float(x).is_integer() and abs(x) >= 1000:
        return f"{int(x):,}"  # parameter counts and object counts
    if isinstance(x, float):
        return f"{x:#.3g}" if 0 < abs(x) < 0.1 else f"{x:.3f}"  # small shares keep three significant digits
    return str(x)


def comparison_rows(metrics_files: Mapping[str, str | Path]) -> pd.DataFrame:
    """One row per (model, metric): published value (with its source) beside the reproduced one.

    ``metrics_files`` maps a model key (``t2``, ``t2_noz``, ``convention_ugriz``, ``cnn_gru_g``,
    ``lstm_lightcurves`` ...) to its ``metrics.json``.
    """
    pn = paper_numbers()
    rows: list[dict[str, Any]] = []
    for model, path in metrics_files.items():
        m = read_json(path)
        if model in pn["t2"]["metrics"]:
            published = pn["t2"]["metrics"][model]
            for key in T2_KEYS:
                if key not in published and key not in m:
                    continue
                pub = published.get(key, {})
                rows.append(
                    dict(paper="t2", model=model, metric=key, published=pub.get("value"),
                         reproduced=m.get(key), source=pub.get("source", ""), scale="fraction")
                )
            continue
        if model.startswith("t2_sdss_"):  # no published number: the rows carry the reproduced value only
            for pkey, mkey in NEW_KEYS.items():
                rep, rep_std = m.get(mkey), m.get(f"{mkey}_std")
                rows.append(dict(paper=NEW_COMPARISON, model=model, metric=pkey, published=None,
                                 reproduced=None if rep is None else 100.0 * rep,
                                 reproduced_std=None if rep_std is None else 100.0 * rep_std,
                                 source="none: neither paper ran t2 on SDSS-II", scale="percent"))
            continue
        table = None
        for tname in ("results_4class", "results_3class"):
            if model in pn["convention"][tname]:
                table = tname
        pub_row = pn["convention"][table][model] if table else {}
        src = pn["convention"][table]["source"] if table else ""
        for pkey, mkey in SDSS_KEYS.items():
            rep = m.get(mkey)
            rep_std = m.get(f"{mkey}_std")
            rows.append(
                dict(paper="ConvEntion", model=model, metric=pkey, published=pub_row.get(pkey),
                     reproduced=None if rep is None else 100.0 * rep,
                     reproduced_std=None if rep_std is None else 100.0 * rep_std,
                     source=src, scale="percent")
            )
        if "n_params" in m:
            rows.append(dict(paper="ConvEntion", model=model, metric="n_params (built at run config)",
                             published=pub_row.get("n_params"), reproduced=m.get("n_params"), source=src, scale="count"))
        if "n_params_paper_settings" in m:
            rows.append(dict(paper="ConvEntion", model=model, metric="n_params (paper settings)",
                             published=pub_row.get("n_params"), reproduced=m.get("n_params_paper_settings"),
                             source=src, scale="count"))
    return pd.DataFrame(rows)


def write_report(
    metrics_files: Mapping[str, str | Path],
    data_tables: Mapping[str, str | Path],
    param_table: str | Path,
    out_csv: str | Path,
    out_md: str | Path,
    run_name: str,
    out_table: str | Path | None = None,
    out_html: str | Path | None = None,
    reference_json: str | Path | None = None,
) -> pd.DataFrame:
    """Write the comparison CSV and a Markdown report (tables only; figures are in figures/).

    ``out_table``: the published-vs-reproduced rows formatted for reading (CSV of strings);
    ``out_html``: every table of the Markdown report on one standalone HTML page.
    ``reference_json``: the PLAsTiCC reference classifier (scored on t2's test objects); its
    numbers join t2's in the per-class recall table.
    """
    comp = comparison_rows(metrics_files)
    write_csv(comp, out_csv)
    shown = published_vs_reproduced(comp)
    if out_table is not None:
        write_csv(shown, out_table)
    lines = [
        f"# Reproduction report — run `{run_name}`",
        "",
        "Published numbers (from `src/transientrepro/data/paper_numbers.yaml`, each cited) beside the",
        "numbers this run reproduced. On the embedded (simulated, small) default the reproduced numbers",
        "measure the pipeline, not the papers' claims; `config/paper.yaml` is the full-scale run.",
        "",
    ]
    for paper, group in comp.groupby("paper", sort=False):
        lines += [f"## {paper}", "", "| model | metric | published | reproduced | source |", "|---|---|---|---|---|"]
        for r in group.itertuples():
            rep = format_value(r.reproduced)
            std = getattr(r, "reproduced_std", None)
            if std is not None and not (isinstance(std, float) and math.isnan(std)):
                rep += f" ± {format_value(std)}"
            lines.append(f"| {r.model} | {r.metric} | {format_value(r.published)} | {rep} | {r.source} |")
        lines.append("")
    recall = t2_recall_table(metrics_files, reference_json)
    if len(recall):
        lines += ["## t2: accuracy, balanced accuracy and recall per class (test objects of split.parquet)", "",
                  markdown_table(recall), ""]
    same = same_objects_table(metrics_files)
    if len(same):
        lines += ["## SDSS-II: light-curve t2 beside image ConvEntion on the same objects and folds (new comparison)", "",
                  SAME_OBJECTS_NOTE, "", markdown_table(same), ""]
    lines += ["## Parameter counts", "", markdown_table(pd.read_csv(param_table)), ""]
    for name, path in data_tables.items():
        lines += [f"## Dataset: {name}", "", markdown_table(pd.read_csv(path)), ""]
    with atomic_path(out_md) as tmp:
        tmp.write_text("\n".join(lines))
    if out_html is not None:
        sections = [("Published vs reproduced", shown)]
        if len(recall):
            sections.append(("t2: accuracy, balanced accuracy and recall per class", recall))
        if len(same):
            sections.append(("SDSS-II: t2 (light curves) beside ConvEntion (images), same objects and folds", same))
        sections.append(("Parameter counts", pd.read_csv(param_table)))
        sections += [(f"Dataset: {name}", pd.read_csv(path)) for name, path in data_tables.items()]
        write_html_tables(sections, out_html, f"Reproduction report — run {run_name}", INTRO)
    return comp


def t2_recall_table(metrics_files: Mapping[str, str | Path], reference_json: str | Path | None = None) -> pd.DataFrame:
    """Rows: accuracy, balanced accuracy, then recall of each class; columns: t2 variants (and the
    reference classifier, scored on the same test objects)."""
    pn = paper_numbers()
    cols: dict[str, Mapping[str, Any]] = {}
    for model, path in metrics_files.items():
        if model in pn["t2"]["metrics"]:
            cols[model] = read_json(path)
    if not cols:
        return pd.DataFrame()
    if reference_json is not None and Path(reference_json).exists():
        cols["reference classifier"] = read_json(reference_json)
    names: list[str] = []
    for m in cols.values():
        names += [n for n in (m.get("recall_per_class") or {}) if n not in names]
    rows = [{"metric": k, **{c: m.get(k) for c, m in cols.items()}} for k in ("accuracy", "balanced_accuracy")]
    rows += [{"metric": f"recall {n}", **{c: (m.get("recall_per_class") or {}).get(n) for c, m in cols.items()}} for n in names]
    out = pd.DataFrame(rows)
    for c in cols:
        out[c] = out[c].map(format_value)
    return out


SAME_OBJECTS_NOTE = (
    "Mean ± std over ConvEntion's test folds, in percent. ConvEntion and t2 (`t2_sdss_*`) see exactly the same "
    "objects in the same folds (t2's split table is written by ConvEntion's data code; "
    "`tests/test_t2_sdss.py`); the baselines follow the same protocol and partitions. No paper published the t2 rows.")


def _group_of(model: str) -> tuple[str, str] | None:
    """(bands, task) of an SDSS model key (ConvEntion, t2 on SDSS, image baselines); None otherwise."""
    m = re.fullmatch(r"(?:convention|t2_sdss|cnn_gru|cnn_lstm)_(ugriz|g)(_3class)?(?:_noz)?", model)
    if m:
        return m.group(1), ("3class" if m.group(2) else "4class")
    return ("ugriz", "4class") if model == "lstm_lightcurves" else None


def same_objects_table(metrics_files: Mapping[str, str | Path]) -> pd.DataFrame:
    """For every (bands, task) with a t2-on-SDSS variant: ConvEntion, t2 (with and without redshift)
    and the matching baselines, accuracy / macro F1 / balanced accuracy as mean ± std over folds (%)."""
    groups = sorted({_group_of(m) for m in metrics_files if m.startswith("t2_sdss_")} - {None})
    rows = []
    for bands, task in groups:
        for model, path in metrics_files.items():
            if _group_of(model) != (bands, task):
                continue
            m = read_json(path)
            kind = ("t2, light curves + z" if m.get("uses_redshift") else "t2, light curves") if model.startswith("t2_sdss_") \
                else "ConvEntion, images" if model.startswith("convention_") else "baseline"
            row = {"bands": bands, "classes": task[0], "model": model, "input": kind}
            for name, key in (("accuracy [%]", "accuracy"), ("macro F1 [%]", "f1_macro"),
                              ("balanced accuracy [%]", "balanced_accuracy")):
                v, sd = m.get(key), m.get(f"{key}_std")
                row[name] = "–" if v is None else f"{100 * v:.1f}" + ("" if sd is None else f" ± {100 * sd:.1f}")
            row["objects in folds"] = format_value(m.get("n_spec"))
            rows.append(row)
    return pd.DataFrame(rows)


INTRO = ("Published numbers (src/transientrepro/data/paper_numbers.yaml, each cited) beside the numbers this run "
         "reproduced. On the embedded (simulated, small) default the reproduced numbers measure the pipeline, "
         "not the papers' claims; config/paper.yaml is the full-scale run.")


def published_vs_reproduced(comp: pd.DataFrame) -> pd.DataFrame:
    """The comparison rows formatted for reading: ``reproduced`` carries ``± std`` over folds where
    there is one; ConvEntion's accuracy and F1 are in percent, t2's metrics are fractions."""
    rows = []
    for r in comp.to_dict("records"):
        rep = format_value(r.get("reproduced"))
        std = r.get("reproduced_std")
        if std is not None and not (isinstance(std, float) and math.isnan(std)):
            rep += f" ± {format_value(std)}"
        unit = {"percent": " %", "fraction": ""}.get(r.get("scale"), "")
        rows.append(dict(paper=r["paper"], model=r["model"], metric=f"{r['metric']}{' [%]' if unit else ''}",
                         published=format_value(r.get("published")), reproduced=rep, source=r.get("source", "")))
    return pd.DataFrame(rows, columns=["paper", "model", "metric", "published", "reproduced", "source"])


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0 0 2em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;white-space:nowrap}th{background:#eef}
td:last-child{white-space:normal}
tr:nth-child(even) td{background:#fafafa}caption{text-align:left;font-weight:bold;padding:4px 0}"""


def write_html_tables(sections: Iterable[tuple[str, pd.DataFrame]], out: str | Path, title: str, intro: str = "") -> None:
    """A standalone HTML page with one table per ``(heading, DataFrame)`` (values as in the Markdown)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    if intro:
        body.append(f"<p>{html.escape(intro)}</p>")
    for heading, df in sections:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(format_value(v))}</td>" for v in rec) + "</tr>"
                       for rec in df.itertuples(index=False))
        body.append(f"<h2>{html.escape(heading)}</h2>\n<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    page = (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no optional dependency)."""
    cols = [str(c) for c in df.columns]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for rec in df.itertuples(index=False):
        rows.append("| " + " | ".join(format_value(v) for v in rec) + " |")
    return "\n".join(rows)
