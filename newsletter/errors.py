"""Every error this package raises on purpose, organised by cause.

    NewsletterError
    ├── ConfigurationError         settings missing or unsafe (names the variable)
    ├── DatabaseUnavailableError   the database is unreachable, missing or not initialised
    ├── ContentError               a content file is malformed (names file, field, value)
    │   └── ContentErrors          several of them, all reported at once
    ├── NotFoundError              a region, edition or subscriber that does not exist
    ├── StaleWriteError            a write whose condition fails (the content API's If-Match, If-None-Match)
    ├── ListError                  a subscriber list (CSV) or a list manager's request is unusable
    ├── EditionError               an edition cannot be assembled, approved or sent as asked
    │   ├── EmptyEditionError      no stories to send: reported, never an empty email
    │   └── HtmlTooLargeError      the HTML is over NEWSLETTER_MAX_HTML_KB (Gmail would clip it)
    ├── TokenError                 a signed link is forged, truncated, expired or revoked
    ├── QueueUnavailableError      the task queue's broker (NEWSLETTER_QUEUE_URL) cannot be reached
    └── DeliveryError              a backend could not hand a message over
        ├── TransientDeliveryError     worth retrying later (429, 5xx, refused connection)
        ├── PermanentDeliveryError     retrying will not help (4xx other than 429)
        │   ├── AuthenticationError    the provider refused our credentials: stop the send
        │   └── ProviderLimitError     the request would break a documented provider limit
        └── UnknownOutcomeError        the request may have reached the provider: never retry

A retry decision is an ``except`` clause on these classes, never string matching.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Base of every error raised on purpose by this package."""


class ConfigurationError(NewsletterError):
    """A setting is missing, malformed or unsafe for this mode."""


class ContentError(NewsletterError):
    """A content file is malformed. Carries the file, the field and the bad value."""

    def __init__(self, file: str, field: str, value: object, problem: str) -> None:
        self.file = file
        self.field = field
        self.value = value
        self.problem = problem
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{file}: field '{field}': {problem} (value: {shown})")

    @property
    def errors(self) -> list[ContentError]:
        """Every problem found; one here."""
        return [self]


class ContentErrors(ContentError):
    """Every problem found in a content folder, so one run shows them all.

    The first one fills ``file``, ``field``, ``value`` and ``problem``; the message
    lists each on a line of its own.
    """

    def __init__(self, errors: list[ContentError]) -> None:
        first = errors[0]
        super().__init__(first.file, first.field, first.value, first.problem)
        self._errors = list(errors)
        self.args = (
            f"{len(errors)} problems in the content (nothing was loaded):\n"
            + "\n".join(f"  {error}" for error in errors),
        )

    @property
    def errors(self) -> list[ContentError]:
        return list(self._errors)


class DatabaseUnavailableError(NewsletterError):
    """The database cannot be used as configured; the message says what to run or fix."""


class NotFoundError(NewsletterError):
    """A named thing (region, edition, subscriber) does not exist."""


class StaleWriteError(NewsletterError):
    """A write's condition is false: its ETag is no longer the stored one (someone changed it
    since), it names a record that does not exist, or it creates only and the record exists."""


class ListError(NewsletterError):
    """A subscriber list file cannot be read, or the list manager asked for what is refused."""


class EditionError(NewsletterError):
    """An edition cannot be assembled, approved or sent in its current state."""


class EmptyEditionError(EditionError):
    """An edition has no stories: it is reported, never sent as an empty email."""


class HtmlTooLargeError(EditionError):
    """An edition's HTML is over the size budget: Gmail would clip it, hiding the unsubscribe link."""


class TokenError(NewsletterError):
    """A signed link is forged, truncated, expired or revoked."""


class QueueUnavailableError(NewsletterError):
    """The broker named by NEWSLETTER_QUEUE_URL refused or dropped us: nothing was queued."""


class DeliveryError(NewsletterError):
    """A backend could not hand a message over. ``detail`` holds the provider's answer."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        self.status = status
        self.detail = detail
        super().__init__(message)


class TransientDeliveryError(DeliveryError):
    """Worth retrying: rate limited, provider error, or a connection that was refused."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, detail=detail)


class PermanentDeliveryError(DeliveryError):
    """Retrying the same request will not help."""


class AuthenticationError(PermanentDeliveryError):
    """The provider refused the credentials: the whole send must stop."""


class ProviderLimitError(PermanentDeliveryError):
    """The request would break a limit the provider documents but no schema checks.

    Raised before anything is sent (too many categories, an empty subject, a
    substitution too large for one personalization), so nothing is dropped silently.
    """


class UnknownOutcomeError(DeliveryError):
    """The request may have reached the provider (timeout, dropped connection).

    Mail send has no idempotency key, so retrying could deliver twice; these
    recipients are left for an operator to release.
    """
