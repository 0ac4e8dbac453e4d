"""Demo accounts for `make run`: a service user, their worker, a researcher and an admin."""

from __future__ import annotations

from core.errors import Conflict
from core.service import Tandem

DEMO = [
    # username, display name, role, password
    ("sam", "Sam Taylor", "service_user", "sam-demo-pass"),
    ("wendy", "Wendy Clarke", "worker", "wendy-demo-pass"),
    ("rita", "Rita Osei", "researcher", "rita-demo-pass"),
    ("adam", "Adam Hughes", "admin", "adam-demo-pass"),
]


def seed(tandem: Tandem) -> list[tuple[str, str, str]]:
    """Create the demo accounts and link Wendy to Sam. Safe to run again."""
    ids = {}
    for username, name, role, password in DEMO:
        try:
            ids[username] = tandem.register(username, name, role, password)
        except Conflict:
            from core.aggregates import account_id

            ids[username] = account_id(username)
    if not tandem.is_linked(ids["wendy"], ids["sam"]):
        try:
            tandem.link(ids["wendy"], ids["sam"], by=ids["adam"])
        except Conflict:
            pass  # still linked, to Sam erased: nothing to redo
    return [(u, r, p) for u, _, r, p in DEMO]
