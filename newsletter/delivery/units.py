"""Turn a batch into exchanges with the provider, and their failures into per-recipient outcomes.

A backend hands a batch over in *units*: one SendGrid request, one SMTP
transaction. A unit is all-or-nothing from our side, but a batch of several units
is not: when the third request of a batch hits a rate limit, the first two were
already accepted. Raising then would make the caller retry the whole batch and
send those twice, so the rule lives here, once:

* the first unit fails before anything went out -> the error is raised, the
  caller retries the batch (or stops, for refused credentials);
* a unit is refused for good (``PermanentDeliveryError``) -> its recipients FAIL,
  the next units go on;
* a unit may or may not have arrived (``UnknownOutcomeError``) -> its recipients
  are UNKNOWN; the rest are DEFERRED, because a provider that times out is not one
  to keep pushing at;
* a later unit hits a transient error or refused credentials -> it and the rest
  are DEFERRED (certainly not sent), carrying the provider's wait if it gave one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from newsletter.delivery.base import Outcome, Recipient, SendResult
from newsletter.errors import (
    AuthenticationError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UnknownOutcomeError,
)

SendUnit = Callable[[Sequence[Recipient]], list[SendResult]]


def describe(error: DeliveryError) -> str:
    """One line for the ledger's last_error: the message and the provider's detail."""
    text = str(error)
    if error.detail and error.detail not in text:
        text = f"{text}: {error.detail}"
    return text[:1000]


def _all(unit: Sequence[Recipient], outcome: Outcome, error: str, retry_after: float | None = None) -> list[SendResult]:
    return [SendResult(r, outcome, error=error, retry_after=retry_after) for r in unit]


def deliver_units(units: Iterable[Sequence[Recipient]], send_unit: SendUnit) -> list[SendResult]:
    """Send each unit in turn; see the module docstring for what a failure becomes."""
    results: list[SendResult] = []
    halted: tuple[str, float | None] | None = None  # (why, wait) once the rest must wait
    for unit in units:
        if halted is not None:
            results.extend(_all(unit, Outcome.DEFERRED, halted[0], halted[1]))
            continue
        try:
            results.extend(send_unit(unit))
        except PermanentDeliveryError as exc:
            if isinstance(exc, AuthenticationError):
                if not results:
                    raise
                halted = (describe(exc), None)
                results.extend(_all(unit, Outcome.DEFERRED, halted[0]))
            else:
                results.extend(_all(unit, Outcome.FAILED, describe(exc)))
        except TransientDeliveryError as exc:
            if not results:
                raise
            halted = (describe(exc), exc.retry_after)
            results.extend(_all(unit, Outcome.DEFERRED, halted[0], halted[1]))
        except UnknownOutcomeError as exc:
            results.extend(_all(unit, Outcome.UNKNOWN, describe(exc)))
            halted = (f"not attempted after an unknown outcome: {describe(exc)}", None)
    return results
