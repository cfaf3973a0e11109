"""User-facing errors: each carries one line that says what is wrong and where.

The CLI prints `str(error)` on stderr and exits 1; workers log it. Anything else that
escapes is a bug, not bad input.
"""

from __future__ import annotations


class CampaignsError(Exception):
    """Base of every error caused by what a user asked for."""


class NotFoundError(CampaignsError):
    pass


class InvalidInputError(CampaignsError):
    pass


class ConflictError(CampaignsError):
    """The request contradicts the stored state (duplicate id, closed campaign, ...)."""
