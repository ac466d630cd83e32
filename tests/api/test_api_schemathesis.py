"""Property-based fuzzing of every operation in the app's OpenAPI schema with schemathesis.

Valid and invalid inputs (schemathesis' positive and negative generation) are sent
with an admin token; no response may be a server error. Examples are bounded so the
whole run stays well under a minute.
"""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.api.conftest import Env

EXAMPLES = 20


def test_no_server_errors_for_generated_requests(sqlite_env: Env) -> None:
    ref = sqlite_env.model(acc=0.8)
    sqlite_env.as_user("sub").governance.request_promotion(ref, to="production")
    schema = schemathesis.openapi.from_asgi("/openapi.json", sqlite_env.app)
    headers = sqlite_env.auth("root-admin")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 21  # every documented operation (docs routes are not in it)
    calls: dict[str, int] = {}

    def make_fuzz(operation: schemathesis.APIOperation, mode: GenerationMode) -> Callable[[], None]:
        label = f"{operation.label} [{mode.value}]"

        strategies = [operation.as_strategy(generation_mode=mode)]
        if mode is GenerationMode.POSITIVE:  # the schema's examples name the stored model
            strategies += operation.get_strategies_from_examples()

        @given(case=st.one_of(*strategies))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            # Merge the token into whatever headers schemathesis generated.
            case.headers = {**(case.headers or {}), **headers}
            case.call_and_validate(checks=[not_a_server_error])
            calls[label] = calls.get(label, 0) + 1

        return fuzz

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                make_fuzz(operation, mode)()
            except Unsatisfiable:
                # Negative mode has nothing to break in an operation without inputs.
                assert mode is GenerationMode.NEGATIVE and not operation.query, operation.label
    assert sum(calls.values()) >= 10 * EXAMPLES
