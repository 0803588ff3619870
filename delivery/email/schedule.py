"""When a subscriber's weeks go out: a weekday and a time of day in their own timezone, in UTC instants.

Local time, not UTC offsets, is what the learner chose, so every slot is computed from the calendar date in
their zone. Around daylight-saving changes:
- a time skipped by spring-forward (02:30 on that Sunday in New York) moves forward by the gap (03:30),
- a time that happens twice at fall-back (01:30) means its first occurrence,
so each chosen weekday yields exactly one instant, and a subscriber never gets two weeks in one slot.
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from collections.abc import Iterator
from typing import Protocol

UTC = datetime.UTC
TIMEZONE_UNKNOWN = "Unknown timezone: use a name such as Europe/Berlin or America/New_York."


@functools.cache
def _timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_is_valid(name: str) -> bool:
    """An IANA zone name this machine knows ("Europe/Berlin"); not a path, abbreviation or offset."""
    return name in _timezone_names()


def timezone_names() -> list[str]:
    """Every IANA zone name this machine knows, sorted: the subscribe form's searchable list."""
    return sorted(_timezone_names())


@functools.cache
def _timezone_by_city() -> dict[str, list[str]]:
    # "berlin" -> ["Europe/Berlin"], "new york" -> ["America/New_York"]: what people type for their zone.
    cities: dict[str, list[str]] = {}
    for name in sorted(_timezone_names()):
        cities.setdefault(name.rsplit("/", 1)[-1].replace("_", " ").lower(), []).append(name)
    return cities


def timezone_match(typed: str) -> str | None:
    """The zone a learner meant: an exact name, the same in other case ("europe/berlin"), or a city that names
    one zone ("Berlin", "new york"). None when nothing, or more than one zone, fits."""
    typed = " ".join(typed.split())
    if timezone_is_valid(typed):
        return typed
    by_lower = {name.lower(): name for name in _timezone_names()}
    if typed.lower().replace(" ", "_") in by_lower:
        return by_lower[typed.lower().replace(" ", "_")]
    # Prefer the canonical Area/City names over the old aliases (US/Pacific, Etc/…) when both fit.
    found = _timezone_by_city().get(typed.lower().replace("_", " "), [])
    canonical = [name for name in found if "/" in name and name.split("/")[0] not in _LEGACY_AREAS]
    candidates = canonical or found
    return candidates[0] if len(candidates) == 1 else None


_LEGACY_AREAS = frozenset({"Etc", "US", "Canada", "Mexico", "Brazil", "Chile", "SystemV"})


def zone(name: str) -> zoneinfo.ZoneInfo:
    if not timezone_is_valid(name):
        raise ValueError(TIMEZONE_UNKNOWN)
    return zoneinfo.ZoneInfo(name)


def local_instant(day: datetime.date, at: datetime.time, tz: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The UTC instant of a wall-clock time on a local date. fold=0 gives both DST rules of this module."""
    return datetime.datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=tz).astimezone(UTC)


def next_slot(
    *, after: datetime.datetime, weekday: int, at: datetime.time, tz: zoneinfo.ZoneInfo
) -> datetime.datetime:
    """The first slot (local `weekday` at local `at`) strictly after the instant `after`."""
    local_day = after.astimezone(tz).date()
    day = local_day + datetime.timedelta(days=(weekday - local_day.weekday()) % 7)
    while True:
        candidate = local_instant(day, at, tz)
        if candidate > after:
            return candidate
        day += datetime.timedelta(days=7)


def slots(
    *, after: datetime.datetime, weekday: int, at: datetime.time, tz: zoneinfo.ZoneInfo
) -> Iterator[datetime.datetime]:
    """Every slot strictly after `after`, in order."""
    slot = after
    while True:
        slot = next_slot(after=slot, weekday=weekday, at=at, tz=tz)
        yield slot


def slots_between(
    *,
    start: datetime.datetime,
    end: datetime.datetime,
    weekday: int,
    at: datetime.time,
    tz: zoneinfo.ZoneInfo,
    limit: int,
) -> int:
    """How many slots fall in (start, end], counting at most `limit` (a course has at most 13 weeks)."""
    for count, slot in enumerate(slots(after=start, weekday=weekday, at=at, tz=tz)):
        if slot > end or count >= limit:
            return count
    raise AssertionError("unreachable")  # pragma: no cover


class _Schedule(Protocol):
    @property
    def weekday(self) -> int: ...
    @property
    def send_time(self) -> datetime.time: ...
    @property
    def timezone(self) -> str: ...


def schedule_zone(schedule: _Schedule) -> zoneinfo.ZoneInfo:
    """The schedule's zone; UTC if its name has left this machine's tz database since it was validated."""
    return zone(schedule.timezone) if timezone_is_valid(schedule.timezone) else zoneinfo.ZoneInfo("UTC")


def schedule_next_slot(schedule: _Schedule, *, after: datetime.datetime) -> datetime.datetime:
    """The next slot of a subscription (or anything with weekday, send_time and timezone)."""
    return next_slot(after=after, weekday=schedule.weekday, at=schedule.send_time, tz=schedule_zone(schedule))
