"""The transactional mails a subscribe request triggers, sent through the configured backend.

A confirmation mail carries the subscriber's manage token as its recipient token,
so its List-Unsubscribe header works ("I never asked for this" is one click).
The confirmation link itself is written into the body: it is not a placeholder.
"""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from newsletter.config import Settings
from newsletter.delivery.base import Backend, MessageContent, Outcome, Recipient
from newsletter.errors import DeliveryError
from newsletter.links import confirm_url, preferences_url
from newsletter.subscribers.lifecycle import MailKind, SubscribeOutcome
from newsletter.web.paths import TEMPLATES_DIR

CAMPAIGN = "transactional"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR / "mail"),
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)

_SUBJECTS = {
    MailKind.CONFIRM: "Confirm your subscription to {name}",
    MailKind.ALREADY_ACTIVE: "You are already subscribed to {name}",
}


def subscription_mail(settings: Settings, outcome: SubscribeOutcome) -> MessageContent:
    """The mail for one subscribe request, rendered for its single recipient."""
    values = {
        "site_name": settings.sender_name,
        "postal_address": settings.postal_address,
        "regions": outcome.region_names,
        "preferences_link": preferences_url(settings.base_url, outcome.manage_token),
        "confirm_link": confirm_url(settings.base_url, outcome.confirm_token) if outcome.confirm_token else "",
    }
    stem = outcome.kind.value
    return MessageContent(
        subject=_SUBJECTS[outcome.kind].format(name=settings.sender_name),
        html=_env.get_template(f"{stem}.html").render(values),
        text=_env.get_template(f"{stem}.txt").render(values),
        sender_name=settings.sender_name,
        sender_address=settings.sender_address,
        base_url=settings.base_url,
        unsubscribe_mailto=settings.unsubscribe_mailto,
        reply_to=settings.reply_to,
        campaign=CAMPAIGN,
        categories=("subscription",),
    )


def send_subscription_mail(backend: Backend, settings: Settings, outcome: SubscribeOutcome) -> None:
    """Hand the mail over; raise DeliveryError unless the backend took it."""
    recipient = Recipient(email=outcome.email, token=outcome.manage_token, ledger_id=None)
    [result] = backend.send_batch(subscription_mail(settings, outcome), [recipient])
    # Anything but a clear hand-over (refused, deferred, unknown) is reported to
    # the visitor as "try again": a second confirmation mail is harmless.
    if result.outcome not in (Outcome.SENT, Outcome.QUEUED):
        raise DeliveryError(
            f"the subscription mail was not handed over ({result.outcome.value})", detail=result.error or ""
        )
