"""A finished trial written to the study's database in one transaction of a few statements.

Optuna's ``RDBStorage.create_new_trial`` with a template writes the same rows, but through
its ORM, one trial lookup per parameter, attribute and value (about 30 statements, most of
the storage's CPU per trial). A sweep session that runs one trial at a time writes its trial
once, finished (:mod:`lmops_optuna.write_through`), so it inserts the rows itself: into
Optuna's own tables, as Optuna encodes them (its models' columns and value encodings), one
multi-row insert per table. Optuna reads them back like any other trial.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from optuna.storages._rdb import models
from optuna.trial import FrozenTrial
from sqlalchemy import Engine, func, insert, select


class NumberTaken(Exception):
    """The database already holds a trial with this number: another session added it."""

    def __init__(self, count: int) -> None:
        super().__init__(f"the study holds {count} trials")
        self.count = count


def insert_finished_trial(engine: Engine, study_id: int, trial: FrozenTrial) -> int:
    """Insert ``trial`` (finished) as trial ``trial.number`` of the study ``study_id`` (the
    database's id); its id there. :class:`NumberTaken` (nothing written) unless the study
    holds exactly ``trial.number`` trials."""
    trials = models.TrialModel.__table__
    with engine.begin() as conn:
        # Trial numbers are allocated under the study row's lock, as Optuna does.
        studies = models.StudyModel.__table__
        conn.execute(
            select(studies.c.study_id).where(studies.c.study_id == study_id).with_for_update()
        )
        count = conn.execute(
            select(func.count()).select_from(trials).where(trials.c.study_id == study_id)
        ).scalar_one()
        if count != trial.number:
            raise NumberTaken(int(count))
        inserted = conn.execute(
            insert(trials).values(
                number=trial.number,
                study_id=study_id,
                state=trial.state,
                datetime_start=_utc(trial.datetime_start),
                datetime_complete=_utc(trial.datetime_complete),
            )
        ).inserted_primary_key
        assert inserted is not None
        trial_id = int(inserted[0])
        for table, rows in _child_rows(trial_id, trial):
            if rows:
                conn.execute(insert(table), rows)
    return trial_id


def _child_rows(trial_id: int, trial: FrozenTrial) -> list[tuple[Any, list[dict[str, Any]]]]:
    values = models.TrialValueModel
    steps = models.TrialIntermediateValueModel
    stored: Callable[[float], tuple[float | None, Any]] = values.value_to_stored_repr
    step_value = steps.intermediate_value_to_stored_repr
    return [
        (
            models.TrialParamModel.__table__,
            [
                {
                    "trial_id": trial_id,
                    "param_name": name,
                    "param_value": trial.distributions[name].to_internal_repr(value),
                    "distribution_json": _distribution_json(trial, name),
                }
                for name, value in trial.params.items()
            ],
        ),
        (
            values.__table__,
            [
                dict(zip(("value", "value_type"), stored(v), strict=True))
                | {"trial_id": trial_id, "objective": i}
                for i, v in enumerate(trial.values or ())
            ],
        ),
        (
            steps.__table__,
            [
                dict(
                    zip(
                        ("intermediate_value", "intermediate_value_type"),
                        step_value(v),
                        strict=True,
                    )
                )
                | {"trial_id": trial_id, "step": step}
                for step, v in trial.intermediate_values.items()
            ],
        ),
        (models.TrialUserAttributeModel.__table__, _attrs(trial_id, trial.user_attrs)),
        (models.TrialSystemAttributeModel.__table__, _attrs(trial_id, trial.system_attrs)),
    ]


def _distribution_json(trial: FrozenTrial, name: str) -> str:
    from optuna.distributions import distribution_to_json

    return distribution_to_json(trial.distributions[name])


def _attrs(trial_id: int, attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()]


def _utc(value: datetime | None) -> datetime | None:
    """Optuna keeps trial times as naive UTC; a FrozenTrial's are naive local time."""
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)
