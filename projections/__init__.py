"""Read models built from the event log (see projections/README.md for the read API)."""

from projections.runner import ALL, ProjectionSet

__all__ = ["ALL", "ProjectionSet"]
