"""The attack tests reuse the web and live fixtures (a real store, a real server)."""

from tests.realtime.conftest import live, live_factory  # noqa: F401
from tests.web.conftest import sqlite_site  # noqa: F401
