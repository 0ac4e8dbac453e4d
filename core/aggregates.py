"""Aggregates and the durable events they are made of.

Boundaries:
- Account (id from the username): who a person is and their role.
- CaseloadLink (id from worker + SU): a worker's link to one service user.
- Journey (id from the SU): every action the SU takes or that is taken with them,
  alone or in a joint session. Joint-session actions are written here once, tagged
  with the session id, so they appear in the SU's journey without a second copy.
- JointSession: who is in a meeting, who drives, what was suggested, when it ended.
- Consent (id from the SU): research consent given and withdrawn, per study and provision.
- Study (id from its code): arms, dates, researchers, and who is enrolled in which arm.
- AuditTrail (id from the accessor): every access to someone else's data.

Events are past tense and carry the envelope in `Action`. A stored event is never
rewritten: a changed shape gets a new `class_version` and an upcast method.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from core.commands import PROVISIONS
from core.errors import Conflict, Forbidden, InvalidField

_NS = uuid5(NAMESPACE_URL, "https://tandem.example/ids")


def account_id(username: str) -> UUID:
    return uuid5(_NS, "account:" + username.strip().lower())


def link_id(worker_id: UUID, su_id: UUID) -> UUID:
    return uuid5(_NS, f"link:{worker_id}:{su_id}")


@lru_cache(maxsize=100_000)
def journey_id(su_id: UUID) -> UUID:
    return uuid5(_NS, f"journey:{su_id}")


def consent_id(su_id: UUID) -> UUID:
    return uuid5(_NS, f"consent:{su_id}")


def audit_id(actor_id: UUID) -> UUID:
    return uuid5(_NS, f"audit:{actor_id}")


def study_id(code: str) -> UUID:
    return uuid5(_NS, "study:" + code.strip().lower())


class Action(Aggregate.Event):
    """The envelope every durable action carries (server time is `timestamp`)."""

    event_id: str
    actor_id: UUID
    actor_role: str
    device: str
    session_id: UUID | None
    client_time: datetime | None
    content_version: str | None
    client_event_id: str
    # The field holding personal data, stored sealed with the SU's key (core/keystore.py).
    sealed_field: ClassVar[str | None] = None
    sealed_as_json: ClassVar[bool] = False  # the value is sealed as JSON text, not a string

    def apply(self, aggregate: Any) -> None:
        aggregate.last_action_at = self.timestamp


# ---------------------------------------------------------------- accounts

LOGIN_LIFETIME = timedelta(hours=12)  # a working day; after that the person logs in again


def secret_hash(secret: str) -> str:
    """What the store keeps of a session id or a set-password link: never the secret itself."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Account(Aggregate):
    class Registered(Aggregate.Created):
        username: str
        display_name: str | dict[str, str]  # sealed with the person's key (plain in older events)
        role: str
        password_hash: str
        pseudonym: str

    def __init__(
        self, username: str, display_name: str | dict[str, str], role: str, password_hash: str, pseudonym: str
    ):
        self.username = username
        self.display_name = display_name
        self.role = role
        self.password_hash = password_hash
        self.pseudonym = pseudonym
        self.active = True
        self.erased = False
        self.sessions_revoked_at: datetime | None = None
        self.live_sessions: dict[str, datetime] = {}  # session id hash -> when it was opened
        self.reset_link: tuple[str, datetime] | None = None  # (link token hash, expires at)
        self.admin_resets: list[datetime] = []

    def session_live(self, session_id: str) -> bool:
        return secret_hash(session_id) in self.live_sessions

    class LoggedIn(Aggregate.Event):
        session_hash: str

        def apply(self, account: Account) -> None:
            # Sessions older than a log-in's lifetime are dead anyway: forget them.
            oldest = self.timestamp - LOGIN_LIFETIME
            account.live_sessions = {h: t for h, t in account.live_sessions.items() if t > oldest}
            account.live_sessions[self.session_hash] = self.timestamp

    class LoggedOut(Aggregate.Event):
        session_hash: str

        def apply(self, account: Account) -> None:
            account.live_sessions.pop(self.session_hash, None)

    class PasswordChanged(Aggregate.Event):
        password_hash: str

        def apply(self, account: Account) -> None:
            account.password_hash = self.password_hash

    class PasswordReset(Aggregate.Event):
        """An admin set a new password (stored before resets became set-password links)."""

        password_hash: str
        by: UUID

        def apply(self, account: Account) -> None:
            account.password_hash = self.password_hash

    class ResetLinkIssued(Aggregate.Event):
        """An admin reset the password: the old one stops working and only the person
        holding the single-use link can choose the next one."""

        link_hash: str
        expires_at: datetime
        by: UUID

        def apply(self, account: Account) -> None:
            account.password_hash = ""  # matches no password
            account.reset_link = (self.link_hash, self.expires_at)
            account.admin_resets.append(self.timestamp)

    class PasswordSetByLink(Aggregate.Event):
        password_hash: str

        def apply(self, account: Account) -> None:
            account.password_hash = self.password_hash
            account.reset_link = None

    class LoggedOutEverywhere(Aggregate.Event):
        def apply(self, account: Account) -> None:
            account.sessions_revoked_at = self.timestamp
            account.live_sessions = {}

    class Deactivated(Aggregate.Event):
        by: UUID

        def apply(self, account: Account) -> None:
            account.active = False

    class Reactivated(Aggregate.Event):
        """An admin let a deactivated account log in again (never an erased one)."""

        by: UUID

        def apply(self, account: Account) -> None:
            account.active = True

    class Erased(Aggregate.Event):
        """The person's key was destroyed: their name, text and values are unreadable everywhere."""

        by: UUID

        def apply(self, account: Account) -> None:
            account.erased = True
            account.active = False


class CaseloadLink(Aggregate):
    class Linked(Aggregate.Created):
        worker_id: UUID
        su_id: UUID
        by: UUID

    def __init__(self, worker_id: UUID, su_id: UUID, by: UUID):
        self.worker_id = worker_id
        self.su_id = su_id
        self.active = True

    class Unlinked(Aggregate.Event):
        by: UUID

        def apply(self, link: CaseloadLink) -> None:
            link.active = False

    class Relinked(Aggregate.Event):
        by: UUID

        def apply(self, link: CaseloadLink) -> None:
            link.active = True


# ---------------------------------------------------------------- journey


class Journey(Aggregate):
    class Began(Aggregate.Created):
        su_id: UUID

    def __init__(self, su_id: UUID):
        self.su_id = su_id
        self.last_action_at: datetime | None = None
        self.shared: set[tuple[str, str]] = set()

    class TopicOpened(Action):
        topic_id: str

    class SectionViewed(Action):
        section_id: str
        seconds_on_screen: float | None

    class VideoPlayed(Action):
        video_id: str
        position_s: float

    class VideoPaused(Action):
        video_id: str
        position_s: float

    class VideoSeeked(Action):
        video_id: str
        from_s: float
        to_s: float

    class VideoProgressed(Action):
        video_id: str
        percent: int
        position_s: float

    class VideoCompleted(Action):
        video_id: str

    class AnswerSaved(Action):
        sealed_field = "answer"
        question_id: str
        answer: dict[str, str]  # sealed with the SU's key: {"n": nonce, "c": ciphertext}

    class ChartPointRecorded(Action):
        """v2: one point may carry several measures (sleep has hours and quality)."""

        class_version = 2
        sealed_field = "values"
        sealed_as_json = True
        tracker_id: str
        values: dict[str, Any]  # sealed JSON of {measure id: number} (plain in older events)
        for_date: str  # the day the point is about, YYYY-MM-DD

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 stored a single `value`, always the tracker's main measure.
            state["values"] = {state["tracker_id"]: state.pop("value")}

    class WorksheetItemAdded(Action):
        sealed_field = "text"
        worksheet_id: str
        item_id: str
        text: dict[str, str]  # sealed

    class WorksheetItemChanged(Action):
        sealed_field = "text"
        worksheet_id: str
        item_id: str
        text: dict[str, str]  # sealed

    class WorksheetItemRemoved(Action):
        worksheet_id: str
        item_id: str

    class DataExported(Action):
        """The SU downloaded everything Tandem holds about them."""

    class ItemShared(Action):
        """The SU lets their linked worker see a topic's progress, an answer, a chart or a worksheet."""

        scope: str
        ref: str

        def apply(self, journey: Journey) -> None:
            super().apply(journey)
            journey.shared.add((self.scope, self.ref))

    class ItemUnshared(Action):
        scope: str
        ref: str

        def apply(self, journey: Journey) -> None:
            super().apply(journey)
            journey.shared.discard((self.scope, self.ref))


# ---------------------------------------------------------------- joint sessions


class JointSession(Aggregate):
    class SessionStarted(Aggregate.Created):
        worker_id: UUID
        su_id: UUID
        same_device: bool
        started_by: UUID
        device: str

    def __init__(self, worker_id: UUID, su_id: UUID, same_device: bool, started_by: UUID, device: str):
        self.worker_id = worker_id
        self.su_id = su_id
        self.same_device = same_device
        self.present: set[UUID] = set()
        self.control_holder = su_id  # the SU drives by default
        self.control_epoch = 1
        self.mirroring = True
        self.ended = False
        self.suggestions: dict[str, str] = {}  # id -> open/accepted/dismissed
        # What a device joining after a server restart must see again:
        self.suggested: dict[str, tuple[str, str | None]] = {}  # open suggestion id -> (topic, section)
        self.shown_charts: set[str] = set()  # the SU's charts on the shared screen
        self.control_requested = False

    def member(self, user_id: UUID) -> bool:
        return user_id in (self.worker_id, self.su_id)

    class ParticipantJoined(Action):
        user_id: UUID
        device_kind: str

        def apply(self, s: JointSession) -> None:
            s.present.add(self.user_id)

    class ParticipantLeft(Action):
        user_id: UUID
        reason: str

        def apply(self, s: JointSession) -> None:
            s.present.discard(self.user_id)

    class ControlRequested(Action):
        def apply(self, s: JointSession) -> None:
            s.control_requested = True

    class ControlRefused(Action):
        def apply(self, s: JointSession) -> None:
            s.control_requested = False

    class ControlHandedOver(Action):
        to_user: UUID
        epoch: int

        def apply(self, s: JointSession) -> None:
            s.control_holder = self.to_user
            s.control_epoch = self.epoch
            s.control_requested = False

    class SuggestionMade(Action):
        suggestion_id: str
        topic_id: str
        section_id: str | None

        def apply(self, s: JointSession) -> None:
            s.suggestions[self.suggestion_id] = "open"
            s.suggested[self.suggestion_id] = (self.topic_id, self.section_id)

    class SuggestionAccepted(Action):
        suggestion_id: str

        def apply(self, s: JointSession) -> None:
            s.suggestions[self.suggestion_id] = "accepted"
            s.suggested.pop(self.suggestion_id, None)

    class SuggestionDismissed(Action):
        suggestion_id: str

        def apply(self, s: JointSession) -> None:
            s.suggestions[self.suggestion_id] = "dismissed"
            s.suggested.pop(self.suggestion_id, None)

    class MirroringPaused(Action):
        def apply(self, s: JointSession) -> None:
            s.mirroring = False

    class MirroringResumed(Action):
        def apply(self, s: JointSession) -> None:
            s.mirroring = True

    class ChartShown(Action):
        tracker_id: str

        def apply(self, s: JointSession) -> None:
            s.shown_charts.add(self.tracker_id)

    class ChartHidden(Action):
        tracker_id: str

        def apply(self, s: JointSession) -> None:
            s.shown_charts.discard(self.tracker_id)

    class SessionEnded(Action):
        reason: str

        def apply(self, s: JointSession) -> None:
            s.ended = True
            s.present.clear()


# ---------------------------------------------------------------- consent and audit


class Consent(Aggregate):
    class Opened(Aggregate.Created):
        su_id: UUID

    def __init__(self, su_id: UUID):
        self.su_id = su_id
        self.research = False
        self.studies: dict[UUID, set[str]] = {}  # study id -> provisions currently given

    def provisions(self, study: UUID) -> set[str]:
        return self.studies.get(study, set())

    def check_study_consent(self, study: Study, provision: str, give: bool) -> None:
        """The rules for one study's consent: enrolled, a known provision, text only where allowed,
        answer text only on top of engagement, and no change that changes nothing."""
        if provision not in PROVISIONS:
            raise InvalidField(f"must be one of {', '.join(PROVISIONS)}", "provision")
        if self.su_id not in study.arm_of:
            raise Forbidden("you are not enrolled in this study", "study_id")
        if provision == "answer_text" and give and not study.allow_text:
            raise Forbidden("this study does not collect answer text", "provision")
        current = self.provisions(study.id)
        if provision == "answer_text" and give and "engagement" not in current:
            raise Conflict("agree to the study first, then to sharing answer text", "provision")
        if give == (provision in current):
            raise Conflict("that is already your choice", "provision")

    class StudyConsentGiven(Action):
        study_id: UUID
        provision: str

        def apply(self, c: Consent) -> None:
            super().apply(c)
            c.studies.setdefault(self.study_id, set()).add(self.provision)

    class StudyConsentWithdrawn(Action):
        """Withdrawing engagement withdraws answer text too: text is only ever on top of it."""

        study_id: UUID
        provision: str

        def apply(self, c: Consent) -> None:
            super().apply(c)
            given = c.studies.setdefault(self.study_id, set())
            given.discard(self.provision)
            if self.provision == "engagement":
                given.discard("answer_text")

    class ConsentGiven(Action):
        scope: str

        def apply(self, c: Consent) -> None:
            if self.scope == "research":
                c.research = True

    class ConsentWithdrawn(Action):
        scope: str

        def apply(self, c: Consent) -> None:
            if self.scope == "research":
                c.research = False


class AuditTrail(Aggregate):
    class Opened(Aggregate.Created):
        actor_id: UUID

    def __init__(self, actor_id: UUID):
        self.actor_id = actor_id

    class DataAccessed(Aggregate.Event):
        """Someone looked at (or tried to look at) another person's data."""

        actor_role: str
        subject_id: UUID | None
        resource: str
        allowed: bool
        reason: str


# ---------------------------------------------------------------- studies


class Study(Aggregate):
    """A research study: its arms and dates, the researchers on it, and who is enrolled where.

    `secret` keys the per-study pseudonyms and date shifts (an HMAC): two studies cannot be
    linked through them, and nothing outside this stream can compute them.
    """

    class Created(Aggregate.Created):
        code: str
        name: str
        arms: list[dict[str, str]]  # [{"id", "label", "description"}]
        start: str  # YYYY-MM-DD
        end: str
        researchers: list[str]  # account ids as text
        allow_text: bool
        secret: str
        by: UUID

    def __init__(
        self,
        code: str,
        name: str,
        arms: list[dict[str, str]],
        start: str,
        end: str,
        researchers: list[str],
        allow_text: bool,
        secret: str,
        by: UUID,
    ):
        self.code, self.name, self.arms = code, name, arms
        self.start, self.end = start, end
        self.researchers = set(researchers)
        self.allow_text = allow_text
        self.secret = secret
        self.arm_of: dict[UUID, str] = {}

    def arm_ids(self) -> list[str]:
        return [a["id"] for a in self.arms]

    def enrol(self, su_id: UUID, arm: str, by: UUID) -> None:
        if arm not in self.arm_ids():
            raise InvalidField(f"unknown arm {arm!r}; this study has {', '.join(self.arm_ids())}", "arm")
        if su_id in self.arm_of:
            raise Conflict(f"already enrolled in this study (arm {self.arm_of[su_id]})", "su_id")
        self.trigger_event(Study.ParticipantEnrolled, su_id=su_id, arm=arm, by=by)

    def set_researchers(self, researchers: list[str], by: UUID) -> None:
        self.trigger_event(Study.ResearchersChanged, researchers=sorted(set(researchers)), by=by)

    class ParticipantEnrolled(Aggregate.Event):
        su_id: UUID
        arm: str
        by: UUID

        def apply(self, s: Study) -> None:
            s.arm_of[self.su_id] = self.arm

    class ResearchersChanged(Aggregate.Event):
        researchers: list[str]
        by: UUID

        def apply(self, s: Study) -> None:
            s.researchers = set(self.researchers)


# ---------------------------------------------------------------- event metadata, asked by every layer

ACTIONS: dict[str, type[Action]] = {
    cls.__name__: cls
    for owner in (Journey, JointSession, Consent)
    for cls in vars(owner).values()
    if isinstance(cls, type) and issubclass(cls, Action)
}
# What every action carries besides its own fields (the library's three, then Action's).
ENVELOPE_FIELDS = frozenset(f.name for f in dataclasses.fields(Action))
SEALED_FIELDS = {name: cls.sealed_field for name, cls in ACTIONS.items() if cls.sealed_field is not None}
JSON_SEALED = frozenset(name for name, cls in ACTIONS.items() if cls.sealed_as_json)
