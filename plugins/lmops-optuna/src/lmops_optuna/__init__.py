"""lmops-optuna: hyperparameter sweeps as governed runs, and a held-out loss evaluator."""
