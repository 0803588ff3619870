from __future__ import annotations

import datetime
import re
import zoneinfo

import pytest

from delivery.email.schedule import TIMEZONE_UNKNOWN, next_slot, slots, slots_between, timezone_is_valid, zone

UTC = datetime.UTC
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
MONDAY, SUNDAY = 0, 6


def utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime.time:
    return datetime.time(hour, minute)


def test_the_next_slot_is_the_chosen_local_weekday_and_time() -> None:
    slot = next_slot(after=utc(2025, 1, 8, 12), weekday=MONDAY, at=at(8), tz=BERLIN)

    assert slot == utc(2025, 1, 13, 7)  # 08:00 CET
    assert slot.astimezone(BERLIN).weekday() == MONDAY


def test_a_slot_at_the_very_instant_is_not_next_but_the_one_a_week_later() -> None:
    slot = utc(2025, 1, 13, 7)

    assert next_slot(after=slot, weekday=MONDAY, at=at(8), tz=BERLIN) == utc(2025, 1, 20, 7)
    assert next_slot(after=slot - datetime.timedelta(seconds=1), weekday=MONDAY, at=at(8), tz=BERLIN) == slot


def test_later_the_same_local_day_is_still_this_week() -> None:
    # 06:00 in Berlin on a Monday: the 08:00 slot two hours later comes first.
    assert next_slot(after=utc(2025, 1, 13, 5), weekday=MONDAY, at=at(8), tz=BERLIN) == utc(2025, 1, 13, 7)


def test_the_local_day_decides_not_the_utc_day() -> None:
    # Sunday 22:00 UTC is already Monday in Tokyo: its Monday 08:00 slot is 10 hours away, not a week.
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")

    assert next_slot(after=utc(2025, 1, 12, 22), weekday=MONDAY, at=at(8), tz=tokyo) == utc(2025, 1, 12, 23)


def test_the_local_hour_holds_across_spring_forward_in_new_york() -> None:
    weekly = slots(after=utc(2025, 3, 1), weekday=SUNDAY, at=at(8), tz=NEW_YORK)

    three = [next(weekly) for _ in range(3)]

    assert three == [utc(2025, 3, 2, 13), utc(2025, 3, 9, 12), utc(2025, 3, 16, 12)]  # EST, then EDT
    assert {slot.astimezone(NEW_YORK).hour for slot in three} == {8}


def test_the_local_hour_holds_across_fall_back_in_berlin() -> None:
    weekly = slots(after=utc(2025, 10, 15), weekday=MONDAY, at=at(8), tz=BERLIN)

    two = [next(weekly) for _ in range(2)]

    assert two == [utc(2025, 10, 20, 6), utc(2025, 10, 27, 7)]  # CEST, then CET
    assert {slot.astimezone(BERLIN).hour for slot in two} == {8}


def test_a_time_skipped_by_spring_forward_moves_forward_by_the_gap_once() -> None:
    # 02:30 does not exist in New York on 9 March 2025: clocks jump from 02:00 to 03:00.
    weekly = slots(after=utc(2025, 3, 3), weekday=SUNDAY, at=at(2, 30), tz=NEW_YORK)

    first, second = next(weekly), next(weekly)

    assert first == utc(2025, 3, 9, 7, 30)
    assert first.astimezone(NEW_YORK).time() == at(3, 30)
    assert second == utc(2025, 3, 16, 6, 30)  # back to 02:30, now EDT
    assert second.astimezone(NEW_YORK).time() == at(2, 30)


def test_a_time_skipped_in_berlin_moves_forward_too() -> None:
    slot = next_slot(after=utc(2025, 3, 29), weekday=SUNDAY, at=at(2, 30), tz=BERLIN)

    assert slot == utc(2025, 3, 30, 1, 30)
    assert slot.astimezone(BERLIN).time() == at(3, 30)


def test_a_time_repeated_by_fall_back_means_its_first_occurrence_only() -> None:
    # 01:30 happens twice in New York on 2 November 2025; the week goes out at the first, and once.
    weekly = slots(after=utc(2025, 10, 27), weekday=SUNDAY, at=at(1, 30), tz=NEW_YORK)

    first, second = next(weekly), next(weekly)

    assert first == utc(2025, 11, 2, 5, 30)  # 01:30 EDT
    assert second == utc(2025, 11, 9, 6, 30)  # a week later, 01:30 EST; not 06:30 UTC on 2 November


def test_slots_between_counts_the_slots_in_a_period_up_to_a_limit() -> None:
    def count(end: datetime.datetime, limit: int = 13) -> int:
        return slots_between(start=utc(2025, 1, 1), end=end, weekday=MONDAY, at=at(8), tz=BERLIN, limit=limit)

    assert count(utc(2025, 1, 6, 6, 59)) == 0
    assert count(utc(2025, 1, 6, 7)) == 1  # the end is included
    assert count(utc(2025, 2, 1)) == 4
    assert count(utc(2026, 1, 1)) == 13
    assert count(utc(2026, 1, 1), limit=3) == 3


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"])
def test_iana_timezone_names_are_valid(name: str) -> None:
    assert timezone_is_valid(name)
    assert zone(name).key == name


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "europe/berlin", "../../etc/passwd", "+02:00", "CEST"])
def test_anything_else_is_not_a_timezone(name: str) -> None:
    assert not timezone_is_valid(name)
    with pytest.raises(ValueError, match=re.escape(TIMEZONE_UNKNOWN)):
        zone(name)
