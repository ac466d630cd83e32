"""A sweep session's study storage: reads from memory, and the database holds every write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from lmops_optuna.study import session_storage, study_storage
from sqlalchemy import event

from lmops_core.errors import StageError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial: optuna.Trial) -> float:
    """The sweep's shape: parameters, intermediate values, user attributes, a result."""
    lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    rank = trial.suggest_categorical("lora_r", [4, 8, 16])
    for step in (1, 2):
        trial.report(lr * rank / step, step)
        trial.should_prune()
    trial.set_user_attr("version", f"model:t@{trial.number}")
    return lr * rank


def session(url: str, name: str, trials: int, *, defer: bool = False) -> optuna.Study:
    study = optuna.create_study(
        study_name=name,
        storage=session_storage(url, defer_trials=defer),
        sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=2),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1),
        load_if_exists=True,
    )
    study.optimize(objective, n_trials=trials)
    return study


def as_rows(trials: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (t.number, t.state, t.params, t.values, t.user_attrs, t.intermediate_values) for t in trials
    ]


@pytest.mark.parametrize("defer", [False, True])
def test_the_database_holds_what_the_session_holds_and_a_new_session_resumes(
    tmp_path: Path, defer: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'lmops.db'}"
    first = session(url, "s", 4, defer=defer)
    stored = optuna.load_study(study_name="s", storage=study_storage(url))
    assert as_rows(stored.get_trials()) == as_rows(first.get_trials())
    assert len(stored.trials) == 4 and all(t.user_attrs["version"] for t in stored.trials)

    second = session(url, "s", 3, defer=defer)  # a new session loads the 4 trials, adds 3
    assert [t.number for t in second.trials] == list(range(7))
    assert as_rows(second.get_trials()[:4]) == as_rows(first.get_trials())
    stored = optuna.load_study(study_name="s", storage=study_storage(url))
    assert as_rows(stored.get_trials()) == as_rows(second.get_trials())


def test_reads_come_from_memory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lmops.db'}"
    session(url, "r", 2)
    engine = study_storage(url).engine
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        statements.append(sql)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        study = session(url, "r", 0)  # opening loads the study once
        opened = len(statements)
        assert opened > 0
        for _ in range(5):
            study.get_trials()
            study.best_trial  # noqa: B018 (a read)
        assert len(statements) == opened
    finally:
        event.remove(engine, "before_cursor_execute", seen)


@pytest.mark.parametrize("defer", [False, True])
def test_a_trial_added_by_another_session_is_refused(tmp_path: Path, defer: bool) -> None:
    url = f"sqlite:///{tmp_path / 'lmops.db'}"
    mine = session(url, "two", 1, defer=defer)
    other = optuna.load_study(study_name="two", storage=study_storage(url))
    other.enqueue_trial({"learning_rate": 1e-3, "lora_r": 4})  # trial 1 in the database
    with pytest.raises(StageError, match="another session.*one sweep session per study"):
        mine.ask()


def test_a_deferred_trial_reaches_the_database_whole_in_one_commit_when_it_ends(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'lmops.db'}"
    study = session(url, "d", 1, defer=True)
    engine = study_storage(url).engine
    writing: set[Any] = set()  # connections whose transaction has written
    commits: list[Any] = []  # commits of transactions that wrote

    def wrote(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if not sql.lstrip().upper().startswith("SELECT"):
            writing.add(conn)

    def committed(conn: Any) -> None:
        if conn in writing:
            writing.discard(conn)
            commits.append(conn)

    event.listen(engine, "before_cursor_execute", wrote)
    event.listen(engine, "commit", committed)
    try:
        trial = study.ask()
        value = objective(trial)  # parameters, intermediate values, an attribute
        assert not commits
        stored = optuna.load_study(study_name="d", storage=study_storage(url))
        assert [t.number for t in stored.trials] == [0]  # the running trial is not there
        study.tell(trial, value)
        assert len(commits) == 1  # written whole, in one transaction
    finally:
        event.remove(engine, "commit", committed)
        event.remove(engine, "before_cursor_execute", wrote)
    stored = optuna.load_study(study_name="d", storage=study_storage(url))
    assert as_rows(stored.get_trials()) == as_rows(study.get_trials())
    assert stored.trials[1].user_attrs == {"version": "model:t@1"}
