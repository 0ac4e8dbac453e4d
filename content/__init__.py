"""Tandem content: the YAML topics, sections, peers, videos, trackers and worksheets.

`content.load()` validates and returns an immutable `ContentSet`; `content.versions`
keeps snapshots so that events recorded against an older content version stay readable.
"""

from content.loader import DATA_ROOT, ContentError, ContentProblem, load
from content.model import (
    ContentSet,
    CrisisNotice,
    Measure,
    Peer,
    Question,
    Section,
    Topic,
    Tracker,
    UnknownContent,
    Video,
    Worksheet,
)

__all__ = [
    "DATA_ROOT",
    "ContentError",
    "ContentProblem",
    "ContentSet",
    "CrisisNotice",
    "Measure",
    "Peer",
    "Question",
    "Section",
    "Topic",
    "Tracker",
    "UnknownContent",
    "Video",
    "Worksheet",
    "load",
]
