"""Pipeline files: a governed lifecycle run described in YAML, run step by step.

A pipeline is a list of steps, each with an ``id``, an optional ``as`` (the
actor), and exactly one action. Later steps refer to earlier results with
``${step}`` (the step's main result) or ``${step.role}`` (a named output).
Paths are relative to the pipeline file, or ``package:NAME/path`` for files
shipped inside an installed package. Every action goes through the SDK, so a
pipeline can do nothing a person could not do with the CLI; governance still
decides (a promotion a policy refuses makes the step fail, unless the step says
it ``expect``s that).

People act through real credentials: a ``people`` step bootstraps the named
admin on a store without one (or uses the admin the pipeline runs as), grants
roles, and gives each person a token, or a personal signing key generated and
registered on the spot; later steps ``as`` that person act with it. A step ``as``
someone the pipeline holds no credential for acts under a name only, which may
register and run but never decide.

Actions: ``people``, ``grant``, ``register_dataset``, ``register_model``,
``register_suite``, ``run``,
``explain``, ``promote``, ``await_approval``, ``approve``, ``bundle``, ``serve``, ``monitor``,
``verify_audit``.
"""

from lmops_core.pipelines.result import Reporter, StepResult
from lmops_core.pipelines.runner import PipelineRunner
from lmops_core.pipelines.schema import Pipeline, Step, load_pipeline

__all__ = ["Pipeline", "PipelineRunner", "Reporter", "Step", "StepResult", "load_pipeline"]
