"""Property-based requests against the knowledge API's own OpenAPI spec (schemathesis): valid and
invalid inputs for every operation, each sent with and without a token, counting the cases and any
server error. The test suite runs a few dozen per operation; ``benchmarks/bench_serving.py`` more.
schemathesis is a development dependency (``pip install -e .[dev]``)."""

from __future__ import annotations

from collections import Counter


def fuzz_app(app, token: str, *, examples: int = 50) -> dict:
    """Cases tried, their status codes, and the 5xx found (``"METHOD path: status"``)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    unauthenticated_passed: list[str] = []
    skipped: list[str] = []
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:
                for headers in ({"Authorization": f"Bearer {token}"}, {}):
                    response = case.call(headers=headers)
                    statuses[response.status_code] += 1
                    where = f"{case.method} {case.formatted_path}"
                    if response.status_code >= 500:
                        server_errors.append(f"{where}: {response.status_code} {response.text[:200]}")
                    if not headers and case.path != "/health" and response.status_code < 400:
                        unauthenticated_passed.append(where)

            try:
                run()
            except Unsatisfiable:  # an operation without inputs (GET /health) has no invalid ones
                skipped.append(f"{operation.method.upper()} {operation.path} {mode.value}")
    return {"cases": sum(statuses.values()), "by_status": dict(sorted(statuses.items())),
            "server_errors": server_errors, "unauthenticated_passed": unauthenticated_passed,
            "no_cases": skipped}
