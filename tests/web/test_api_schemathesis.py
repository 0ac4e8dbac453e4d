"""Property-based run of the JSON API against its own OpenAPI document: no 5xx, ever.

Each operation is called as the role it is for (admin routes as adam, caseload as wendy,
the rest as sam), with a valid session cookie and CSRF token, so generated bodies reach
the handlers rather than stopping at the log-in check.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import PG_URL, _port_open, drop_pg_schema, fresh_pg_schema, make_settings, unavailable
from tests.web.conftest import Site, seed_all

warnings.filterwarnings("ignore", message=".*httpx2.*")
SKIP = r"/api/(logout|logout-everywhere)$"  # would end the run's own session


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api_site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from web.app import create_app

    schema_name = None
    if request.param == "sqlite":
        st = make_settings(tmp_path_factory.mktemp("api"))
    else:
        if not _port_open("127.0.0.1", 5432):
            unavailable("PostgreSQL is not running on 127.0.0.1:5432")
        url, schema_name = fresh_pg_schema(PG_URL)
        st = make_settings(tmp_path_factory.mktemp("api"), url)
    ids = seed_all(st)
    site = Site(create_app(st), ids)
    site.client()  # runs the lifespan for the whole module
    site.sessions = {u: site.login(u) for u in ("sam", "wendy", "adam")}  # type: ignore[attr-defined]
    try:
        yield site
    finally:
        site.clients[0].__exit__(None, None, None)
        if schema_name:
            from tests.web.conftest import _drop_views_schema

            _drop_views_schema(st)
            drop_pg_schema(PG_URL, schema_name)


def _who(path: str) -> str:
    if path.startswith("/api/admin"):
        return "adam"
    if path.startswith("/api/caseload"):
        return "wendy"
    return "sam"


def test_api_never_answers_5xx(api_site: Site) -> None:
    """Schemathesis generates the requests (valid and invalid) for every operation; hypothesis drives them."""
    import re

    from hypothesis import given

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", api_site.app)
    failures: list[str] = []
    count = 0
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        op = result.ok()
        if re.search(SKIP, op.path):
            continue
        client, token = api_site.sessions[_who(op.path)]  # type: ignore[attr-defined]
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())

        @given(case=op.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            nonlocal count
            count += 1
            # run() is called in this same iteration, so the loop's cookie and token are the right ones
            response = case.call(headers={"Cookie": cookie, "X-CSRF-Token": token})  # noqa: B023
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.body!r:.200} -> {response.status_code}: {response.text[:300]}"
                )

        run()
    assert count > 300
    # The run must reach the handlers, not stop at the log-in check.
    assert sum(n for code, n in statuses.items() if code < 300) > 100, statuses
    assert not failures, "\n".join(failures[:20])
