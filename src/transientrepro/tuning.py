"""optuna TPE tuning shared by t2 and ConvEntion.

The study lives in a persistent optuna JournalStorage file, so several processes (one Snakemake
job per worker, locally or as parallel SLURM jobs) add trials to the same study. A gather step
reads the best parameters back.

Search spaces are plain dicts from the config, e.g.::

    {"d": {"type": "categorical", "choices": [16, 32, 64]},
     "dropout": {"type": "float", "low": 0.0, "high": 0.3},
     "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
     "N": {"type": "int", "low": 1, "high": 2}}
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

log = logging.getLogger(__name__)

Objective = Callable[[Mapping[str, Any]], float]


def journal_storage(path: str | os.PathLike) -> JournalStorage:
    """A file-backed journal storage (safe for concurrent processes on one filesystem)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def suggest(trial: optuna.Trial, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Draw one point of ``space`` (see module docstring) through ``trial``."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec.get("type")
        if kind == "categorical":
            params[name] = trial.suggest_categorical(name, list(spec["choices"]))
        elif kind == "int":
            params[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)))
        elif kind == "float":
            params[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
        else:
            raise ValueError(f"search space entry {name!r}: type must be categorical, int or float, not {kind!r}")
    return params


def run_worker(
    objective: Objective,
    space: Mapping[str, Mapping[str, Any]],
    storage_path: str | os.PathLike,
    study_name: str,
    n_trials: int,
    seed: int,
    worker_id: int = 0,
    n_startup_trials: int = 4,
    constraint: Callable[[Mapping[str, Any]], str | None] | None = None,
    enqueue: Mapping[str, Any] | None = None,
) -> list[int]:
    """Run ``n_trials`` TPE trials of ``objective(params) -> score`` (minimised) in a shared study.

    Each worker seeds its sampler with ``seed + worker_id`` so parallel workers explore different
    points. ``constraint(params)`` may return a reason string to prune an invalid combination
    (e.g. d not divisible by h). ``enqueue``: parameters queued as the study's first trial when the
    study has no trial yet that was queued (one worker should pass it; a rerun does not queue it
    twice). Returns the numbers of the trials this worker ran.
    """
    storage = journal_storage(storage_path)
    sampler = optuna.samplers.TPESampler(seed=seed + 1000 * worker_id, n_startup_trials=n_startup_trials)
    study = optuna.create_study(
        study_name=study_name, storage=storage, sampler=sampler, direction="minimize", load_if_exists=True
    )
    done: list[int] = []
    if enqueue and not any(t.user_attrs.get("enqueued") for t in study.get_trials(deepcopy=False)):
        study.enqueue_trial(dict(enqueue), user_attrs={"enqueued": True})
        log.info("worker %d: queued the pinned values %s as a trial", worker_id, dict(enqueue))

    def _objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        trial.set_user_attr("worker_id", worker_id)
        if constraint is not None:
            why = constraint(params)
            if why:
                raise optuna.TrialPruned(why)
        value = float(objective(params))
        done.append(trial.number)
        log.info("worker %d trial %d: %s -> %.5f", worker_id, trial.number, params, value)
        return value

    study.optimize(_objective, n_trials=n_trials, gc_after_trial=True)
    return done


def best_params(storage_path: str | os.PathLike, study_name: str) -> dict[str, Any]:
    """Best trial of the study: ``{"params", "value", "trial", "n_trials", "n_complete", "workers"}``."""
    storage = journal_storage(storage_path)
    study = optuna.load_study(study_name=study_name, storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"study {study_name!r} in {storage_path} has no complete trial")
    best = study.best_trial
    return {
        "params": dict(best.params),
        "value": float(best.value),
        "trial": best.number,
        "n_trials": len(study.trials),
        "n_complete": len(complete),
        "workers": sorted({t.user_attrs.get("worker_id", -1) for t in study.trials}),
    }


def trials_table(storage_path: str | os.PathLike, study_name: str):
    """All trials as a DataFrame (for reports and figures)."""
    storage = journal_storage(storage_path)
    study = optuna.load_study(study_name=study_name, storage=storage)
    return study.trials_dataframe(attrs=("number", "value", "params", "state", "user_attrs", "duration"))
