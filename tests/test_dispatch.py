"""The send loop on real databases: who gets mail, the ledger, retries, pauses, stops, unknown outcomes."""

from __future__ import annotations

import email
import random
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.db.models import DeliveryState, EditionStatus, SubscriberStatus
from newsletter.delivery.stamps import LEDGER_HEADER
from newsletter.send.pacing import Pacer, RetryPolicy
from newsletter.send.service import SendOutcome, edition_status, release_unresolved, send_edition, send_finished
from tests.conftest import make_settings
from tests.dispatch_harness import (
    NOW,
    REGION,
    Reader,
    active_readers,
    add_readers,
    approve,
    edition_date,
    ledger_states,
    seed_content,
    sendgrid_settings,
)
from tests.peers.sendgrid import StandIn
from tests.peers.smtp import SmtpStandIn


class Sleeps:
    """Stands in for time.sleep in the retry loop: records, never waits."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def seeded(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    seed_content(engine, tmp_path)
    return engine


def test_each_eligible_subscriber_gets_one_message_and_nobody_else(
    seeded: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    eligible = [*active_readers(7), Reader("both@example.org", regions=(REGION, "lagos"))]
    held_back = [
        Reader("gone@example.org", SubscriberStatus.UNSUBSCRIBED),
        Reader("bounced@example.org", SubscriberStatus.BOUNCED),
        Reader("complained@example.org", SubscriberStatus.COMPLAINED),
        Reader("pending@example.org", SubscriberStatus.PENDING),
        Reader("paused@example.org", paused=True),
        Reader("dropped-region@example.org", subscription_active=False),
        Reader("elsewhere@example.org", regions=("lagos",)),
    ]
    add_readers(seeded, eligible + held_back)
    settings = make_settings(db_url, tmp_path, batch_size=3, concurrency=2)
    local_date = edition_date(seeded)

    report = send_edition(seeded, settings, REGION, local_date, now=NOW)

    files = list((tmp_path / "outbox").rglob("*.eml"))
    delivered = Counter(email.message_from_bytes(f.read_bytes())["To"] for f in files)
    assert delivered == Counter(r.email for r in eligible)
    assert report.outcome is SendOutcome.COMPLETED
    assert report.counts[DeliveryState.SENT] == 8
    assert report.counts[DeliveryState.SUPPRESSED] == 3  # unsubscribed, bounced, complained
    states = ledger_states(seeded)
    assert {e: s for e, s in states.items() if s is DeliveryState.SUPPRESSED}.keys() == {
        "gone@example.org",
        "bounced@example.org",
        "complained@example.org",
    }
    assert edition_status(seeded, REGION, local_date).status is EditionStatus.SENT

    again = send_edition(seeded, settings, REGION, local_date, now=NOW)
    assert again.this_run == Counter() and again.completed
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 8


def test_every_message_names_its_ledger_row(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(seeded, active_readers(4))
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin)
    report = send_edition(seeded, settings, REGION, edition_date(seeded), now=NOW)

    with seeded.connect() as connection:
        ledger_ids = dict(
            connection.execute(
                sa.text("select s.email, d.id from delivery d join subscriber s on s.id = d.subscriber_id")
            ).all()
        )
    for body in sendgrid_standin.accepted:
        assert body["categories"] == [REGION, f"{REGION}-{edition_date(seeded)}"]
        for p in body["personalizations"]:
            address = p["to"][0]["email"]
            assert p["custom_args"] == {
                "delivery_id": str(ledger_ids[address]),
                "edition_id": str(report.edition_id),
                "region": REGION,
            }
            assert p["headers"][LEDGER_HEADER] == str(ledger_ids[address])
    assert report.counts[DeliveryState.QUEUED] == 4  # a 202 is queued, not sent


def test_a_rate_limit_waits_as_told_then_sends(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(seeded, active_readers(5))
    sendgrid_standin.script = ["429"]
    sleeps = Sleeps()
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin)

    report = send_edition(seeded, settings, REGION, edition_date(seeded), now=NOW, sleep=sleeps)

    assert report.outcome is SendOutcome.COMPLETED and report.counts[DeliveryState.QUEUED] == 5
    assert sendgrid_standin.answers == [429, 202]
    from newsletter.send.loop import STOP_POLL_SECONDS

    waited = sum(sleeps.calls)  # the X-RateLimit-Reset wait (about 2 s), slept in short steps
    assert 0.5 < waited <= 3.5 and max(sleeps.calls) <= STOP_POLL_SECONDS
    assert sendgrid_standin.recipients() == Counter(r.email for r in active_readers(5))


def test_server_errors_back_off_then_pause_and_a_rerun_resumes(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(seeded, active_readers(6))
    sendgrid_standin.default = "500"
    sleeps = Sleeps()
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, max_retries=3, concurrency=1)

    paused = send_edition(seeded, settings, REGION, edition_date(seeded), now=NOW, sleep=sleeps, rng=random.Random(1))

    assert paused.outcome is SendOutcome.PAUSED and "gave up after 3 retries" in paused.message
    assert sendgrid_standin.answers == [500] * 4
    # Full-jitter backoff from the seeded generator the send was given: the waits are exactly
    # its first three draws, retry k's from [0, base * 2**(k-1)], however they were split into steps.
    replay = random.Random(1)
    drawn = [RetryPolicy().backoff(attempt, replay) for attempt in (1, 2, 3)]
    assert sum(sleeps.calls) == pytest.approx(sum(drawn)) and 0 < sum(drawn) <= 1 + 2 + 4
    assert ledger_states(seeded) == {}  # certainly unsent: released, not left claimed
    assert edition_status(seeded, REGION, edition_date(seeded)).note.startswith("paused")

    sendgrid_standin.default = "202"
    resumed = send_edition(seeded, settings, REGION, edition_date(seeded), now=NOW, sleep=sleeps)
    assert resumed.outcome is SendOutcome.COMPLETED and resumed.counts[DeliveryState.QUEUED] == 6
    assert sendgrid_standin.recipients() == Counter(r.email for r in active_readers(6))


def test_a_refused_key_stops_the_whole_send(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(seeded, active_readers(20))
    sendgrid_standin.default = "401"
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, concurrency=2)

    report = send_edition(seeded, settings, REGION, edition_date(seeded), now=NOW, sleep=Sleeps())

    assert report.outcome is SendOutcome.FAILED and "SENDGRID_API_KEY" in report.message
    assert len(sendgrid_standin.answers) <= settings.concurrency  # no batch after the first refusal
    assert ledger_states(seeded) == {}
    # Nothing went out: back to draft, not frozen as failed (tests/test_editor_recovery.py).
    assert edition_status(seeded, REGION, edition_date(seeded)).status is EditionStatus.DRAFT

    sendgrid_standin.default = "202"
    fixed = send_edition(seeded, settings, REGION, edition_date(seeded), now=NOW)
    assert fixed.completed and fixed.counts[DeliveryState.QUEUED] == 20


def test_the_error_threshold_pauses_instead_of_burning_the_list(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(seeded, active_readers(20))
    sendgrid_standin.default = "400"
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, concurrency=1, error_threshold=0.2)

    report = send_edition(seeded, settings, REGION, edition_date(seeded), now=NOW)

    assert report.outcome is SendOutcome.PAUSED and "error threshold" in report.message
    assert report.counts[DeliveryState.FAILED] == 5  # one batch, then the pause
    assert sum(report.counts.values()) == 5  # the other 15 were never claimed
    failed = [s for s in ledger_states(seeded).values() if s is DeliveryState.FAILED]
    assert len(failed) == 5


def test_unknown_outcomes_are_never_resent_until_an_operator_releases_them(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    readers = active_readers(9)
    add_readers(seeded, readers)
    sendgrid_standin.script = ["202", "hang"]
    settings = sendgrid_settings(
        db_url, tmp_path, sendgrid_standin, batch_size=3, concurrency=1, sendgrid_timeout=0.5, error_threshold=0.5
    )
    local_date = edition_date(seeded)

    first = send_edition(seeded, settings, REGION, local_date, now=NOW)

    assert first.outcome is SendOutcome.COMPLETED
    assert first.counts[DeliveryState.UNKNOWN] == 3 and first.counts[DeliveryState.QUEUED] == 6
    hung = [p["to"][0]["email"] for p in sendgrid_standin.received[1]["personalizations"]]
    view = edition_status(seeded, REGION, local_date)
    assert view.status is EditionStatus.SENDING and view.unresolved_total == 3
    assert sorted(row.email for row in view.unresolved) == sorted(hung)

    again = send_edition(seeded, settings, REGION, local_date, now=NOW)
    assert again.this_run == Counter() and len(sendgrid_standin.received) == 3  # nothing resent

    assert release_unresolved(seeded, REGION, local_date) == 3
    released = send_edition(seeded, settings, REGION, local_date, now=NOW)
    assert released.counts[DeliveryState.QUEUED] == 9 and released.unresolved == 0
    assert sendgrid_standin.recipients() == Counter(r.email for r in readers)  # accepted once each
    assert edition_status(seeded, REGION, local_date).status is EditionStatus.SENT


def test_release_leaves_young_claims_to_the_dispatcher_that_holds_them(
    seeded: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    add_readers(seeded, active_readers(2))
    settings = make_settings(db_url, tmp_path)
    local_date = edition_date(seeded)
    send_edition(seeded, settings, REGION, local_date, now=NOW)
    with seeded.begin() as connection:  # as if a dispatcher had just claimed these and was waiting
        connection.execute(
            sa.text("update delivery set state = 'claimed', updated_at = :now"),
            {"now": NOW.replace(tzinfo=None) if db_url.startswith("sqlite") else NOW},
        )

    assert release_unresolved(seeded, REGION, local_date, now=NOW) == 0
    assert edition_status(seeded, REGION, local_date).unresolved_total == 2


def test_a_stop_request_finishes_the_batch_in_flight_and_a_rerun_resumes(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(seeded, active_readers(12))
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, concurrency=1, batch_size=4)
    batches: list[int] = []

    stopped = send_edition(
        seeded,
        settings,
        REGION,
        edition_date(seeded),
        now=NOW,
        progress=lambda tally: batches.append(sum(tally.values())),
        should_stop=lambda: len(batches) >= 1,
    )

    assert stopped.outcome is SendOutcome.STOPPED
    assert stopped.counts[DeliveryState.QUEUED] == 4 and stopped.unresolved == 0
    resumed = send_edition(seeded, settings, REGION, edition_date(seeded), now=NOW)
    assert resumed.completed and resumed.counts[DeliveryState.QUEUED] == 12
    assert sendgrid_standin.recipients() == Counter(r.email for r in active_readers(12))


def test_requests_in_flight_stay_within_the_concurrency_setting(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(seeded, active_readers(24))
    sendgrid_standin.delay = 0.05
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, concurrency=3, batch_size=2)

    report = send_edition(seeded, settings, REGION, edition_date(seeded), now=NOW)

    assert report.completed
    assert 2 <= sendgrid_standin.most_in_flight <= 3


def test_a_cancelled_edition_is_refused(seeded: sa.Engine, db_url: str, tmp_path: Path) -> None:
    from newsletter.errors import EditionError

    add_readers(seeded, active_readers(1))
    settings = make_settings(db_url, tmp_path)
    local_date = edition_date(seeded)
    approve(seeded, settings, local_date)
    with seeded.begin() as connection:
        connection.execute(sa.text("update edition set status = 'cancelled'"))
    with pytest.raises(EditionError, match="cancelled"):
        send_edition(seeded, settings, REGION, local_date, now=NOW)


# -- pacing, with a fake clock ------------------------------------------------------------


def test_the_pacer_keeps_the_average_rate() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = Pacer(100, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        pacer.wait(50)  # 250 messages at 100/s: the last batch may start at 2.0 s
    assert clock[0] == pytest.approx(2.0)
    assert Pacer(0).wait(1000) == 0.0  # 0 means no limit of our own


def test_backoff_grows_and_stays_bounded() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=8, max_rate_limit_wait=30)
    rng = random.Random(7)
    for attempt in range(1, 10):
        assert 0 <= policy.backoff(attempt, rng) <= min(8, 2 ** (attempt - 1))
    # It grows: the average of many draws is about half the ceiling, which doubles up to the cap.
    averages = [sum(policy.backoff(attempt, rng) for _ in range(2000)) / 2000 for attempt in range(1, 7)]
    for attempt, average in enumerate(averages, start=1):
        ceiling = min(8, 2 ** (attempt - 1))
        assert 0.4 * ceiling <= average <= 0.6 * ceiling
    assert averages[0] < averages[1] < averages[2] < averages[3]
    assert policy.wait_for(1, 3600, rng) >= 30 and policy.wait_for(1, 2, rng) >= 2  # a provider's wait is honoured
    assert 30 <= policy.wait_for(1, 3600, rng) <= 30.5  # a provider's long wait is capped


# -- readers released behind a dispatcher's back -------------------------------------------


def _outbox_recipients(tmp_path: Path) -> Counter[str]:
    return Counter(email.message_from_bytes(f.read_bytes())["To"] for f in (tmp_path / "outbox").rglob("*.eml"))


def test_readers_released_after_a_dispatcher_passed_them_keep_the_edition_open(
    seeded: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    """Dispatcher A claims the first batch; B passes it; A's batch fails and is released; B ends.

    B must not mark the edition SENT, and the next send reaches the released readers.
    """
    from datetime import UTC, datetime

    from newsletter.send import ledger

    readers = active_readers(6)
    add_readers(seeded, readers)
    settings = make_settings(db_url, tmp_path, batch_size=2, concurrency=1)
    local_date = edition_date(seeded)
    approve(seeded, settings, local_date)
    started = datetime.now(UTC)
    first = send_edition(seeded, settings, REGION, local_date, now=started, should_stop=lambda: True)
    edition_id = first.edition_id
    with seeded.begin() as connection:  # dispatcher A claims readers 0 and 1
        held = ledger.claim_next(connection, edition_id=edition_id, region_code=REGION, after=0, limit=2, now=started)
    assert [c.email for c in held.to_send] == [r.email for r in readers[:2]]

    def a_releases_its_failed_batch(_tally: Counter[DeliveryState]) -> None:
        with seeded.begin() as connection:
            ledger.release(connection, [c.delivery_id for c in held.to_send])

    b = send_edition(seeded, settings, REGION, local_date, now=started, progress=a_releases_its_failed_batch)

    assert b.outcome is SendOutcome.COMPLETED and "released" in b.message
    assert edition_status(seeded, REGION, local_date).status is EditionStatus.SENDING
    again = send_edition(seeded, settings, REGION, local_date, now=started)
    assert again.this_run[DeliveryState.SENT] == 2
    assert edition_status(seeded, REGION, local_date).status is EditionStatus.SENT
    assert _outbox_recipients(tmp_path) == Counter(r.email for r in readers)  # everyone once


def test_a_sent_edition_with_a_released_reader_resumes_instead_of_saying_already_sent(
    seeded: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    readers = active_readers(3)
    add_readers(seeded, readers)
    settings = make_settings(db_url, tmp_path)
    local_date = edition_date(seeded)
    done = send_edition(seeded, settings, REGION, local_date, now=datetime.now(UTC))
    assert edition_status(seeded, REGION, local_date).status is EditionStatus.SENT
    assert send_finished(seeded, REGION, local_date)
    with seeded.begin() as connection:  # as a release racing the end of the send left it
        connection.execute(
            sa.text("delete from delivery where subscriber_id = (select id from subscriber where email = :e)"),
            {"e": readers[1].email},
        )
    # Still SENT on its row, but it owes a reader: a followed send must not stop at the status.
    assert edition_status(seeded, REGION, local_date).status is EditionStatus.SENT
    assert not send_finished(seeded, REGION, local_date)
    for eml in (tmp_path / "outbox").rglob(f"*{readers[1].email}*"):
        eml.unlink()

    resumed = send_edition(seeded, settings, REGION, local_date)

    assert resumed.edition_id == done.edition_id and resumed.this_run[DeliveryState.SENT] == 1
    assert edition_status(seeded, REGION, local_date).status is EditionStatus.SENT
    assert _outbox_recipients(tmp_path) == Counter(r.email for r in readers)
    assert send_finished(seeded, REGION, local_date)
    assert send_edition(seeded, settings, REGION, local_date).message == "already sent; nothing to do"


# -- a greylisted SMTP recipient, late answers to released claims, stopping during a wait --------


def test_a_greylisted_smtp_recipient_fails_alone_after_its_retries_and_the_send_completes(
    seeded: sa.Engine, db_url: str, tmp_path: Path, smtp_standin: SmtpStandIn
) -> None:
    from newsletter.delivery.smtp import SmtpBackend

    readers = active_readers(10)
    add_readers(seeded, readers)
    smtp_standin.defer = {readers[2].email: "452 4.2.2 mailbox full, try later"}
    settings = make_settings(db_url, tmp_path, batch_size=5, concurrency=1, max_retries=2)
    backend = SmtpBackend("127.0.0.1", smtp_standin.port, timeout=5)
    try:
        report = send_edition(seeded, settings, REGION, edition_date(seeded), backend=backend, sleep=Sleeps())
    finally:
        backend.close()

    assert report.outcome is SendOutcome.COMPLETED
    states = ledger_states(seeded)
    assert states.pop(readers[2].email) is DeliveryState.FAILED
    assert set(states.values()) == {DeliveryState.SENT} and len(states) == 9
    delivered = sorted(rcpt[0] for _, rcpt, _ in smtp_standin.messages)
    assert delivered == sorted(r.email for r in readers if r is not readers[2])  # once each
    with seeded.connect() as connection:
        error = connection.execute(sa.text("select last_error from delivery where state = 'failed'")).scalar_one()
    assert "452 4.2.2 mailbox full" in error and "after 2 retries" in error


def test_a_late_answer_to_claims_released_meanwhile_is_kept_and_never_sent_again(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    """The operator releases a batch that is still retrying; its retry is then accepted."""
    from datetime import timedelta

    add_readers(seeded, active_readers(3))
    sendgrid_standin.script = ["500", "202"]
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, concurrency=1)
    local_date = edition_date(seeded)
    released: list[int] = []

    def operator_releases_while_waiting(_seconds: float) -> None:
        if not released:
            released.append(release_unresolved(seeded, REGION, local_date, older_than=timedelta(0)))

    first = send_edition(seeded, settings, REGION, local_date, sleep=operator_releases_while_waiting)
    assert released == [3] and first.counts[DeliveryState.QUEUED] == 3

    again = send_edition(seeded, settings, REGION, local_date)
    assert again.this_run == Counter()
    assert sendgrid_standin.recipients() == Counter(r.email for r in active_readers(3))  # accepted once each


def test_claims_of_a_batch_still_in_flight_are_kept_fresh_so_a_release_leaves_them_alone(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    import threading
    from datetime import timedelta

    add_readers(seeded, active_readers(2))
    sendgrid_standin.delay = 2.0  # a slow provider: the batch is out for two seconds
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, concurrency=1)
    local_date = edition_date(seeded)
    released: list[int] = []

    def operator_release() -> None:  # 1.2 s in, with an age limit of 0.6 s: only stale claims go
        released.append(release_unresolved(seeded, REGION, local_date, older_than=timedelta(seconds=0.6)))

    timer = threading.Timer(1.2, operator_release)
    timer.start()
    report = send_edition(seeded, settings, REGION, local_date, heartbeat=0.2)
    timer.join()

    assert released == [0]  # the claims were refreshed while in flight: not taken for abandoned
    assert report.counts[DeliveryState.QUEUED] == 2
    assert sendgrid_standin.recipients() == Counter(r.email for r in active_readers(2))


def test_a_stop_request_interrupts_a_rate_limit_wait(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(seeded, active_readers(3))
    sendgrid_standin.default = "429"
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, concurrency=1)
    sleeps = Sleeps()
    stop = [False]

    def sleep_then_sigterm(seconds: float) -> None:
        sleeps(seconds)
        stop[0] = True  # SIGTERM arrives during the provider's wait

    report = send_edition(
        seeded, settings, REGION, edition_date(seeded), sleep=sleep_then_sigterm, should_stop=lambda: stop[0]
    )
    from newsletter.send.loop import STOP_POLL_SECONDS

    assert report.outcome is SendOutcome.STOPPED
    assert sum(sleeps.calls) <= STOP_POLL_SECONDS  # not the whole wait the provider asked for
    assert ledger_states(seeded) == {}  # certainly unsent: released for the next run
    assert sendgrid_standin.answers == [429]


def test_a_batch_sendgrid_takes_in_two_requests_sends_them_side_by_side_then_claims_one_request(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    """Tokens make 1,000 readers overrun SendGrid's substitution budget: the first claim goes out
    as two requests at once, and later claims shrink to what one request carries; dry run agrees."""
    from newsletter.delivery.sendgrid_payload import MAX_RECIPIENTS_PER_REQUEST
    from newsletter.send.dry_run import plan_send

    readers = active_readers(5000)
    add_readers(seeded, readers)
    sendgrid_standin.delay = 0.2
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, concurrency=2, batch_size=1000)
    local_date = edition_date(seeded)
    plan = plan_send(seeded, settings, REGION, local_date)

    report = send_edition(seeded, settings, REGION, local_date, now=NOW)

    assert report.completed and report.counts[DeliveryState.QUEUED] == 5000
    assert sendgrid_standin.recipients() == Counter(r.email for r in readers)
    sizes = [len(body["personalizations"]) for body in sendgrid_standin.received]
    # The first claim's two requests go out together, so either may arrive first.
    first, remainder = max(sizes[:2]), min(sizes[:2])
    assert first < MAX_RECIPIENTS_PER_REQUEST and first + remainder == 1000  # the first claim, split
    assert sendgrid_standin.most_in_flight == 2
    # Claims of 1,000 would make two requests each (ten); claims of one request's worth about seven.
    assert len(sizes) <= 8
    # The dry run plans the same claims: 1,000 first, then what one request carries.
    claims = [batch.recipients for batch in plan.batches]
    assert claims[0] == 1000 and max(claims[1:]) <= first and sum(claims) == 5000
    assert sum(len(batch.request_bytes) for batch in plan.batches) == len(sizes)
