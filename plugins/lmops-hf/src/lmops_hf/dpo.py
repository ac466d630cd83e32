"""Direct preference optimisation on preference datasets, through trl's DPOTrainer.

trl 1.16.0 runs beside transformers 5.24 / torch 2.13 / peft 0.21 (checked:
training, checkpointing and resuming all work), so the DPO loss is trl's, not
ours. The policy is LoRA on the base by default (trl then uses the base with
the adapter disabled as the frozen reference) or the full model with a second,
frozen copy of the base as reference.
"""

from __future__ import annotations

from typing import Any

from lmops_core.contracts import StageContext, StageResult
from lmops_hf import chat
from lmops_hf import trainer_common as tc
from lmops_hf.loading import load_base_model, load_tokenizer
from lmops_hf.params import DpoParams
from lmops_hf.records import read_records
from lmops_hf.scoring import preference_margins


def conversational(record: dict[str, Any]) -> dict[str, Any]:
    """A preference record in trl's conversational form (the chat template applies)."""
    return {
        "prompt": chat.prompt_messages(record["prompt"], record.get("system")),
        "chosen": [{"role": "assistant", "content": record["chosen"]}],
        "rejected": [{"role": "assistant", "content": record["rejected"]}],
    }


class DpoTrainer(tc.TrainingOperation[DpoParams]):
    """Preference tuning (DPO) with trl's DPOTrainer, LoRA by default or full

    The "dpo" training operation: preference tuning with trl's DPOTrainer.

    Inputs: role ``"base"`` (model folder; pass a merged SFT model to tune an
    SFT result) and role ``"dataset"`` (preference JSONL). Outputs as for SFT.
    Metrics include the mean chosen-minus-rejected log-prob margin before and
    after training and the share of pairs where the chosen reply wins.
    """

    name = "dpo"

    def execute(self, context: StageContext, options: DpoParams) -> StageResult:
        """Train on preference pairs; return outputs, loss curve, margins and evidence."""
        from datasets import Dataset
        from trl.trainer.dpo_config import DPOConfig
        from trl.trainer.dpo_trainer import DPOTrainer as TrlDPOTrainer

        params = options.model_dump()
        seed, base, dataset = tc.training_inputs(
            context, self.name, ("preference",), "a preference dataset"
        )
        base_dir, fingerprint = tc.prepare_run(context, self.name, params, seed)

        records = read_records(dataset.path, "preference")
        tokenizer = load_tokenizer(base_dir, role="base")
        model = tc.prepare_model(base_dir, params, seed)
        ref_model = None
        if params["method"] == "full":
            ref_model = load_base_model(base_dir, allow_pickle=params["allow_pickle"])
        trainable, total = tc.count_parameters(model)
        before = preference_margins(model, tokenizer, records, params["max_length"])

        callbacks = tc.make_callbacks(
            context.progress, fingerprint, params["max_steps_this_session"]
        )
        args = tc.training_arguments(
            DPOConfig,
            context.workdir,
            params,
            seed,
            beta=float(params["beta"]),
            loss_type=[params["loss_type"]],
            max_length=params["max_length"],
            dataset_num_proc=None,
        )
        trainer = TrlDPOTrainer(
            model=model,
            ref_model=ref_model,
            args=args,
            processing_class=tokenizer,
            train_dataset=Dataset.from_list([conversational(r) for r in records]),
            callbacks=callbacks,
        )
        duration = tc.train(trainer, callbacks, params, context.workdir)

        after = preference_margins(model, tokenizer, records, params["max_length"])
        losses = tc.loss_series(trainer)
        logs = [h for h in trainer.state.log_history if "loss" in h]
        tokens = float(logs[-1].get("num_tokens", 0.0)) if logs else 0.0
        metrics: dict[str, Any] = {
            **tc.training_metrics(trainer, duration, tokens, trainable, total),
            "margin_before": before["margin"],
            "margin_after": after["margin"],
            "margin_gain": after["margin"] - before["margin"],
            "preference_accuracy_before": before["accuracy"],
            "preference_accuracy_after": after["accuracy"],
            "reward_margin_final": float(logs[-1].get("rewards/margins", 0.0)) if logs else 0.0,
            "examples": len(records),
        }
        outputs = tc.save_outputs(
            model, tokenizer, context.workdir, params, base, dataset, seed, objective="dpo"
        )
        info = {
            "seed": seed,
            "libraries": tc.library_versions(),
            "resumed_from": params["resume_from"],
            "dpo_implementation": "trl.DPOTrainer",
        }
        return tc.training_result(
            self.name,
            outputs,
            metrics,
            params,
            info,
            series={
                "loss": losses,
                "reward_margin": [float(h.get("rewards/margins", 0.0)) for h in logs],
            },
        )
