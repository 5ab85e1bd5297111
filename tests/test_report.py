"""Report stage: published beside reproduced; parameter-count fragments; figure gathering."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transientrepro.figures import collect_figures
from transientrepro.io import write_json
from transientrepro.paper import paper_numbers
from transientrepro.report import comparison_rows, concat_parameter_counts, write_report


def test_paper_numbers_are_cited_and_consistent():
    pn = paper_numbers()
    t1 = pn["t2"]["class_counts"]
    codes = [k for k in t1 if isinstance(k, int)]
    assert sorted(codes) == [6, 15, 16, 42, 52, 53, 62, 64, 65, 67, 88, 90, 92, 95]
    # The printed total is one more than the sum of the printed rows (an erratum in t2 Table 1).
    assert sum(t1[c][1] for c in codes) == t1["total"] - 1 == 3479455
    hp = pn["t2"]["hyperparameters"]
    d, h, dff, n, m, c = hp["d"], hp["h"], hp["d_ff"], hp["N"], 6, 14
    formula = (m * d + d) + n * (4 * (d * d + d) + 2 * 2 * d + d * dff + dff + dff * d + d) + d * c + c
    assert formula == pn["t2"]["n_params"]["value"] == 13390
    t5 = pn["convention"]["partitions"]
    assert t5["SNIa"]["Train"] == pn["convention"]["class_counts"]["SNIa_PT"]
    for section in ("results_4class", "results_3class"):
        assert "Table" in pn["convention"][section]["source"]


def _metrics(tmp: Path, name: str, **kw) -> Path:
    p = tmp / f"{name}.json"
    write_json(kw, p)
    return p


def test_comparison_rows_and_report(tmp_path: Path):
    files = {
        "t2": _metrics(tmp_path, "t2", log_loss=0.61, roc_auc_micro=0.97, roc_auc_macro=0.95, pr_auc_micro=0.8,
                       redshift_activation_mean=0.03),
        "t2_noz": _metrics(tmp_path, "t2_noz", log_loss=0.9),
        "convention_ugriz": _metrics(tmp_path, "cu", accuracy=0.75, accuracy_std=0.02, f1_macro=0.6, f1_macro_std=0.03,
                                     n_params=12345, n_params_paper_settings=1200000),
        "cnn_gru_g_3class": _metrics(tmp_path, "cg", accuracy=0.7, f1_macro=0.65),
    }
    comp = comparison_rows(files)
    row = comp[(comp.model == "t2") & (comp.metric == "log_loss")].iloc[0]
    assert row.published == 0.507 and row.reproduced == 0.61 and "5.2" in row.source
    row = comp[(comp.model == "t2_noz") & (comp.metric == "log_loss")].iloc[0]
    assert row.published == 0.873
    row = comp[(comp.model == "convention_ugriz") & (comp.metric == "accuracy")].iloc[0]
    assert row.published == 79.83 and row.reproduced == pytest.approx(75.0) and row.reproduced_std == pytest.approx(2.0)
    assert comp[(comp.model == "cnn_gru_g_3class") & (comp.metric == "f1")].iloc[0].published == 68.95
    frag = tmp_path / "pc.csv"
    pd.DataFrame([{"model": "t2", "built_n_params": 13390, "paper_n_params": 13390}]).to_csv(frag, index=False)
    table = concat_parameter_counts([frag], tmp_path / "params.csv")
    assert table.built_n_params.tolist() == [13390]
    data = tmp_path / "counts.csv"
    pd.DataFrame({"class": ["SNIa"], "n": [3]}).to_csv(data, index=False)
    write_report(files, {"counts": data}, tmp_path / "params.csv", tmp_path / "c.csv", tmp_path / "r.md", "unit")
    md = (tmp_path / "r.md").read_text()
    assert "0.507" in md and "79.83" in md and "75.000 ± 2.000" in md and "13,390" in md and "1,253,000" in md


def test_parameter_fragment_without_columns_is_named(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"x": [1]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="bad.csv.*built_n_params"):
        concat_parameter_counts([bad], tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_collect_figures_copies_declared_and_refuses_the_rest(tmp_path: Path):
    root = tmp_path / "results" / "figures"
    (root / "t2").mkdir(parents=True)
    (root / "t2" / "a.png").write_bytes(b"png")
    out = tmp_path / "figures"
    assert collect_figures([root / "t2" / "a.png"], out, fig_root=root) == 1
    assert (out / "t2" / "a.png").read_bytes() == b"png"
    # declared but never rendered: nothing is written
    out2 = tmp_path / "figures2"
    with pytest.raises(FileNotFoundError, match="b.png"):
        collect_figures([root / "t2" / "a.png", root / "data" / "b.png"], out2, fig_root=root)
    assert not out2.exists()
    # rendered but not declared (it would be in figures/ without a caption in the report)
    (root / "t2" / "stray.png").write_bytes(b"png")
    with pytest.raises(ValueError, match="stray.png.*register_figure"):
        collect_figures([root / "t2" / "a.png"], out2, fig_root=root)
    assert not out2.exists()


def test_plots_render(tmp_path: Path):
    from transientrepro import plots

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    P = rng.dirichlet(np.ones(3), 60)
    pred = pd.DataFrame({"object_id": range(60), "y_true": np.array(["a", "b", "c"])[y],
                         "p_a": P[:, 0], "p_b": P[:, 1], "p_c": P[:, 2]})
    yy, PP = plots.probability_matrix(pred, ["a", "b", "c"])
    assert (yy == y).all() and np.allclose(PP, P)
    paths = [
        plots.save(plots.roc_pr(yy, PP, ["a", "b", "c"], "x"), tmp_path, "roc"),
        plots.save(plots.confusion(np.eye(3), ["a", "b", "c"], "cm", np.zeros((3, 3))), tmp_path, "cm"),
        plots.save(plots.redshift_share(rng.uniform(0, 0.05, 50), 0.0192), tmp_path, "z"),
    ]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_training_curves_average_runs_and_follow_pretraining(tmp_path: Path):
    from transientrepro import plots

    runs = pd.DataFrame([dict(stage="finetune", fold=f, ensemble=0, epoch=e, train_loss=1.0 / e + f, val_loss=2.0,
                              train_accuracy=0.5, val_accuracy=0.4 + 0.1 * f) for f in range(2) for e in (1, 2, 3)])
    pre = pd.DataFrame(dict(stage="pretrain", epoch=[1, 2], train_loss=[3.0, 2.0], train_accuracy=[0.2, 0.3]))
    fig = plots.history(runs, "m", pretrain=pre, val_name="held-out fold")
    loss_ax, acc_ax = fig.axes[:2]
    lines = {ln.get_label(): ln for ln in loss_ax.lines}
    ft = lines["fine-tuning: training loss"]
    assert list(ft.get_xdata()) == [3, 4, 5]  # fine-tuning epochs follow the two pre-training epochs
    assert np.allclose(ft.get_ydata(), [1.5, 1.0, 1 / 3 + 0.5])  # mean over the two folds
    assert "fine-tuning: held-out fold loss" in lines and "pre-training: training loss" in lines
    acc = {ln.get_label(): ln for ln in acc_ax.lines}
    assert np.allclose(acc["fine-tuning: held-out fold accuracy"].get_ydata(), 45.0)  # percent
    assert acc_ax.get_ylabel() == "accuracy [%]"
    with pytest.raises(ValueError, match="no loss or accuracy"):
        plots.history(pd.DataFrame(dict(epoch=[1], lr=[0.1])), "bad")


def test_published_by_model_and_totals():
    from transientrepro.paper import published_by_model, published_totals

    pub = published_by_model()
    pn = paper_numbers()
    assert pub["t2"]["log_loss"] == pn["t2"]["metrics"]["t2"]["log_loss"]["value"]
    assert pub["convention_g_3class"] == {"accuracy": pn["convention"]["results_3class"]["convention_g_3class"]["accuracy"],
                                          "f1": pn["convention"]["results_3class"]["convention_g_3class"]["f1"]}
    assert "source" not in pub and "n_params" not in pub["supernnova_rnn"]  # n_params: null in the paper
    assert list(published_by_model(["cnn_gru_g", "not_a_model", "t2_noz"])) == ["cnn_gru_g", "t2_noz"]
    totals = published_totals()
    assert totals["plasticc"] == pn["t2"]["class_counts"]["total"]
    assert totals["sdss"] == sum(v for k, v in pn["convention"]["class_counts"].items() if k != "source")


def test_published_vs_reproduced_table_and_html(tmp_path: Path):
    from transientrepro.report import published_vs_reproduced, write_html_tables

    comp = pd.DataFrame([
        dict(paper="t2", model="t2", metric="log_loss", published=0.507, reproduced=1.2345, source="t2 §5.2",
             scale="fraction", reproduced_std=None),
        dict(paper="ConvEntion", model="convention_g", metric="accuracy", published=76.89, reproduced=60.0,
             reproduced_std=2.5, source="ConvEntion Table 3", scale="percent"),
    ])
    shown = published_vs_reproduced(comp)
    assert list(shown.columns) == ["paper", "model", "metric", "published", "reproduced", "source"]
    assert shown.iloc[0].tolist() == ["t2", "t2", "log_loss", "0.507", "1.234", "t2 §5.2"]
    assert shown.iloc[1].metric == "accuracy [%]" and shown.iloc[1].reproduced == "60.000 ± 2.500"
    out = tmp_path / "t.html"
    write_html_tables([("Published <vs> reproduced", shown)], out, "run x", "intro")
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "Published &lt;vs&gt; reproduced" in page
    assert page.count("<tr>") == 3 and "<td>60.000 ± 2.500</td>" in page


def test_t2_recall_table_beside_the_reference(tmp_path: Path):
    from transientrepro.report import t2_recall_table

    files = {
        "t2": _metrics(tmp_path, "t2", log_loss=0.6, accuracy=0.7, balanced_accuracy=0.55,
                       recall_per_class={"SNIa": 0.9, "KN": 0.2}),
        "t2_noz": _metrics(tmp_path, "t2_noz", log_loss=0.9, accuracy=0.5, balanced_accuracy=0.4,
                           recall_per_class={"SNIa": 0.8, "KN": 0.0}),
        "convention_ugriz": _metrics(tmp_path, "cu", accuracy=0.75),
    }
    ref = tmp_path / "ref.json"
    write_json({"accuracy": 0.66, "balanced_accuracy": 0.5, "recall_per_class": {"SNIa": 0.7, "KN": 0.5}}, ref)
    t = t2_recall_table(files, ref).set_index("metric")
    assert list(t.columns) == ["t2", "t2_noz", "reference classifier"]
    assert t.loc["balanced_accuracy", "t2"] == "0.550" and t.loc["recall KN", "reference classifier"] == "0.500"
    assert t.loc["recall KN", "t2_noz"] == "0.000" and "convention_ugriz" not in t.columns
    comp = comparison_rows(files)
    assert comp[(comp.model == "t2") & (comp.metric == "balanced_accuracy")].iloc[0].reproduced == 0.55
