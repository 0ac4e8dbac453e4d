"""The one command API the web and realtime layers call.

    tandem = Tandem(settings.load(), catalogue=content_set)
    ack = await tandem.record(actor, Command("TopicOpened", {"topic_id": "recovery"}, "c-123..."))
    ack.position  # committed at this position in the global log

Every write goes through the group-commit writer. Validation that needs no state
runs in the caller; checks that need state (membership, links, control) run in the
writer against the same view the write is built on.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import re
import secrets
import uuid
from concurrent.futures import Future
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from core import access
from core import aggregates as A
from core.commands import (
    CONSENT,
    JOURNEY,
    ROLES,
    SESSION,
    Actor,
    Catalogue,
    Command,
    Content,
    Pending,
    Recorded,
    validate,
)
from core.errors import Conflict, Forbidden, InvalidField
from core.keystore import KeyStore, Sealed
from core.log import open_log
from core.settings import Settings
from core.writer import Build, CommitListener, Event, GroupCommitWriter, WriteContext

_hasher = PasswordHasher()
RESET_LINK_LIFETIME = timedelta(hours=24)


def now() -> datetime:
    return datetime.now(UTC)


_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


def check_study(code: str, name: str, arms: list[dict[str, str]], start: str, end: str) -> dict[str, Any]:
    """A new study's fields, normalised, or an InvalidField naming the first bad one."""
    if not isinstance(code, str) or not _CODE.match(code.strip().lower()):
        raise InvalidField("must be 2 to 40 lower-case letters, digits or hyphens", "code")
    if not isinstance(name, str) or not name.strip() or not name.isprintable() or len(name) > 200:
        raise InvalidField("must be printable text of at most 200 characters", "name")
    days = []
    for field, value in (("start", start), ("end", end)):
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError
            days.append(date.fromisoformat(value))
        except ValueError:
            raise InvalidField("must be a date YYYY-MM-DD", field) from None
    if days[1] <= days[0]:
        raise InvalidField("must be after the start date", "end")
    if not isinstance(arms, list) or not 1 <= len(arms) <= 10:
        raise InvalidField("must list 1 to 10 arms", "arms")
    clean = []
    for arm in arms:
        arm_id = arm.get("id") if isinstance(arm, dict) else None
        label = arm.get("label") if isinstance(arm, dict) else None
        if not isinstance(arm_id, str) or not _CODE.match(arm_id):
            raise InvalidField("each arm needs an id of lower-case letters, digits or hyphens", "arms")
        if not isinstance(label, str) or not label.strip() or not label.isprintable() or len(label) > 100:
            raise InvalidField("each arm needs a printable label of at most 100 characters", "arms")
        desc = arm.get("description", "")
        if not isinstance(desc, str) or not desc.isprintable() or len(desc) > 500:
            raise InvalidField("an arm's description must be printable text of at most 500 characters", "arms")
        clean.append({"id": arm_id, "label": label.strip(), "description": desc.strip()})
    if len({a["id"] for a in clean}) != len(clean):
        raise InvalidField("arm ids must differ", "arms")
    return {"code": code.strip().lower(), "name": name.strip(), "arms": clean, "start": start, "end": end}


class Tandem:
    def __init__(self, settings: Settings, catalogue: Catalogue | Content | None = None):
        self.settings = settings
        self.catalogue = catalogue
        self.log = open_log(settings)
        self.keys = KeyStore(settings)
        self._listeners: list[CommitListener] = []
        self.writer = GroupCommitWriter(self.log, self._committed)

    def close(self) -> None:
        self.writer.close()
        self.keys.close()
        self.log.close()

    # ------------------------------------------------------------ following commits

    def on_commit(self, listener: CommitListener) -> None:
        """Call `listener(head_position, events)` from the writer thread after each commit,
        with the (position, event) pairs that commit stored, oldest first."""
        self._listeners.append(listener)

    def _committed(self, position: int, events: list[tuple[int, Event]]) -> None:
        for listener in list(self._listeners):
            listener(position, events)

    # ------------------------------------------------------------ recording actions

    async def record(self, actor: Actor, command: Command) -> Recorded:
        """Record one action; returns once it is committed. Raises a CommandError subclass."""
        return await self.writer.submit_async(self._pending(actor, command))

    def record_blocking(self, actor: Actor, command: Command, timeout: float = 30) -> Recorded:
        return self.submit(actor, command).result(timeout)

    def submit(self, actor: Actor, command: Command) -> Future[Recorded]:
        return self.writer.submit(self._pending(actor, command))

    def submit_backdated(self, actor: Actor, command: Command, at: datetime) -> Future[Recorded]:
        """Record with a server time in the past, through the same checks. Only for seeding
        (web/demo.py) and imports: never reachable from a request, since clients do not set server time."""
        return self.writer.submit(self._pending(actor, command, at))

    def _pending(self, actor: Actor, command: Command, at: datetime | None = None) -> Pending:
        payload = validate(command, self.catalogue)
        if command.type in JOURNEY:
            build = self._journey_builder(actor, command, payload, at)
        elif command.type in SESSION:
            build = self._session_builder(actor, command, payload, at)
        else:
            assert command.type in CONSENT
            build = self._consent_builder(actor, command, payload)
        return Pending(key=(str(actor.user_id), command.client_event_id), build=build)

    @staticmethod
    def _action(
        cls: type[A.Action],
        stream: UUID,
        version: int,
        actor: Actor,
        command: Command,
        fields: dict[str, Any],
        at: datetime | None = None,
    ) -> A.Action:
        """The event for one command: its own fields inside the envelope every action carries."""
        envelope: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "actor_id": actor.user_id,
            "actor_role": actor.role,
            "device": actor.device[:100],
            "session_id": command.session_id,
            "client_time": command.client_time,
            "content_version": command.content_version,
            "client_event_id": command.client_event_id,
        }
        return cls(originator_id=stream, originator_version=version, timestamp=at or now(), **envelope, **fields)

    def _journey_builder(
        self, actor: Actor, command: Command, payload: dict[str, Any], at: datetime | None = None
    ) -> Build:
        def build(ctx: WriteContext) -> list[Any]:
            if actor.role not in ("service_user", "worker"):
                raise Forbidden(f"a {actor.role} cannot record {command.type}", "type")
            if command.session_id is not None:
                session = self._live_session(ctx, actor, command.session_id)
                su_id = session.su_id
            elif actor.role == "service_user":
                su_id = actor.user_id
            else:
                raise Forbidden(f"a {actor.role} can only act on a journey inside a joint session", "session_id")
            if actor.role != "service_user" and command.type in ("ItemShared", "ItemUnshared"):
                raise Forbidden("only the service user decides what is shared", "type")
            if actor.role == "worker":
                self._require_link(ctx, actor.user_id, su_id)
                need = access.share_needed(command.type, payload)
                if need is not None and not self._shares(ctx, su_id).allows(*need):
                    raise Forbidden("the service user has not shared this with you", need[1])
            elif actor.role != "service_user" or actor.user_id != su_id:
                raise Forbidden(f"a {actor.role} cannot record this", "type")
            fields = dict(payload)
            cls = A.ACTIONS[command.type]
            sealed = cls.sealed_field
            if sealed:
                value = fields[sealed]
                fields[sealed] = self.keys.seal(su_id, json.dumps(value) if cls.sealed_as_json else value)
            jid = A.journey_id(su_id)
            return [self._action(cls, jid, ctx.next_version(jid), actor, command, fields, at)]

        return build

    def _session_builder(
        self, actor: Actor, command: Command, payload: dict[str, Any], at: datetime | None = None
    ) -> Build:
        def build(ctx: WriteContext) -> list[Any]:
            if command.session_id is None:
                raise InvalidField("is required for joint-session actions", "session_id")
            s = self._live_session(ctx, actor, command.session_id)
            is_su, is_worker = actor.user_id == s.su_id, actor.user_id == s.worker_id
            t = command.type
            fields = dict(payload)
            if t in ("SuggestionMade", "ControlRequested", "SessionEnded") and not is_worker:
                raise Forbidden("only the worker can do this", "type")
            if (
                t
                in (
                    "SuggestionAccepted",
                    "SuggestionDismissed",
                    "ControlRefused",
                    "MirroringPaused",
                    "MirroringResumed",
                    "ChartShown",
                    "ChartHidden",
                )
                and not is_su
            ):
                raise Forbidden("only the service user can do this", "type")
            if (
                t in ("SuggestionAccepted", "SuggestionDismissed")
                and s.suggestions.get(fields["suggestion_id"]) != "open"
            ):
                raise InvalidField("is not an open suggestion", "suggestion_id")
            if t == "ControlHandedOver":
                to_user = fields["to_user"]
                if not s.member(to_user):
                    raise InvalidField("is not in this session", "to_user")
                # The holder can hand over; the SU can always take control back.
                if actor.user_id != s.control_holder and not (is_su and to_user == s.su_id):
                    raise Forbidden("only the person in control can hand it over", "type")
                fields["epoch"] = s.control_epoch + 1
            if t == "ParticipantJoined":
                fields["user_id"] = actor.user_id
            if t == "ParticipantLeft":
                fields["user_id"] = actor.user_id
                fields["reason"] = fields["reason"] or "left"
            if t == "SessionEnded":
                fields["reason"] = fields["reason"] or "ended by worker"
            cls = getattr(A.JointSession, t)
            return [self._action(cls, s.id, s.version + 1, actor, command, fields, at)]

        return build

    def _consent_builder(self, actor: Actor, command: Command, payload: dict[str, Any]) -> Build:
        def build(ctx: WriteContext) -> list[Any]:
            if actor.role != "service_user":
                raise Forbidden("only service users give or withdraw consent", "type")
            c = ctx.get(A.consent_id(actor.user_id))
            if not isinstance(c, A.Consent):
                raise Forbidden("no consent record for this account", "type")
            if command.type in ("StudyConsentGiven", "StudyConsentWithdrawn"):
                study = ctx.get(payload["study_id"])
                if not isinstance(study, A.Study):
                    raise InvalidField("there is no such study", "study_id")
                c.check_study_consent(study, payload["provision"], command.type == "StudyConsentGiven")
            cls = getattr(A.Consent, command.type)
            return [self._action(cls, c.id, c.version + 1, actor, command, payload)]

        return build

    def _live_session(self, ctx: WriteContext, actor: Actor, session_id: UUID) -> A.JointSession:
        return access.session_access(ctx.get, actor.user_id, session_id).require()

    def _require_link(self, ctx: WriteContext, worker_id: UUID, su_id: UUID) -> None:
        if not access.link_active(ctx.get, worker_id, su_id):
            raise Forbidden("this worker is not linked to this service user", "session_id")

    def _shares(self, ctx: WriteContext, su_id: UUID) -> access.Shares:
        """The SU's shares as stored plus those changed earlier in this batch (read from
        the journey's share events only: a journey holds thousands of other actions)."""
        jid = A.journey_id(su_id)
        return access.shares_from(self.log.stream(jid, access.SHARE_EVENTS) + ctx.built(jid))

    def record_export(self, actor: Actor) -> Recorded:
        """The SU took a copy of their data: recorded on their journey like any action."""
        command = Command("DataExported", {}, f"srv-{uuid.uuid4()}")

        def build(ctx: WriteContext) -> list[Any]:
            if actor.role != "service_user":
                raise Forbidden("only a service user downloads their own data", "type")
            jid = A.journey_id(actor.user_id)
            return [self._action(A.Journey.DataExported, jid, ctx.next_version(jid), actor, command, {})]

        return self.writer.submit(Pending(key=None, build=build)).result(30)

    # ------------------------------------------------------------ accounts, links, sessions

    def register(self, username: str, display_name: str, role: str, password: str) -> UUID:
        """Create an account (and, for a service user, their journey and consent record)."""
        if role not in ROLES:
            raise InvalidField(f"must be one of {', '.join(ROLES)}", "role")
        if not 2 <= len(username.strip()) <= 64 or not username.isprintable():
            raise InvalidField("must be 2 to 64 printable characters", "username")
        if not display_name.strip() or not display_name.isprintable():
            raise InvalidField("must be printable text", "display_name")
        if len(password) < 8:
            raise InvalidField("must be at least 8 characters", "password")
        pw_hash = _hasher.hash(password)

        def build(ctx: WriteContext) -> list[Any]:
            uid = A.account_id(username)
            if ctx.get(uid) is not None:
                raise Conflict("that username is taken", "username")
            account = A.Account._create(
                A.Account.Registered,
                id=uid,
                username=username.strip(),
                display_name=self.keys.seal(uid, display_name.strip()[:100]),
                role=role,
                password_hash=pw_hash,
                pseudonym="P-" + secrets.token_hex(4),
            )
            objs: list[Any] = [
                account,
                A.AuditTrail._create(A.AuditTrail.Opened, id=A.audit_id(account.id), actor_id=account.id),
            ]
            if role == "service_user":
                objs.append(A.Journey._create(A.Journey.Began, id=A.journey_id(account.id), su_id=account.id))
                objs.append(A.Consent._create(A.Consent.Opened, id=A.consent_id(account.id), su_id=account.id))
            return [e for o in objs for e in o.collect_events()]

        self.writer.submit(Pending(key=None, build=build)).result(30)
        return A.account_id(username)

    def account(self, user_id: UUID) -> A.Account | None:
        agg = self.log.find(user_id)
        return agg if isinstance(agg, A.Account) else None

    def authenticate(self, username: str, password: str) -> A.Account | None:
        account = self.account(A.account_id(username))
        if account is None or not account.active:
            _hasher.hash(password)  # spend the same time whether or not the account exists
            return None
        try:
            _hasher.verify(account.password_hash, password)
        except (VerifyMismatchError, InvalidHashError):
            return None
        return account

    def change_password(self, user_id: UUID, current: str, new: str) -> Recorded:
        """The account holder's own change. The current password must match; every
        session (other devices included) ends in the same write, as after a lost phone."""
        account = self.account(user_id)
        if account is None or self.authenticate(account.username, current) is None:
            raise Forbidden("is not your current password", "current_password")
        if new == current:
            raise InvalidField("must differ from the current password", "new_password")
        return self._set_password(
            user_id, new, "new_password", A.Account.PasswordChanged, expect_hash=account.password_hash
        )

    def issue_reset_link(self, user_id: UUID, by: UUID) -> tuple[str, Recorded]:
        """An admin resets someone's password: their password and sessions stop working,
        the access is audited, and the returned token (for a set-password link, shown
        once) lets them choose a new one. Only its hash is stored."""
        token = secrets.token_urlsafe(32)

        def build(ctx: WriteContext) -> list[Any]:
            acc = ctx.edit(user_id)
            admin = ctx.get(by)
            trail = ctx.edit(A.audit_id(by))
            if not isinstance(acc, A.Account) or acc.erased:
                raise InvalidField("no such account", "user_id")
            if not isinstance(admin, A.Account) or trail is None:
                raise Forbidden("no such account", "actor")
            acc.trigger_event(
                A.Account.ResetLinkIssued,
                link_hash=A.secret_hash(token),
                expires_at=now() + RESET_LINK_LIFETIME,
                by=by,
            )
            acc.trigger_event(A.Account.LoggedOutEverywhere)
            trail.trigger_event(
                A.AuditTrail.DataAccessed,
                actor_role=admin.role,
                subject_id=user_id,
                resource=f"account:{user_id}/password",
                allowed=True,
                reason="password reset: set-password link issued",
            )
            return [*acc.collect_events(), *trail.collect_events()]

        rec = self.writer.submit(Pending(key=None, build=build)).result(30)
        return token, rec

    def reset_link_valid(self, user_id: UUID, token: str) -> bool:
        account = self.account(user_id)
        return account is not None and _link_matches(account, token)

    def set_password_by_link(self, user_id: UUID, token: str, new: str) -> Recorded:
        """Use a set-password link: the check and the consumption are one write, so a
        link works once. Every session ends, as after any password change."""
        if not 8 <= len(new) <= 1024:
            raise InvalidField("must be 8 to 1024 characters", "new_password")
        pw_hash = _hasher.hash(new)

        def build(ctx: WriteContext) -> list[Any]:
            acc = ctx.edit(user_id)
            if not isinstance(acc, A.Account) or not _link_matches(acc, token):
                raise Forbidden("this link has already been used or has expired", "token")
            acc.trigger_event(A.Account.PasswordSetByLink, password_hash=pw_hash)
            acc.trigger_event(A.Account.LoggedOutEverywhere)
            return list(acc.collect_events())

        return self.writer.submit(Pending(key=None, build=build)).result(30)

    def _set_password(
        self, user_id: UUID, new: str, field: str, event: type, expect_hash: str | None = None, **fields: Any
    ) -> Recorded:
        if not 8 <= len(new) <= 1024:
            raise InvalidField("must be 8 to 1024 characters", field)
        pw_hash = _hasher.hash(new)

        def build(ctx: WriteContext) -> list[Any]:
            acc = ctx.edit(user_id)
            if not isinstance(acc, A.Account) or acc.erased:
                raise InvalidField("no such account", "user_id")
            if expect_hash is not None and acc.password_hash != expect_hash:
                raise Conflict("the password was changed meanwhile; please try again", "current_password")
            acc.trigger_event(event, password_hash=pw_hash, **fields)
            acc.trigger_event(A.Account.LoggedOutEverywhere)
            return list(acc.collect_events())

        return self.writer.submit(Pending(key=None, build=build)).result(30)

    def link(self, worker_id: UUID, su_id: UUID, by: UUID) -> Recorded:
        worker, su = self.account(worker_id), self.account(su_id)
        if worker is None or worker.role != "worker":
            raise InvalidField("is not a worker", "worker_id")
        if su is None or su.role != "service_user":
            raise InvalidField("is not a service user", "su_id")
        # A deactivated account can take on no new link (reactivate it first).
        if not worker.active:
            raise InvalidField("this worker's account is deactivated", "worker_id")
        if not su.active:
            raise InvalidField("this service user's account is deactivated", "su_id")

        def build(ctx: WriteContext) -> list[Any]:
            existing = ctx.edit(A.link_id(worker_id, su_id))
            if not isinstance(existing, A.CaseloadLink):
                link = A.CaseloadLink._create(
                    A.CaseloadLink.Linked, id=A.link_id(worker_id, su_id), worker_id=worker_id, su_id=su_id, by=by
                )
                return list(link.collect_events())
            if existing.active:
                raise Conflict("already linked", "su_id")
            existing.trigger_event(A.CaseloadLink.Relinked, by=by)
            return list(existing.collect_events())

        return self.writer.submit(Pending(key=None, build=build)).result(30)

    def unlink(self, worker_id: UUID, su_id: UUID, by: UUID) -> Recorded:
        def build(ctx: WriteContext) -> list[Any]:
            link = ctx.edit(A.link_id(worker_id, su_id))
            if not isinstance(link, A.CaseloadLink) or not link.active:
                raise Conflict("not linked", "su_id")
            link.trigger_event(A.CaseloadLink.Unlinked, by=by)
            return list(link.collect_events())

        return self.writer.submit(Pending(key=None, build=build)).result(30)

    def is_linked(self, worker_id: UUID, su_id: UUID) -> bool:
        return access.link_active(self.log.find, worker_id, su_id)

    def start_session(
        self,
        actor: Actor,
        su_id: UUID | None = None,
        *,
        worker_id: UUID | None = None,
        same_device: bool = False,
        at: datetime | None = None,
    ) -> UUID:
        """Start a joint session between a worker and a service user they are linked to.

        Usually the worker starts it and invites the SU (`su_id`). An SU logged in on
        their worker's tablet can start one too (`worker_id`): it is same-device use,
        recorded as joint with both people.
        """
        if actor.role == "worker" and su_id is not None:
            worker_id = actor.user_id
        elif actor.role == "service_user" and worker_id is not None:
            su_id, same_device = actor.user_id, True
        else:
            raise Forbidden("a joint session is between a worker and a linked service user", "role")

        session_id = uuid.uuid4()

        def build(ctx: WriteContext) -> list[Any]:
            self._require_link(ctx, worker_id, su_id)
            s = A.JointSession._create(
                A.JointSession.SessionStarted,
                id=session_id,
                worker_id=worker_id,
                su_id=su_id,
                same_device=same_device,
                started_by=actor.user_id,
                device=actor.device,
            )
            events = list(s.collect_events())
            # `at`: seeding only (web/demo.py), as submit_backdated.
            return [dataclasses.replace(e, timestamp=at) for e in events] if at else events  # type: ignore[type-var]  # the library's events are dataclasses; mypy sees only their protocol

        self.writer.submit(Pending(key=None, build=build)).result(30)
        return session_id

    def session(self, session_id: UUID) -> A.JointSession | None:
        agg = self.log.find(session_id)
        return agg if isinstance(agg, A.JointSession) else None

    def session_access(self, user_id: UUID, session_id: UUID) -> access.SessionAccess:
        """This person's standing in that session as stored now (see core/access.py)."""
        return access.session_access(self.log.find, user_id, session_id)

    def shares(self, su_id: UUID) -> access.Shares:
        """What this SU shares with their linked worker, from their journey as stored."""
        return access.shares_from(self.log.stream(A.journey_id(su_id), access.SHARE_EVENTS))

    async def audit(
        self, actor: Actor, subject_id: UUID | None, resource: str, *, allowed: bool, reason: str = ""
    ) -> Recorded:
        """Record that `actor` looked at (or was refused) someone else's data."""

        def build(ctx: WriteContext) -> list[Any]:
            trail = ctx.edit(A.audit_id(actor.user_id))
            if trail is None:
                raise Forbidden("no such account", "actor")
            trail.trigger_event(
                A.AuditTrail.DataAccessed,
                actor_role=actor.role,
                subject_id=subject_id,
                resource=resource[:300],
                allowed=allowed,
                reason=reason[:300],
            )
            return list(trail.collect_events())

        return await self.writer.submit_async(Pending(key=None, build=build))

    def erase(self, su_id: UUID, by: UUID) -> Recorded:
        """Crypto-shred a service user: destroy their key, then record that it happened."""
        account = self.account(su_id)
        if account is None:
            raise InvalidField("no such account", "user_id")
        if account.role != "service_user":
            raise InvalidField(
                "Only service users have free text to erase; deactivate this account instead.", "user_id"
            )
        self.keys.destroy(su_id)
        return self._account_event(su_id, A.Account.Erased, by=by)

    def open_session(self, user_id: UUID) -> str:
        """A new log-in: its id (for the cookie or token) is returned, its hash stored."""
        session_id = secrets.token_urlsafe(32)
        self._account_event(user_id, A.Account.LoggedIn, session_hash=A.secret_hash(session_id))
        return session_id

    def close_session(self, user_id: UUID, session_id: str) -> None:
        """Log out one session (a no-op when it has already ended)."""
        account = self.account(user_id)
        if account is not None and account.session_live(session_id):
            self._account_event(user_id, A.Account.LoggedOut, session_hash=A.secret_hash(session_id))

    def log_out_everywhere(self, user_id: UUID) -> Recorded:
        """Every login session issued before now stops working."""
        return self._account_event(user_id, A.Account.LoggedOutEverywhere)

    def deactivate(self, user_id: UUID, by: UUID) -> Recorded:
        return self._account_event(user_id, A.Account.Deactivated, by=by)

    def reactivate(self, user_id: UUID, by: UUID) -> Recorded:
        account = self.account(user_id)
        if account is not None and account.erased:
            raise InvalidField("an erased account cannot be reactivated", "user_id")
        if account is not None and account.active:
            raise Conflict("this account is already active", "user_id")
        return self._account_event(user_id, A.Account.Reactivated, by=by)

    def _account_event(self, user_id: UUID, event: type, **fields: Any) -> Recorded:
        def build(ctx: WriteContext) -> list[Any]:
            account = ctx.edit(user_id)
            if not isinstance(account, A.Account):
                raise InvalidField("no such account", "user_id")
            account.trigger_event(event, **fields)
            return list(account.collect_events())

        return self.writer.submit(Pending(key=None, build=build)).result(30)

    # ------------------------------------------------------------ studies

    def create_study(
        self,
        code: str,
        name: str,
        arms: list[dict[str, str]],
        start: str,
        end: str,
        researchers: list[UUID],
        allow_text: bool,
        by: UUID,
    ) -> UUID:
        """An admin sets up a study. Everything is checked before anything is stored."""
        fields = check_study(code, name, arms, start, end)
        for r in researchers:
            acc = self.account(r)
            if acc is None or acc.role != "researcher" or not acc.active:
                raise InvalidField("must all be active researcher accounts", "researchers")
        sid = A.study_id(code)

        def build(ctx: WriteContext) -> list[Any]:
            if ctx.get(sid) is not None:
                raise Conflict("a study with that code exists", "code")
            study = A.Study._create(
                A.Study.Created,
                id=sid,
                **fields,
                researchers=sorted({str(r) for r in researchers}),
                allow_text=bool(allow_text),
                secret=secrets.token_hex(32),
                by=by,
            )
            return list(study.collect_events())

        self.writer.submit(Pending(key=None, build=build)).result(30)
        return sid

    def enrol(self, study: UUID, su_id: UUID, arm: str, by: UUID) -> Recorded:
        su = self.account(su_id)
        if su is None or su.role != "service_user" or su.erased:
            raise InvalidField("is not a service user", "su_id")

        def build(ctx: WriteContext) -> list[Any]:
            s = ctx.edit(study)
            if not isinstance(s, A.Study):
                raise InvalidField("there is no such study", "study_id")
            s.enrol(su_id, arm, by)
            return list(s.collect_events())

        return self.writer.submit(Pending(key=None, build=build)).result(30)

    def study(self, study: UUID) -> A.Study | None:
        agg = self.log.find(study)
        return agg if isinstance(agg, A.Study) else None

    def reveal(self, su_id: UUID, sealed: Sealed) -> str | None:
        return self.keys.reveal(su_id, sealed)

    def reveal_values(self, su_id: UUID, stored: dict[str, Any]) -> dict[str, float] | None:
        """A chart point's values (sealed, or plain from before they were); None once erased."""
        return self.keys.values(su_id, stored)

    def display_name(self, account: A.Account) -> str:
        """The one way a person's name is read for display ("an erased account" once erased)."""
        return self.keys.name(account.id, account.display_name)

    # ------------------------------------------------------------ reading

    def head(self) -> int:
        return self.log.head()

    def session_events(self, session_id: UUID, after: int, upto: int, limit: int) -> list[tuple[int, Any]]:
        return self.log.session_events(session_id, after, upto, limit)

    def read(self, after: int, limit: int = 1000) -> list[tuple[int, Any]]:
        return self.log.read(after, limit)


def _link_matches(account: A.Account, token: str) -> bool:
    if account.reset_link is None or not account.active:  # erased accounts are inactive too
        return False
    link_hash, expires_at = account.reset_link
    return hmac.compare_digest(link_hash, A.secret_hash(token)) and now() < expires_at
