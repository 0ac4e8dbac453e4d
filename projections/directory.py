"""Who is who: accounts, caseload links, research consent and what each SU shares."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from core import aggregates as A
from core.keystore import ERASED_NAME
from projections.base import Dead, Projection, Row, Rows, dumps, handles, ids_table, iso, sid
from projections.store import TableSpec

ACCOUNTS = TableSpec(
    "dir_accounts",
    (
        ("user_id", "text"),
        ("username", "text"),
        ("username_lc", "text"),
        ("display_name", "text"),
        ("role", "text"),
        ("pseudonym", "text"),
        ("active", "int"),
        ("erased", "int"),
        ("registered_at", "text"),
    ),
    ("user_id",),
    (("username_lc",), ("role",)),
)
LINKS = TableSpec(
    "dir_links",
    (("link_id", "text"), ("worker_id", "text"), ("su_id", "text"), ("active", "int"), ("linked_at", "text")),
    ("link_id",),
    (("worker_id",), ("su_id",)),
)
CONSENT = TableSpec(
    "dir_consent",
    (("consent_id", "text"), ("su_id", "text"), ("research", "int"), ("changed_at", "text")),
    ("consent_id",),
    (("su_id",),),
)
SHARED = TableSpec(
    "dir_shared",
    (("su_id", "text"), ("scope", "text"), ("ref", "text"), ("shared_at", "text")),
    ("su_id", "scope", "ref"),
)


class Directory(Projection):
    name = "directory"
    version = 2  # 2: forgets erased people
    tables = (ACCOUNTS, LINKS, CONSENT, SHARED, ids_table("directory"))
    # A worker's caseload still lists a link to an erased person, as "an erased account".
    keep_blanked = frozenset({("dir_links", "su_id")})

    # ------------------------------------------------------------ handlers

    @handles(A.Account.Registered)
    def _registered(self, ev: Any, pos: int, rows: Rows) -> None:
        rows.put(
            "dir_accounts",
            {
                "user_id": str(ev.originator_id),
                "username": ev.username,
                "username_lc": ev.username.lower(),
                "display_name": dumps(ev.display_name),  # sealed (or plain in older events)
                "role": ev.role,
                "pseudonym": ev.pseudonym,
                "active": 1,
                "erased": 0,
                "registered_at": iso(ev.timestamp),
            },
        )

    @handles(A.Account.Deactivated)
    def _deactivated(self, ev: Any, pos: int, rows: Rows) -> None:
        row = rows.get("dir_accounts", str(ev.originator_id))
        if row is None:
            raise Dead("unknown account")
        row["active"] = 0
        rows.put("dir_accounts", row)

    @handles(A.Account.Reactivated)
    def _reactivated(self, ev: Any, pos: int, rows: Rows) -> None:
        row = rows.get("dir_accounts", str(ev.originator_id))
        if row is None:
            raise Dead("unknown account")
        row["active"] = 1
        rows.put("dir_accounts", row)

    @handles(A.CaseloadLink.Linked)
    def _linked(self, ev: Any, pos: int, rows: Rows) -> None:
        rows.put(
            "dir_links",
            {
                "link_id": str(ev.originator_id),
                "worker_id": str(ev.worker_id),
                "su_id": str(ev.su_id),
                "active": 1,
                "linked_at": iso(ev.timestamp),
            },
        )

    @handles(A.CaseloadLink.Unlinked, A.CaseloadLink.Relinked)
    def _relinked(self, ev: Any, pos: int, rows: Rows) -> None:
        row = rows.get("dir_links", str(ev.originator_id))
        if row is None:
            raise Dead("unknown caseload link")
        row["active"] = int(isinstance(ev, A.CaseloadLink.Relinked))
        if row["active"]:
            row["linked_at"] = iso(ev.timestamp)
        rows.put("dir_links", row)

    @handles(A.Consent.Opened)
    def _consent_opened(self, ev: Any, pos: int, rows: Rows) -> None:
        rows.put(
            "dir_consent",
            {
                "consent_id": str(ev.originator_id),
                "su_id": str(ev.su_id),
                "research": 0,
                "changed_at": iso(ev.timestamp),
            },
        )

    @handles(A.Consent.ConsentGiven, A.Consent.ConsentWithdrawn)
    def _consent(self, ev: Any, pos: int, rows: Rows) -> None:
        row = rows.get("dir_consent", str(ev.originator_id))
        if row is None:
            raise Dead("unknown consent record")
        if ev.scope == "research":
            row["research"] = int(isinstance(ev, A.Consent.ConsentGiven))
            row["changed_at"] = iso(ev.timestamp)
            rows.put("dir_consent", row)

    @handles(A.Journey.Began)
    def _began(self, ev: Any, pos: int, rows: Rows) -> None:
        self.remember(rows, ev.originator_id, ev.su_id)

    @handles(A.Journey.ItemShared)
    def _shared(self, ev: Any, pos: int, rows: Rows) -> None:
        su = self.su_of(rows, ev.originator_id)
        rows.put("dir_shared", {"su_id": su, "scope": ev.scope, "ref": ev.ref, "shared_at": iso(ev.timestamp)})

    @handles(A.Journey.ItemUnshared)
    def _unshared(self, ev: Any, pos: int, rows: Rows) -> None:
        rows.delete("dir_shared", self.su_of(rows, ev.originator_id), ev.scope, ev.ref)

    # ------------------------------------------------------------ reads

    def account(self, user_id: UUID | str) -> Row | None:
        found = self.q("SELECT * FROM dir_accounts WHERE user_id = ?", str(user_id))
        return self._account(found[0]) if found else None

    def account_by_username(self, username: str) -> Row | None:
        found = self.q("SELECT * FROM dir_accounts WHERE username_lc = ?", username.strip().lower())
        return self._account(found[0]) if found else None

    def accounts(self, role: str | None = None) -> list[Row]:
        if role:
            found = self.q("SELECT * FROM dir_accounts WHERE role = ? ORDER BY username_lc", role)
        else:
            found = self.q("SELECT * FROM dir_accounts ORDER BY username_lc")
        return [self._account(r) for r in found]

    def caseload(self, worker_id: UUID | str, include_inactive: bool = False) -> list[Row]:
        return self._linked_accounts("worker_id", "su_id", worker_id, include_inactive)

    def workers_of(self, su_id: UUID | str, include_inactive: bool = False) -> list[Row]:
        return self._linked_accounts("su_id", "worker_id", su_id, include_inactive)

    def _linked_accounts(self, by: str, other: str, who: UUID | str, include_inactive: bool) -> list[Row]:
        cond = "" if include_inactive else " AND l.active = 1"
        found = self.q(
            f"SELECT a.*, l.active AS link_active, l.linked_at FROM dir_links l LEFT JOIN dir_accounts a ON a.user_id = l.{other} "
            f"WHERE l.{by} = ?{cond}",
            str(who),
        )
        people = [
            {**self._account(r), "link_active": bool(r["link_active"]), "linked_at": r["linked_at"]} for r in found
        ]
        return sorted(people, key=lambda p: (p["erased"], p["display_name"].casefold(), p["username"] or ""))

    def is_linked(self, worker_id: UUID | str, su_id: UUID | str) -> bool:
        return bool(
            self.q(
                "SELECT 1 FROM dir_links WHERE worker_id = ? AND su_id = ? AND active = 1", str(worker_id), str(su_id)
            )
        )

    def shared(self, su_id: UUID | str) -> list[Row]:
        return self.q("SELECT scope, ref, shared_at FROM dir_shared WHERE su_id = ? ORDER BY scope, ref", str(su_id))

    def is_shared(self, su_id: UUID | str, scope: str, ref: str) -> bool:
        return bool(
            self.q("SELECT 1 FROM dir_shared WHERE su_id = ? AND scope = ? AND ref = ?", str(su_id), scope, ref)
        )

    def has_consented(self, su_id: UUID | str) -> bool:
        return bool(self.q("SELECT 1 FROM dir_consent WHERE su_id = ? AND research = 1", sid(su_id)))

    def _account(self, r: Row) -> Row:
        if r["user_id"] is None:  # a caseload link to someone since erased: nothing else is known
            return {**dict.fromkeys(ACCOUNTS.col_names), "display_name": ERASED_NAME, "active": False, "erased": True}
        return {
            "user_id": r["user_id"],
            "username": r["username"],
            "display_name": self.keys.name(UUID(r["user_id"]), json.loads(r["display_name"])),
            "role": r["role"],
            "pseudonym": r["pseudonym"],
            "active": bool(r["active"]),
            "erased": bool(r["erased"]),
            "registered_at": r["registered_at"],
        }
