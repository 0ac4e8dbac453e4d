"""The attack tests use the live-session servers of tests/realtime (real uvicorn, real sockets)."""

from tests.realtime.conftest import live, live_factory  # noqa: F401  (fixtures)
from tests.realtime.test_backplane import own_redis, pg  # noqa: F401  (fixtures)
