"""Pruning from the loss curve: the trainer's progress reports feed the Optuna trial."""

from __future__ import annotations

from typing import Any

from lmops_core.contracts import NullProgress, ProgressReporter


class PruningProgress:
    """A progress reporter that passes each reported ``loss`` to an Optuna trial as its
    intermediate value at that step, and stops the trial when the pruner says so.

    lmops-hf's trainers report ``advance(steps, loss=...)`` at every logged step;
    any trainer that reports a ``loss`` field the same way can be pruned. Raising
    ``TrialPruned`` from the report ends the training run (recorded as a failed run
    whose error says it was pruned, and at which step).
    """

    def __init__(self, trial: Any, inner: ProgressReporter | None = None) -> None:
        self.trial = trial
        self.inner = inner or NullProgress()
        self.step = 0.0
        self.pruned_at: int | None = None
        self.last_loss: float | None = None

    def start(self, description: str, total: float | None = None) -> None:
        """Start the inner reporter."""
        self.inner.start(description, total)

    def advance(self, amount: float = 1.0, **fields: Any) -> None:
        """Advance; a ``loss`` field is reported to the trial, which may be pruned here."""
        import optuna

        self.step += amount
        self.inner.advance(amount, **fields)
        loss = fields.get("loss")
        if loss is None:
            return
        self.last_loss = float(loss)
        step = int(self.step)
        self.trial.report(self.last_loss, step)
        if self.trial.should_prune():
            self.pruned_at = step
            raise optuna.TrialPruned(
                f"trial {self.trial.number} pruned at step {step}: loss {loss:.4f}"
            )

    def finish(self) -> None:
        """Finish the inner reporter."""
        self.inner.finish()
