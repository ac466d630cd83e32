"""A study storage for the one session that runs a sweep: reads from memory, writes through.

Optuna's ``RDBStorage`` reads the running trial back from the database each time the
sampler or the trial asks for it (about 33 of the 74 statements a trial cost there,
measured with the sweep's loop). A sweep session is the only one that works on its
study (see :mod:`lmops_optuna.sweep`), so what it reads it can keep: this storage is an
``InMemoryStorage`` loaded with the study's trials when the study is opened, and every
write goes to the database first, then to memory. The database therefore holds exactly
what it held before, at the same moments (a trial's parameters, intermediate values,
attributes and result, each committed as it happens), and a session killed at any point
resumes from it as before; only the reads are served from memory.

With ``defer_trials`` (a session that runs one trial at a time), a trial this session
creates is kept in memory while it runs and reaches the database once, whole, in one
transaction of a few multi-row inserts (:mod:`lmops_optuna.trial_rows`) when it
finishes: one commit per trial instead of about ten. The database then holds
every finished trial (complete, pruned or failed) with its parameters, intermediate
values, attributes and result, as before; a trial a killed session was still running is
simply not there (its runs stay in the registry, unclaimed by the study), and the resumed
sweep runs the trials still owed. Trials that are already in the database (queued with
``enqueue_trial``) are written through as without it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from lmops_core.errors import StageError


class WriteThroughStorage(optuna.storages.InMemoryStorage):
    """Optuna's in-memory storage mirroring ``backend`` (a study's database), written
    through: each write is committed to ``backend`` before memory changes."""

    def __init__(self, backend: optuna.storages.RDBStorage, *, defer_trials: bool = False) -> None:
        super().__init__()
        self.backend = backend
        self.defer_trials = defer_trials
        #: Running trials not yet in the backend: our trial id -> our study id.
        self._deferred: dict[int, int] = {}
        self._studies_in_backend: dict[int, int] = {}  # our study id -> the backend's
        self._trials_in_backend: dict[int, int] = {}  # our trial id -> the backend's
        self._opening = threading.RLock()  # a study's or trial's two ids are made together

    # Studies -----------------------------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        """Create the study in the database (it raises if the name is taken), then here."""
        with self._opening:
            theirs = self.backend.create_new_study(directions, study_name)
            name = self.backend.get_study_name_from_id(theirs)
            ours = super().create_new_study(directions, name)
            self._studies_in_backend[ours] = theirs
            return ours

    def get_study_id_from_name(self, study_name: str) -> int:
        """The study's id here, loading it and its trials from the database the first time."""
        with self._opening:
            try:
                return super().get_study_id_from_name(study_name)
            except KeyError:
                theirs = self.backend.get_study_id_from_name(study_name)  # KeyError if none
                return self._load(theirs, study_name)

    def _load(self, theirs: int, name: str) -> int:
        ours = super().create_new_study(self.backend.get_study_directions(theirs), name)
        self._studies_in_backend[ours] = theirs
        for key, value in self.backend.get_study_user_attrs(theirs).items():
            super().set_study_user_attr(ours, key, value)
        for key, value in self.backend.get_study_system_attrs(theirs).items():
            super().set_study_system_attr(ours, key, value)
        for trial in self.backend.get_all_trials(theirs, deepcopy=False):
            self._trials_in_backend[super().create_new_trial(ours, trial)] = trial._trial_id
        return ours

    def delete_study(self, study_id: int) -> None:
        """Delete the study from the database, then here."""
        self.backend.delete_study(self._studies_in_backend[study_id])
        super().delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        """Write through."""
        self.backend.set_study_user_attr(self._studies_in_backend[study_id], key, value)
        super().set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        """Write through."""
        self.backend.set_study_system_attr(self._studies_in_backend[study_id], key, value)
        super().set_study_system_attr(study_id, key, value)

    # Trials ------------------------------------------------------------------------------

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        """Create the trial in the database, then here, with the same number; a new running
        trial of a deferring session is created here only (see the module)."""
        with self._opening:
            if self.defer_trials and template_trial is None:
                ours = super().create_new_trial(study_id)
                number = super().get_trial_number_from_id(ours)
                try:  # a number the database already holds was taken by another session
                    self.backend.get_trial_id_from_study_id_trial_number(
                        self._studies_in_backend[study_id], number
                    )
                except KeyError:
                    self._deferred[ours] = study_id
                    return ours
                raise self._foreign(study_id, number, number)
            theirs = self.backend.create_new_trial(
                self._studies_in_backend[study_id], template_trial
            )
            ours = super().create_new_trial(study_id, template_trial)
            self._same_number(study_id, ours, theirs)
            self._trials_in_backend[ours] = theirs
            return ours

    def _same_number(self, study_id: int, ours: int, theirs: int) -> None:
        number, their_number = (
            super().get_trial_number_from_id(ours),
            self.backend.get_trial_number_from_id(theirs),
        )
        if number != their_number:
            raise self._foreign(study_id, their_number, number)

    def _foreign(self, study_id: int, their_number: int, number: int) -> StageError:
        return StageError(
            f'sweep: study "{self.get_study_name_from_id(study_id)}" gained trials from '
            f"another session (trial {their_number} in the database, {number} here): run "
            "one sweep session per study at a time"
        )

    def _flush(self, trial_id: int) -> None:
        """Write a deferred trial, now finished, to the database in one transaction."""
        from lmops_optuna.trial_rows import NumberTaken, insert_finished_trial

        with self._opening:
            study_id = self._deferred.pop(trial_id)
            finished = super().get_trial(trial_id)
            try:
                theirs = insert_finished_trial(
                    self.backend.engine, self._studies_in_backend[study_id], finished
                )
            except NumberTaken as taken:
                raise self._foreign(study_id, taken.count, finished.number) from None
            self._trials_in_backend[trial_id] = theirs

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        """Write through (a deferred trial: here only, until it finishes)."""
        if trial_id not in self._deferred:
            theirs = self._trials_in_backend[trial_id]
            self.backend.set_trial_param(theirs, param_name, param_value_internal, distribution)
        super().set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        """Write through; a trial the database would not hand over (False) is not taken here.
        A deferred trial is written whole when it finishes."""
        if trial_id in self._deferred:
            if not super().set_trial_state_values(trial_id, state, values):
                return False
            if state.is_finished():
                self._flush(trial_id)
            return True
        if not self.backend.set_trial_state_values(
            self._trials_in_backend[trial_id], state, values
        ):
            return False
        return super().set_trial_state_values(trial_id, state, values)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        """Write through (a deferred trial: here only, until it finishes)."""
        if trial_id not in self._deferred:
            theirs = self._trials_in_backend[trial_id]
            self.backend.set_trial_intermediate_value(theirs, step, intermediate_value)
        super().set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Write through (a deferred trial: here only, until it finishes)."""
        if trial_id not in self._deferred:
            self.backend.set_trial_user_attr(self._trials_in_backend[trial_id], key, value)
        super().set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Write through (a deferred trial: here only, until it finishes)."""
        if trial_id not in self._deferred:
            self.backend.set_trial_system_attr(self._trials_in_backend[trial_id], key, value)
        super().set_trial_system_attr(trial_id, key, value)
