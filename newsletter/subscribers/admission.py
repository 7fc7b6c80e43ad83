"""What the list manager may do to an address: the one rule for `add` and `import`.

An operator (or an imported list) can add addresses, confirm pending ones and
record suppressions carried over from another system. It can never undo what the
subscriber or their mailbox said: an address that unsubscribed, bounced or
complained is not re-activated, and a suppression only ever gets stronger
(complained over bounced over unsubscribed). The way back for those is the
subscriber's own double opt-in (``lifecycle``).
"""

from __future__ import annotations

from newsletter.db.models import SubscriberStatus
from newsletter.subscribers.lifecycle import outranks


def admitted_status(current: SubscriberStatus | None, wanted: SubscriberStatus) -> SubscriberStatus | None:
    """The status after asking for ``wanted`` (None: a new address); None when refused.

    ``wanted`` is ACTIVE (the operator states consent), PENDING (a confirmation
    mail will ask for it) or a suppression status.
    """
    if wanted.is_suppressed:
        if current is not None and current.is_suppressed and not outranks(wanted, current):
            return current
        return wanted
    if current is None:
        return wanted
    if current.is_suppressed:
        return None
    if current is SubscriberStatus.ACTIVE:
        return current  # never downgraded to pending
    return wanted
