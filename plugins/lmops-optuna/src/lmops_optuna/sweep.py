"""``sweep``: a hyperparameter search whose every trial is an ordinary governed run.

Each trial runs the trainer as a child run (its own run record, output
version, "training" evidence and lineage; the run names the sweep's run as its
parent), then the objective's evaluation as another child run on that output.
The Optuna study lives in the registry's database (:mod:`lmops_optuna.study`)
and is told a trial's result only after both runs have committed, so a sweep
killed at any point resumes, when run again with the same inputs and
parameters, with the trials it had finished, repeating none of them.
"""

from __future__ import annotations

import time
from typing import Any

from lmops_core.contracts import EvidenceRecord, StageContext, StageResult
from lmops_core.errors import LmopsError, StageError, ValidationError
from lmops_core.kit import BaseOperation
from lmops_optuna import study as st
from lmops_optuna.params import SweepParams
from lmops_optuna.pruning import PruningProgress

FINISHED = ("COMPLETE", "PRUNED")


class Sweep(BaseOperation[SweepParams]):
    """Search a trainer's parameters with Optuna, each trial a recorded run, the study in the
    registry's database (resumable), the best trial's output marked as the candidate

    Inputs: ``"base"`` and ``"dataset"`` (handed to every trial), and what the
    objective needs: ``"heldout"`` (a held-out instruction dataset, for the default
    ``heldout-loss``) or ``"suite"`` (for ``lm-eval``). Records ``sweep`` evidence
    on every finished trial's output (``candidate`` true on the best one) with the
    HTML report of the study as an artifact.
    """

    name = "sweep"
    input_roles = {"base": "model", "dataset": "dataset", "heldout": "dataset", "suite": "suite"}
    evidence_kinds = ("sweep",)
    reads_inputs = False  # its trials read them: exported when the first trial asks

    def execute(self, context: StageContext, params: SweepParams) -> StageResult:
        """Run the trials still owed, then record the whole study's outcome."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        seed = 0 if context.seed is None else int(context.seed)
        refs = {role: a.ref for role, a in context.inputs.items()}
        name = params.study or st.default_study_name(params, refs, seed)
        # One trial at a time: each trial reaches the database in one commit, when it ends
        # (parallel trials take their numbers from the database as they start).
        storage = st.session_storage(context.store_url(), defer_trials=params.n_jobs == 1)
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=st.make_sampler(params, seed),
            pruner=st.make_pruner(params),
            direction=params.direction,
            load_if_exists=True,
        )
        check_same_sweep(study, params, seed)
        resumed = recover(study, storage)
        owed = params.n_trials - sum(t.state.name in FINISHED for t in study.trials)
        started = time.perf_counter()
        if owed > 0:
            study.optimize(
                Objective(context, params, refs, seed),
                n_trials=owed,
                timeout=params.timeout_s,
                n_jobs=params.n_jobs,
                catch=(),
            )
        return outcome(context, study, params, seed, resumed, time.perf_counter() - started)


def check_same_sweep(study: Any, params: SweepParams, seed: int) -> None:
    """A study is resumed only by the sweep that began it (same space, objective, seed)."""
    mine = {
        "space": sorted(params.space),
        "objective": f"{params.objective}:{params.objective_metric}",
        "seed": seed,
        "trainer": params.trainer,
    }
    theirs = study.user_attrs.get("sweep")
    if theirs is None:
        study.set_user_attr("sweep", mine)
        for values in params.enqueue:
            study.enqueue_trial({k: st.encode_choice(v) for k, v in values.items()})
    elif theirs != mine:
        raise ValidationError(
            f'study "{study.study_name}" was begun by another sweep ({theirs}); this one is '
            f"{mine}: give another study name",
            field="study",
        )


def recover(study: Any, storage: Any) -> int:
    """Trials left running by a killed session are failed, and their parameters queued again
    (one sweep session per study at a time). Returns how many were recovered."""
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    return len(stale)


class Objective:
    """One trial: train (pruned from the loss curve), evaluate, return the metric."""

    def __init__(
        self, context: StageContext, params: SweepParams, refs: dict[str, str], seed: int
    ) -> None:
        self.context, self.params, self.refs, self.seed = context, params, refs, seed

    def __call__(self, trial: Any) -> float:
        """Run the trial's two child runs; their run ids and output are kept on the trial."""
        p, ctx = self.params, self.context
        values = {**p.fixed, **st.suggest(trial, p.space)}
        reporter = PruningProgress(trial)
        try:
            train = ctx.run_child(
                "training",
                p.trainer,
                inputs={"base": self.refs["base"], "dataset": self.refs["dataset"]},
                params=values,
                seed=self.seed,
                progress=reporter,
            )
        except LmopsError as exc:
            if reporter.pruned_at is None:
                raise
            trial.set_user_attr("train_run", exc.details.get("run_id"))
            trial.set_user_attr("pruned_at", reporter.pruned_at)
            import optuna

            raise optuna.TrialPruned(str(exc)) from None
        if p.output_role not in train.outputs:
            raise StageError(
                f'sweep: trainer "{p.trainer}" made no output "{p.output_role}" '
                f"(it made: {', '.join(train.outputs) or 'none'}); set output_role"
            )
        version = train.outputs[p.output_role]
        trial.set_user_attr("train_run", train.run_id)
        trial.set_user_attr("version", version)
        evaluation = ctx.run_child(
            "evaluation",
            p.objective,
            inputs=self.objective_inputs(version),
            params=p.objective_params,
            seed=self.seed,
        )
        trial.set_user_attr("eval_run", evaluation.run_id)
        if p.objective_metric not in evaluation.metrics:
            raise StageError(
                f'sweep: the objective run "{p.objective}" has no metric "{p.objective_metric}" '
                f"(it has: {', '.join(sorted(evaluation.metrics)) or 'none'})"
            )
        return float(evaluation.metrics[p.objective_metric])

    def objective_inputs(self, version: str) -> dict[str, str]:
        """The trial's output as ``model``, its base, and the held-out data or suite."""
        inputs = {"model": version, "base": self.refs["base"]}
        if "heldout" in self.refs:
            inputs["dataset"] = self.refs["heldout"]
        if "suite" in self.refs:
            inputs["suite"] = self.refs["suite"]
        return inputs


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """Every trial of the study, as the evidence details list them."""
    return [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "params": t.params,
            "value": t.value,
            "version": t.user_attrs.get("version"),
            "train_run": t.user_attrs.get("train_run"),
            "eval_run": t.user_attrs.get("eval_run"),
            "pruned_at": t.user_attrs.get("pruned_at"),
            "retry_of": t.user_attrs.get("retry_of"),
        }
        for t in study.get_trials(deepcopy=False)
    ]


def outcome(
    context: StageContext,
    study: Any,
    params: SweepParams,
    seed: int,
    resumed: int,
    duration: float,
) -> StageResult:
    """``sweep`` evidence on each finished trial's output (the best one the candidate), the
    HTML report, and the losers released to ``lmops gc`` when ``keep="best"``."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise StageError(f'sweep: no trial of study "{study.study_name}" finished')
    best = study.best_trial
    for t in complete:  # some may come from an earlier, interrupted session of this sweep
        context.adopt_child_output(t.user_attrs["version"])
    rows = trial_rows(study)
    counts = {s: sum(r["state"] == s for r in rows) for s in ("complete", "pruned", "fail")}
    shared = {
        "best_objective": best.value,
        "objective_metric": params.objective_metric,
        "direction": params.direction,
        "best_trial": best.number,
        "trials_complete": counts["complete"],
        "trials_pruned": counts["pruned"],
        "trials_failed": counts["fail"],
        "sampler": params.sampler,
        "seed": seed,
        "study": study.study_name,
    }
    details = {
        "space": {k: v.model_dump() for k, v in params.space.items()},
        "fixed": params.fixed,
        "trainer": params.trainer,
        "objective": params.objective,
        "pruner": params.pruner,
        "storage": st.describe_storage(context.store_url()),
        "trials": rows,
        "best_params": best.params,
        "resumed_trials": resumed,
        "keep": params.keep,
    }
    artifacts = {}
    if params.report:
        from lmops_optuna.report import write_report

        summary = [(k, str(v)) for k, v in shared.items()] + [("best params", str(best.params))]
        artifacts["report"] = write_report(
            study,
            context.workdir / "sweep.html",
            title=f"Sweep {study.study_name}",
            summary=summary,
        )
    evidence = [
        EvidenceRecord(
            kind="sweep",
            subject=t.user_attrs["version"],
            metrics={
                **shared,
                "candidate": t.number == best.number,
                "objective": t.value,
                "trial": t.number,
            },
            details=details if t.number == best.number else {"best": best.user_attrs["version"]},
            artifacts=artifacts if t.number == best.number else {},
        )
        for t in complete
    ]
    released = (
        [t.user_attrs["version"] for t in complete if t.number != best.number]
        if params.keep == "best"
        else []
    )
    return StageResult(
        evidence=evidence,
        released=released,
        metrics={
            "best_objective": float(best.value),
            "trials": float(len(rows)),
            "duration_s": duration,
        },
        params=params.model_dump(),
        info={"study": study.study_name, "best_version": best.user_attrs["version"]},
    )
