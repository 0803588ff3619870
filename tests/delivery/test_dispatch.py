from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from courses.models import Course
from delivery.email.dispatch import DispatchResult, due_deliveries_plan
from delivery.email.schedule import schedule_next_slot
from delivery.models import Delivery, Subscription, Suppression
from delivery.tasks import dispatch_due_lessons
from tests.factories import UserFactory, written_course
from tests.fakes.sendgrid_server import FakeSendGrid

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
Dispatch = Callable[..., DispatchResult]
Subscribe = Callable[..., Subscription]


def test_it_sends_each_due_subscriber_their_next_week_once(
    sendgrid: FakeSendGrid, subscribe: Subscribe, dispatch: Dispatch
) -> None:
    now = timezone.now()
    due = [subscribe(due=now - datetime.timedelta(minutes=m)) for m in range(3)]
    subscribe(due=now + datetime.timedelta(minutes=1))

    result = dispatch(now)

    assert result.planned == 3
    assert sorted(m.to for m in sendgrid.messages) == sorted(s.email for s in due)
    rows = Delivery.objects.filter(subscription__in=due)
    assert {(row.week_number, row.status) for row in rows} == {(1, Delivery.Status.SENT)}
    assert sorted(m.custom_args["delivery_id"] for m in sendgrid.messages) == sorted(str(r.id) for r in rows)
    for subscription in due:
        subscription.refresh_from_db()
        assert subscription.next_week == 2
        assert subscription.next_send_at == schedule_next_slot(subscription, after=now)


def test_running_the_dispatcher_again_in_the_same_minute_sends_nothing_more(
    sendgrid: FakeSendGrid, subscribe: Subscribe, dispatch: Dispatch
) -> None:
    subscribe()
    now = timezone.now()

    dispatch(now)
    again = dispatch(now)

    assert again.planned == 0
    assert len(sendgrid.messages) == 1


def test_a_dispatcher_that_was_down_sends_one_week_not_the_backlog(
    sendgrid: FakeSendGrid, subscribe: Subscribe, dispatch: Dispatch
) -> None:
    now = timezone.now()
    subscription = subscribe(due=now - datetime.timedelta(days=21))

    dispatch(now)
    dispatch(now + datetime.timedelta(minutes=1))

    subscription.refresh_from_db()
    assert [m.subject for m in sendgrid.messages] == [sendgrid.messages[0].subject]
    assert "Week 1:" in sendgrid.messages[0].subject
    assert subscription.next_week == 2
    assert subscription.next_send_at is not None
    assert subscription.next_send_at > now


def test_nothing_is_sent_to_unconfirmed_paused_or_unsubscribed_subscriptions(
    sendgrid: FakeSendGrid, subscribe: Subscribe, dispatch: Dispatch
) -> None:
    for status in ("pending", "paused", "unsubscribed", "stopped", "finished"):
        subscribe(status=status)

    result = dispatch()

    assert result.planned == 0
    assert sendgrid.messages == []
    assert not Delivery.objects.exists()


def test_a_suppressed_address_is_never_sent_to_even_when_its_week_was_planned(
    sendgrid: FakeSendGrid, subscribe: Subscribe, dispatch: Dispatch
) -> None:
    kept, suppressed = subscribe(), subscribe()
    Suppression.objects.create(email=suppressed.email, reason=Suppression.Reason.BOUNCE)

    dispatch()

    assert [m.to for m in sendgrid.messages] == [kept.email]
    assert Delivery.objects.get(subscription=suppressed).status == Delivery.Status.CANCELLED


def test_a_subscription_finishes_with_the_last_week(
    sendgrid: FakeSendGrid, subscribe: Subscribe, dispatch: Dispatch, course: Course
) -> None:
    subscription = subscribe(next_week=course.weeks_count)

    dispatch()
    dispatch(timezone.now() + datetime.timedelta(days=8))

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.FINISHED
    assert subscription.next_send_at is None
    assert len(sendgrid.messages) == 1
    assert f"Week {course.weeks_count}:" in sendgrid.messages[0].subject


@pytest.mark.parametrize("change", [{"review_state": Course.Review.REJECTED}, {"held_for_review": True}])
def test_a_course_taken_down_by_moderation_is_not_sent_and_its_week_waits(
    sendgrid: FakeSendGrid, subscribe: Subscribe, dispatch: Dispatch, course: Course, change: dict[str, Any]
) -> None:
    subscription = subscribe()
    Course.objects.filter(id=course.id).update(**change)
    now = timezone.now()

    result = dispatch(now)

    subscription.refresh_from_db()
    assert result.held == 1
    assert sendgrid.messages == []
    assert subscription.next_week == 1
    assert subscription.next_send_at == schedule_next_slot(subscription, after=now)


def test_catching_up_after_a_pause_is_the_one_way_to_get_several_weeks_at_once(
    sendgrid: FakeSendGrid, subscribe: Subscribe, dispatch: Dispatch
) -> None:
    subscription = subscribe(next_week=2, catch_up_weeks=1)

    dispatch()

    subscription.refresh_from_db()
    weeks = sorted(int(m.subject.split("Week ")[1].split(":")[0]) for m in sendgrid.messages)
    assert weeks == [2, 3]
    assert subscription.next_week == 4
    assert subscription.catch_up_weeks == 0


def test_each_course_week_goes_out_in_one_request(
    sendgrid: FakeSendGrid, subscribe: Subscribe, dispatch: Dispatch
) -> None:
    other = written_course(weeks=4, lessons_per_week=1)
    for week in (1, 2):
        for _ in range(3):
            subscribe(next_week=week)
            subscribe(next_week=week, course=other)

    dispatch()

    assert len(sendgrid.messages) == 12
    assert len(sendgrid.requests) == 4
    for request in sendgrid.requests:
        assert request.body is not None
        assert len(request.body["personalizations"]) == 3
        assert len({p["custom_args"]["delivery_id"] for p in request.body["personalizations"]}) == 3


def test_a_course_week_of_more_than_1000_recipients_is_split_into_requests_of_at_most_1000(
    sendgrid: FakeSendGrid, dispatch: Dispatch, course: Course
) -> None:
    users = User.objects.bulk_create(User(email=f"reader{n}@example.com") for n in range(2100))
    now = timezone.now()
    Subscription.objects.bulk_create(
        Subscription(user=u, email=u.email, course=course, status="active", next_send_at=now) for u in users
    )

    result = dispatch(now)

    assert result.planned == 2100
    assert sorted(len(r.body["personalizations"]) for r in sendgrid.requests if r.body) == [100, 1000, 1000]
    assert len({m.to for m in sendgrid.messages}) == 2100
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 2100


def test_planning_costs_the_same_queries_however_many_subscriptions_are_not_due(
    subscribe: Subscribe, course: Course
) -> None:
    now = timezone.now()
    due = [subscribe(due=now).id for _ in range(3)]

    def planning_queries() -> int:
        Delivery.objects.all().delete()
        Subscription.objects.filter(id__in=due).update(next_send_at=now, next_week=1)
        with CaptureQueriesContext(connection) as queries:
            assert due_deliveries_plan(now=now).planned == 3
        return len(queries)

    few = planning_queries()
    users = User.objects.bulk_create(User(email=f"later{n}@example.com") for n in range(1000))
    later = now + datetime.timedelta(days=3)
    Subscription.objects.bulk_create(
        Subscription(user=u, email=u.email, course=course, status="active", next_send_at=later) for u in users
    )

    assert planning_queries() == few


def test_the_due_queries_read_the_partial_indexes_on_next_send_at(
    subscribe: Subscribe, course: Course
) -> None:
    users = User.objects.bulk_create(User(email=f"later{n}@example.com") for n in range(2000))
    now = timezone.now()
    later = now + datetime.timedelta(days=3)
    Subscription.objects.bulk_create(
        Subscription(user=u, email=u.email, course=course, status="active", next_send_at=later) for u in users
    )
    subscribe()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE delivery_subscription")
    due = Subscription.objects.filter(status="active", next_send_at__lte=now)

    courses_plan = due.values_list("course_id", flat=True).distinct().order_by().explain()
    chunk_plan = due.filter(course_id=course.id).order_by("next_week", "id")[:2000].explain()

    assert "subscription_due_idx" in courses_plan
    assert "subscription_course_due_idx" in chunk_plan


def test_sending_a_batch_costs_the_same_queries_for_10_or_100_recipients(
    sendgrid: FakeSendGrid, subscribe: Subscribe, dispatch: Dispatch
) -> None:
    def send_queries(count: int) -> int:
        for _ in range(count):
            subscribe()
        cache.clear()  # both runs render the week
        with CaptureQueriesContext(connection) as queries:
            dispatch()
        return len(queries)

    assert send_queries(10) == send_queries(100)
    assert len(sendgrid.messages) == 110


# ---------------------------------------------------------------------------------------------------------
# Local time, across daylight-saving changes, as the every-minute beat would see it
# ---------------------------------------------------------------------------------------------------------
def _run_beat(
    start: datetime.datetime,
    end: datetime.datetime,
    step: datetime.timedelta,
    dispatch: Dispatch,
    sendgrid: FakeSendGrid,
) -> dict[str, list[datetime.datetime]]:
    """Dispatch at every `step` from start to end; the ticks at which each address received an email."""
    received: dict[str, list[datetime.datetime]] = {}
    tick = start
    with time_machine.travel(start, tick=False) as clock:
        while tick <= end:
            clock.move_to(tick)
            before = len(sendgrid.messages)
            dispatch(tick)
            for message in sendgrid.messages[before:]:
                received.setdefault(message.to, []).append(tick)
            tick += step
    return received


def _subscriber(
    course: Course, *, weekday: int, hour: int, minute: int, tz: str, start: datetime.datetime, **fields: Any
) -> Subscription:
    user = UserFactory()
    subscription = Subscription(
        user=user, email=user.email, course=course, status="active", weekday=weekday,
        send_time=datetime.time(hour, minute), timezone=tz, **fields,
    )  # fmt: skip
    subscription.next_send_at = schedule_next_slot(subscription, after=start)
    subscription.save()
    return subscription


def test_weeks_arrive_at_local_time_across_the_spring_forward_weeks(
    sendgrid: FakeSendGrid, dispatch: Dispatch, course: Course
) -> None:
    start = datetime.datetime(2025, 3, 1, tzinfo=UTC)
    new_york = _subscriber(course, weekday=6, hour=8, minute=0, tz="America/New_York", start=start)
    skipped = _subscriber(course, weekday=6, hour=2, minute=30, tz="America/New_York", start=start)
    berlin = _subscriber(course, weekday=0, hour=8, minute=0, tz="Europe/Berlin", start=start)

    received = _run_beat(start, datetime.datetime(2025, 4, 2, tzinfo=UTC), datetime.timedelta(minutes=30), dispatch,
                         sendgrid)  # fmt: skip

    def utc(*args: int) -> datetime.datetime:
        return datetime.datetime(*args, tzinfo=UTC)

    # Sunday 08:00 in New York: EST (13:00 UTC), then EDT (12:00 UTC) from 9 March.
    assert received[new_york.email] == [utc(2025, 3, 2, 13), utc(2025, 3, 9, 12), utc(2025, 3, 16, 12),
                                        utc(2025, 3, 23, 12)]  # fmt: skip
    # 02:30 does not exist on 9 March: that week comes at 03:30 EDT, once; then 02:30 EDT again.
    assert received[skipped.email] == [utc(2025, 3, 2, 7, 30), utc(2025, 3, 9, 7, 30), utc(2025, 3, 16, 6, 30),
                                       utc(2025, 3, 23, 6, 30)]  # fmt: skip
    # Monday 08:00 in Berlin: CET (07:00 UTC), then CEST (06:00 UTC) after 30 March.
    assert received[berlin.email] == [utc(2025, 3, 3, 7), utc(2025, 3, 10, 7), utc(2025, 3, 17, 7),
                                      utc(2025, 3, 24, 7)]  # fmt: skip
    new_york.refresh_from_db()
    assert new_york.status == Subscription.Status.FINISHED
    assert Delivery.objects.count() == 12


def test_weeks_arrive_at_local_time_across_the_fall_back_weeks(
    sendgrid: FakeSendGrid, dispatch: Dispatch, course: Course
) -> None:
    start = datetime.datetime(2025, 10, 18, tzinfo=UTC)
    repeated = _subscriber(course, weekday=6, hour=1, minute=30, tz="America/New_York", start=start)
    berlin = _subscriber(course, weekday=0, hour=8, minute=0, tz="Europe/Berlin", start=start)

    received = _run_beat(start, datetime.datetime(2025, 11, 11, tzinfo=UTC), datetime.timedelta(minutes=30),
                         dispatch, sendgrid)  # fmt: skip

    def utc(*args: int) -> datetime.datetime:
        return datetime.datetime(*args, tzinfo=UTC)

    # 01:30 happens twice on 2 November in New York: one email, at the first (EDT).
    assert received[repeated.email] == [utc(2025, 10, 19, 5, 30), utc(2025, 10, 26, 5, 30), utc(2025, 11, 2, 5, 30),
                                        utc(2025, 11, 9, 6, 30)]  # fmt: skip
    # Monday 08:00 in Berlin: CEST (06:00 UTC) until 26 October, then CET (07:00 UTC).
    assert received[berlin.email] == [utc(2025, 10, 20, 6), utc(2025, 10, 27, 7), utc(2025, 11, 3, 7),
                                      utc(2025, 11, 10, 7)]  # fmt: skip


def test_the_beat_task_plans_each_due_course_in_its_own_task(
    sendgrid: FakeSendGrid, subscribe: Subscribe, django_capture_on_commit_callbacks: Any
) -> None:
    other = written_course(weeks=4, lessons_per_week=1)
    subscribe()
    subscribe(course=other)
    subscribe(course=other, due=timezone.now() + datetime.timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        result = dispatch_due_lessons.apply().get()

    assert result == {"courses": 2}
    assert len(sendgrid.messages) == 2
