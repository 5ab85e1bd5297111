"""t2 on the SDSS-II light curves, beside ConvEntion on the same objects and folds (issue 12).

Neither paper compares a light-curve transformer with the image transformer on the same objects.
Here t2 (the same Keras model and recipe switches as on PLAsTiCC, ``t2:``) is trained with
ConvEntion's protocol (§4.1) on ConvEntion's objects:

* inputs: the SDSS GP arrays (:mod:`transientrepro.gp.sdss`: the run's GP over time x the SDSS
  effective wavelengths, X (L, 5) for ugriz or (L, 1) for g) and, for the variants without
  ``_noz``, (z, z_err);
* objects, classes, Table 5 partitions and test folds: the split table that ConvEntion's own data
  code writes for the matching ConvEntion variant
  (:func:`transientrepro.convention.stages.run_split_table`): the same object ids in every fold;
* protocol: pre-train on the photometrically typed ``Train`` objects, then per test fold fine-tune
  ``n_ensembles`` members initialised from the pre-trained network (the classifier layer ``logits``
  left at its fresh initialisation, as ConvEntion's ``load_pretrained``) on the other folds, keep
  the epoch chosen on ConvEntion's inner validation split (:func:`transientrepro.folds.inner_split`,
  same seed and fraction), average the members' probabilities; metrics.json has the fields of
  ConvEntion's (:func:`transientrepro.folds.summarise_cv`).

The input scalings (``t2.scaling``, ``t2.aux_scaling``) are fitted on the pre-training objects
only, as ConvEntion's band statistics are. An object of the split whose GP failed (too few points
in the variant's bands) is never trained on and is scored with uniform probabilities (counted in
``n_without_gp``): every model is scored on every object of every fold.

Variants: ``t2_sdss_<ugriz|g>[_3class][_noz]``.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from ..folds import SELECTION_NAMES, inner_split, summarise_cv
from ..io import atomic_path, read_json, write_csv, write_json, write_parquet
from ..metrics import classification_metrics
from .data import T2Data, load_gp
from .params import T2ConfigError, check_hyperparameters, paper_n_params, settings
from .scaling import apply_fitted, fit_and_apply

log = logging.getLogger(__name__)

VARIANT_RE = re.compile(r"t2_sdss_(ugriz|g)(_3class)?(_noz)?")
#: What the comparison table calls the new rows: there is no published number to put beside them.
NEW_COMPARISON = "t2 on SDSS-II (new comparison, no published number)"
SECTION_DEFAULTS: dict[str, Any] = {
    "enabled": True, "variants": [], "detection_snr": 5.0, "hyperparameters": {}, "batch_size": 32,
    "epochs_pretrain": 20, "epochs_finetune": 10, "n_ensembles": None, "threads": 1, "gpu": 0,
    "mem_mb": 2000, "runtime": 30,
}


def parse_variant(variant: str) -> tuple[str, str, bool]:
    """``t2_sdss_g_3class_noz`` -> ("g", "3class", False): bands, task, uses redshift."""
    m = VARIANT_RE.fullmatch(str(variant))
    if not m:
        raise T2ConfigError(f"t2_sdss variant {variant!r}: expected t2_sdss_<ugriz|g>[_3class][_noz]")
    return m.group(1), ("3class" if m.group(2) else "4class"), m.group(3) is None


def convention_variant(variant: str) -> str:
    """The ConvEntion variant whose objects and folds ``variant`` uses."""
    bands, task, _ = parse_variant(variant)
    return f"convention_{bands}" + ("_3class" if task == "3class" else "")


def section_settings(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``t2_sdss:`` config section with defaults, checked."""
    sec = dict(section or {})
    unknown = set(sec) - set(SECTION_DEFAULTS)
    if unknown:
        raise T2ConfigError(f"config t2_sdss: unknown key(s) {sorted(unknown)}")
    out = {**SECTION_DEFAULTS, **sec}
    for k in ("batch_size", "epochs_pretrain", "epochs_finetune"):
        if isinstance(out[k], bool) or not isinstance(out[k], int) or out[k] < 1:
            raise T2ConfigError(f"config t2_sdss.{k} must be an integer >= 1, got {out[k]!r}")
    if out["n_ensembles"] is not None and (not isinstance(out["n_ensembles"], int) or out["n_ensembles"] < 1):
        raise T2ConfigError(f"config t2_sdss.n_ensembles must be null (ConvEntion's) or >= 1, got {out['n_ensembles']!r}")
    for v in out["variants"]:
        parse_variant(v)
    return out


def load_variant_data(gp_path, split_path, use_z: bool) -> tuple[T2Data, pd.DataFrame, np.ndarray]:
    """(data of the split's objects that have GP arrays, the split table, has_gp mask over the table).

    The split table's order is kept; ``data`` holds its rows ``flatnonzero(has_gp)``."""
    split = pd.read_parquet(split_path)
    for c in ("object_id", "y", "partition", "fold"):
        if c not in split.columns:
            raise T2ConfigError(f"{split_path}: missing column {c!r}")
    gp = load_gp(gp_path)
    ids = np.asarray(gp["object_id"], dtype=np.int64)
    pos = pd.Series(np.arange(len(ids)), index=ids)
    has_gp = split["object_id"].isin(ids).to_numpy()
    rows = pos.loc[split["object_id"].to_numpy()[has_gp]].to_numpy()
    X = np.asarray(gp["X"][rows], np.float32)  # in the split's order (a gp.h5 is read block by block)
    aux = (np.stack([np.asarray(gp["z"])[rows], np.asarray(gp["z_err"])[rows]], axis=1).astype(np.float32)
           if use_z else np.zeros((len(rows), 0), np.float32))
    y = split["y"].to_numpy(np.int64)[has_gp]
    return T2Data(X, aux, y, split["object_id"].to_numpy(np.int64)[has_gp]), split, has_gp


def _predict(model, data: T2Data, idx: np.ndarray) -> np.ndarray:
    """Class probabilities of ``data``'s rows ``idx`` through t2's serving function
    (:func:`.stream.predict`), traced once for the variant's one network. Without XLA: these small
    validation and test sets change size every fold, and XLA compiles once per shape."""
    from .stream import predict

    return predict(model, data.take(idx), jit_compile=False).astype(np.float64)


def _nll(y: np.ndarray, p: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1.0)))) if len(y) else float("nan")


def _score(y: np.ndarray, p: np.ndarray, metric: str) -> float:
    """Selection score (higher is better) of ``convention.train.selection_metric``."""
    if metric == "loss":
        return -_nll(y, p)
    if metric == "balanced_accuracy":
        return float(balanced_accuracy_score(y, p.argmax(1)))
    return float(np.mean(p.argmax(1) == y))


class _Trainer:
    """One variant's network, built and compiled (traced) once: pre-trained, then reset for every
    fine-tuning member to the pre-trained weights with a freshly initialised classifier layer
    (``logits``, seeded per member) and a fresh optimiser state -- the same starting point as a new
    network loaded from the pre-trained one, without tracing the training step again."""

    def __init__(self, data: T2Data, n_classes: int, s: Mapping[str, Any], hp: Mapping[str, Any], batch_size: int,
                 seed: int):
        import keras

        from .model import build_and_compile

        self.data, self.C, self.s, self.hp, self.batch_size = data, n_classes, s, dict(hp), int(batch_size)
        keras.utils.set_random_seed(int(seed))
        X = data.X
        self.model = build_and_compile(X.shape[1], X.shape[2], n_classes, self.hp, s, n_aux=data.aux.shape[1],
                                       name="t2_sdss")
        self.model.optimizer.build(self.model.trainable_variables)
        self._opt0 = [np.array(v.numpy()) for v in self.model.optimizer.variables]
        self._pretrained: list[np.ndarray] | None = None

    def keep_pretrained(self) -> None:
        self._pretrained = [np.array(w) for w in self.model.get_weights()]

    def reset_for_member(self, seed: int) -> None:
        """Pre-trained weights, a fresh ``logits`` layer (its initialisers, seeded), a fresh optimiser."""
        import keras

        self.model.set_weights(self._pretrained)
        keras.utils.set_random_seed(int(seed))
        head = self.model.get_layer("logits")
        head.kernel.assign(head.kernel_initializer(tuple(head.kernel.shape)))
        head.bias.assign(head.bias_initializer(tuple(head.bias.shape)))
        for v, v0 in zip(self.model.optimizer.variables, self._opt0):
            v.assign(v0)

    def fit(self, rows: np.ndarray, epochs: int, on_epoch=None, seed: int = 0) -> list[dict[str, float]]:
        """Train on ``rows`` for ``epochs`` (a seeded shuffle per epoch, one ``train_on_batch`` per
        batch: the same steps as ``model.fit`` without building an input pipeline per call, which
        dominated these small fits); ``on_epoch(epoch)`` returns extra per-epoch log entries.
        Returns the per-epoch logs (train_loss, train_accuracy: means over the epoch's batches)."""
        import keras

        from .training import _sample_weights, class_weights

        model, y = self.model, self.data.y[rows]
        sw = _sample_weights(class_weights(y, self.C), y) if self.s["loss"] == "class_weighted" else None
        y1 = keras.utils.to_categorical(y, self.C)
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
        bs = min(self.batch_size, len(rows))
        logs_out: list[dict[str, float]] = []
        for epoch in range(1, int(epochs) + 1):
            order = rng.permutation(len(rows))
            model.reset_metrics()
            logs = {}
            for a in range(0, len(order), bs):
                k = order[a:a + bs]
                logs = model.train_on_batch(self.data.inputs(rows[k]), y1[k], sample_weight=None if sw is None else sw[k],
                                            return_dict=True)
            row = {"epoch": epoch, "train_loss": float(logs["loss"]), "train_accuracy": float(logs["accuracy"])}
            if on_epoch is not None:
                row.update(on_epoch(epoch))
            logs_out.append(row)
        return logs_out


def run_sdss_t2(gp_path, split_path, split_info_path, variant: str, t2_config: Mapping[str, Any] | None,
                section: Mapping[str, Any] | None, out_dir, seed: int = 42, threads: int | None = None) -> dict[str, Any]:
    """Pre-train and cross-validate one t2-on-SDSS variant; writes ``out_dir``/{pretrain.weights.h5,
    pretrain_curves.csv, curves.csv, predictions.parquet, metrics.json} (see the module docstring)."""
    from .training import configure_tensorflow

    bands, task, use_z = parse_variant(variant)
    sec = section_settings(section)
    s = settings(t2_config)
    hp = check_hyperparameters({**s["hyperparameters"], **dict(sec["hyperparameters"] or {})},
                               where="t2_sdss.hyperparameters")
    info = read_json(split_info_path)
    if info.get("variant") != convention_variant(variant):
        raise T2ConfigError(f"{split_info_path}: split of {info.get('variant')!r}, but {variant} needs "
                            f"{convention_variant(variant)!r}")
    tr = info["train"]
    n_ens = int(sec["n_ensembles"] or tr["n_ensembles"])
    selection, sel_metric = tr["selection"], tr["selection_metric"]
    names = list(info["class_names"])
    configure_tensorflow(seed, threads, deterministic=bool(s["deterministic"]), attention_kernel=s["attention_kernel"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    data, split, has_gp = load_variant_data(gp_path, split_path, use_z)
    C = len(names)
    gp_row = np.full(len(split), -1, dtype=np.int64)
    gp_row[has_gp] = np.arange(int(has_gp.sum()))
    part, fold = split["partition"].to_numpy().astype(str), split["fold"].to_numpy(np.int64)
    y_all = split["y"].to_numpy(np.int64)
    pre = gp_row[(part == "Train") & has_gp]
    if len(pre) == 0:
        raise T2ConfigError(f"{variant}: no pre-training (Train) object has GP arrays")
    fitted = fit_and_apply(data.take(pre), s)  # the scalings from the pre-training objects only
    apply_fitted(data, fitted)
    trainer = _Trainer(data, C, s, hp, sec["batch_size"], seed)
    log.info("%s: %d objects (%d without GP arrays), %d pre-training, bands %s, task %s, redshift %s, %d folds x %d members",
             variant, len(split), int((~has_gp).sum()), len(pre), bands, task, use_z, info["n_folds"], n_ens)

    # --- pre-training on the photometrically typed objects
    model = trainer.model
    t0 = time.time()
    pre_logs = trainer.fit(pre, sec["epochs_pretrain"], seed=seed)
    pre_seconds = time.time() - t0
    trainer.keep_pretrained()
    with atomic_path(out_dir / "pretrain.weights.h5") as tmp:
        model.save_weights(str(tmp))
    pc = pd.DataFrame(pre_logs)
    pc.insert(0, "stage", "pretrain")
    write_csv(pc, out_dir / "pretrain_curves.csv")
    n_params = int(model.count_params())

    # --- fine-tuning, fold by fold, on ConvEntion's folds
    ens: dict[str, list] = {"last": [], "selected": []}
    members: dict[str, list] = {"last": [], "selected": []}
    pred_frames, curve_frames, selected_epochs, sizes = [], [], [], []
    t0 = time.time()
    for f in range(int(info["n_folds"])):
        te_all = np.flatnonzero(fold == f)
        tr_all = np.flatnonzero((fold >= 0) & (fold != f))
        if selection == "best_val":
            fit_all, val_all = inner_split(tr_all, y_all[tr_all], float(tr["inner_val_fraction"]),
                                           int(info["fold_seed"]) + 1000 * f)
        else:
            fit_all, val_all = tr_all, (te_all if selection == "test_fold" else np.zeros(0, np.int64))
        fit_rows = gp_row[fit_all][gp_row[fit_all] >= 0]
        val_ok, te_ok = gp_row[val_all] >= 0, gp_row[te_all] >= 0
        y_te = y_all[te_all]
        uniform = np.full((len(te_all), C), 1.0 / C)
        proba = {"last": [], "selected": []}
        sel_epochs = []
        for e in range(n_ens):
            member_seed = int(info["fold_seed"]) + 1000 * f + e  # ConvEntion's member seed
            trainer.reset_for_member(member_seed)
            m = trainer.model
            state = {"best": -np.inf, "epoch": 0, "weights": None}

            def on_epoch(epoch, state=state):
                row = {}
                if len(val_all):
                    pv = uniform[:1].repeat(len(val_all), 0)
                    pv[val_ok] = _predict(m, data, gp_row[val_all][val_ok])
                    yv = y_all[val_all]
                    score = _score(yv, pv, sel_metric)
                    row.update(val_loss=_nll(yv, pv), val_accuracy=float(np.mean(pv.argmax(1) == yv)),
                               val_balanced_accuracy=float(balanced_accuracy_score(yv, pv.argmax(1))))
                    if score > state["best"]:
                        state.update(best=score, epoch=epoch, weights=m.get_weights())
                pt = uniform.copy()
                pt[te_ok] = _predict(m, data, gp_row[te_all][te_ok])
                row.update(test_loss=_nll(y_te, pt), test_accuracy=float(np.mean(pt.argmax(1) == y_te)))
                return row

            logs = trainer.fit(fit_rows, sec["epochs_finetune"], on_epoch, seed=member_seed)
            p_last = uniform.copy()
            p_last[te_ok] = _predict(m, data, gp_row[te_all][te_ok])
            proba["last"].append(p_last)
            if state["weights"] is not None and selection != "last":
                m.set_weights(state["weights"])
                p_sel = uniform.copy()
                p_sel[te_ok] = _predict(m, data, gp_row[te_all][te_ok])
                sel_epochs.append(int(state["epoch"]))
            else:
                p_sel = p_last
                sel_epochs.append(len(logs))
            proba["selected"].append(p_sel)
            cf = pd.DataFrame(logs)
            cf.insert(0, "ensemble", e)
            cf.insert(0, "fold", f)
            cf.insert(0, "stage", "finetune")
            curve_frames.append(cf)
        for which in ("last", "selected"):
            for p in proba[which]:
                members[which].append(classification_metrics(y_te, p, names))
            ens[which].append(classification_metrics(y_te, np.mean(proba[which], axis=0), names))
        p_mean = np.mean(proba["selected"], axis=0)
        mf = ens["selected"][-1]
        log.info("%s fold %d: accuracy %.3f f1_macro %.3f balanced %.3f (n=%d, selected epochs %s)", variant, f,
                 mf["accuracy"], mf["f1_macro"], mf["balanced_accuracy"], len(te_all), sel_epochs)
        selected_epochs.append(sel_epochs)
        sizes.append({"fold": f, "n_train_folds": int(len(tr_all)), "n_fit": int(len(fit_rows)),
                      "n_val": int(len(val_all)), "n_test": int(len(te_all)), "n_test_without_gp": int((~te_ok).sum())})
        pf = pd.DataFrame({"object_id": split["object_id"].to_numpy(np.int64)[te_all], "fold": f, "y_true": y_te,
                           "y_pred": p_mean.argmax(1), "has_gp": te_ok})
        for c, name in enumerate(names):
            pf[f"p_{name}"] = p_mean[:, c]
        pred_frames.append(pf)
    write_parquet(pd.concat(pred_frames, ignore_index=True), out_dir / "predictions.parquet")
    write_csv(pd.concat(curve_frames, ignore_index=True), out_dir / "curves.csv")

    metrics = summarise_cv(ens, members, names, int(info["n_folds"]), n_ens, selection, sel_metric)
    metrics.update(
        variant=variant, bands=bands, task=task, uses_redshift=use_z, comparison=NEW_COMPARISON,
        convention_variant=convention_variant(variant), n_spec=int((fold >= 0).sum()), n_pretrain=int((part == "Train").sum()),
        n_without_gp=int((~has_gp).sum()), n_spec_without_gp=int(((fold >= 0) & ~has_gp).sum()),
        selected_epochs=selected_epochs, fold_sizes=sizes, n_params=n_params,
        n_params_formula=paper_n_params(data.X.shape[2], C, hp["d"], hp["h"], hp["d_ff"], hp["N"]) if not use_z else None,
        hyperparameters=hp, recipe={k: s[k] for k in ("scaling", "aux_scaling", "positional_encoding", "aux_layout",
                                                      "concat", "loss", "clipnorm")},
        train={"batch_size": sec["batch_size"], "epochs_pretrain": sec["epochs_pretrain"],
               "epochs_finetune": sec["epochs_finetune"], "n_ensembles": n_ens, "selection": selection,
               "selection_metric": sel_metric, "inner_val_fraction": tr["inner_val_fraction"],
               "fold_seed": info["fold_seed"]},
        train_seconds={"pretrain": pre_seconds, "finetune": time.time() - t0}, seconds=time.time() - t_start,
        pretrain={"n_train": int(len(pre)), "final_loss": pre_logs[-1]["train_loss"] if pre_logs else None},
        scaling=fitted, paper={"accuracy": None, "f1": None},
        selection_name=SELECTION_NAMES[selection],
    )
    write_json(metrics, out_dir / "metrics.json")
    log.info("%s: accuracy %.3f ± %.3f, macro F1 %.3f ± %.3f, balanced accuracy %.3f ± %.3f (%.0f s)", variant,
             metrics["accuracy"], metrics["accuracy_std"], metrics["f1_macro"], metrics["f1_macro_std"],
             metrics["balanced_accuracy"], metrics["balanced_accuracy_std"], metrics["seconds"])
    return metrics
