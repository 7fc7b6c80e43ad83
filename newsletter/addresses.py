"""Email address validation and the one normal form used for uniqueness."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class InvalidAddress(ValueError):
    """The text is not a deliverable-looking email address."""


def normalise_email(raw: str) -> str:
    """Validate syntax (no DNS look-up) and return the lower-cased normal form."""
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return checked.normalized.lower()
