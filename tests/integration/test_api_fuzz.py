"""The JSON API fuzzed from its own contract: schemathesis reads `/openapi.json` of a running
API and generates, for every operation, requests that fit the contract and requests that
break it, each sent with a supplier's, a buyer's and an auditor's token. None may answer a
5xx, and every refusal is the API's problem body, with a code.

(schemathesis's pytest plugin does not run under this pytest; its strategies are driven by
Hypothesis directly, one operation after another.)"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.support.stack import Api

pytestmark = pytest.mark.stack

ROLES = ("supplier", "buyer", "auditor")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))  # per operation, each sent with every role
# A stream never ends, so it cannot be fuzzed request by request; tests/integration/test_live.py
# covers it.
ENDLESS = {"/live"}


def test_no_operation_answers_a_server_error_to_any_role(api: Api) -> None:
    contract = httpx.get(f"{api.base}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(contract)
    session = requests.Session()
    sent = 0
    took: dict[str, float] = {}
    operations = [
        operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if operation.path not in ENDLESS
    ]
    assert len(operations) >= 30, len(operations)
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def check(case: Any) -> None:
            nonlocal sent
            for who in ROLES:
                response = case.call(
                    base_url=api.base,
                    session=session,
                    headers={"Authorization": f"Bearer {api.tokens[who]}"},
                    timeout=60,
                )
                sent += 1
                where = (who, case.method, case.formatted_path, case.query, response.status_code)
                assert response.status_code < 500, (*where, response.text[:500])
                media = "".join(response.headers.get("content-type", []))  # a list of values
                if response.status_code >= 400 and media.startswith("application/json"):
                    detail = response.json()["detail"]
                    assert isinstance(detail, dict) and detail["code"], (*where, response.text)

        started = time.monotonic()
        check()
        took[f"{operation.method.upper()} {operation.path}"] = time.monotonic() - started
    slowest = sorted(took.items(), key=lambda item: -item[1])[:5]
    print("\nslowest operations: " + ", ".join(f"{name} {s:.1f} s" for name, s in slowest))
    print(f"\nfuzzing: {len(operations)} operations, {sent} requests")
    assert sent >= len(operations) * len(ROLES)
