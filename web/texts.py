"""The SU's saved free text (answers, worksheet items), decrypted for display.

The projections deliberately never store answer text, so this reads the SU's own
journey stream (one indexed query on one aggregate, not a scan of the log; only the
answer and worksheet events are decoded) and keeps only the newest answer per
question and the live worksheet items.
Decryption uses the SU's key; after erasure the text reads as None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from core import aggregates as A
from core.keystore import Sealed
from core.service import Tandem

ERASED = "(this text was erased)"


@dataclass
class Answer:
    question_id: str
    text: str
    saved_at: datetime


@dataclass
class Item:
    worksheet_id: str
    item_id: str
    text: str
    added_at: datetime
    changed_at: datetime | None = None


def _events(tandem: Tandem, su_id: UUID, *classes: type) -> list[Any]:
    return tandem.log.stream(A.journey_id(su_id), classes)


def _texts(tandem: Tandem, su_id: UUID) -> Callable[[Sealed], str]:
    open_ = tandem.keys.opener(su_id)  # one read of the key for the whole page
    return lambda sealed: open_(sealed) or ERASED


def reveal_text(tandem: Tandem, su_id: UUID, sealed: dict[str, str]) -> str:
    """One sealed text in clear, or the erased marker once the person's key is gone."""
    return _texts(tandem, su_id)(sealed)


def answers(tandem: Tandem, su_id: UUID, question_ids: set[str] | None = None) -> dict[str, Answer]:
    newest: dict[str, Any] = {}
    for ev in _events(tandem, su_id, A.Journey.AnswerSaved):
        if question_ids is None or ev.question_id in question_ids:
            newest[ev.question_id] = ev
    text = _texts(tandem, su_id)
    return {q: Answer(q, text(ev.answer), ev.timestamp) for q, ev in newest.items()}


def worksheet_items(tandem: Tandem, su_id: UUID, worksheet_ids: set[str] | None = None) -> dict[str, list[Item]]:
    """worksheet id -> its current items, oldest first (each change and removal is its own event)."""
    live: dict[tuple[str, str], Item] = {}
    text = _texts(tandem, su_id)
    for ev in _events(
        tandem, su_id, A.Journey.WorksheetItemAdded, A.Journey.WorksheetItemChanged, A.Journey.WorksheetItemRemoved
    ):
        if worksheet_ids is not None and ev.worksheet_id not in worksheet_ids:
            continue
        key = (ev.worksheet_id, ev.item_id)
        if isinstance(ev, A.Journey.WorksheetItemAdded):
            live[key] = Item(ev.worksheet_id, ev.item_id, text(ev.text), ev.timestamp)
        elif isinstance(ev, A.Journey.WorksheetItemChanged) and key in live:
            live[key].text = text(ev.text)
            live[key].changed_at = ev.timestamp
        elif isinstance(ev, A.Journey.WorksheetItemRemoved):
            live.pop(key, None)
    out: dict[str, list[Item]] = {w: [] for w in (worksheet_ids or ())}
    for (w, _), item in live.items():
        out.setdefault(w, []).append(item)
    return out
