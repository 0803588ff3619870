from __future__ import annotations

import datetime
from typing import Any

from django import forms

from courses.models import Course
from delivery.email import subscriptions
from delivery.email.schedule import TIMEZONE_UNKNOWN, timezone_match
from delivery.email.subscriptions import Schedule
from delivery.models import Subscription

DEFAULT_TIME = datetime.time(8, 0)


class ScheduleForm(forms.Form):
    weekday = forms.TypedChoiceField(
        label="Day", choices=Subscription.Weekday.choices, coerce=int, initial=Subscription.Weekday.MONDAY
    )
    send_time = forms.TimeField(
        label="Time",
        initial=DEFAULT_TIME,
        widget=forms.TimeInput(attrs={"type": "time", "step": 60}, format="%H:%M"),
    )
    timezone = forms.CharField(
        label="Timezone",
        max_length=64,
        initial="UTC",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "Europe/Berlin",
                "list": "timezone-names",
            }
        ),
        help_text="Detected from your browser; type to search, e.g. Berlin or America/New_York.",
    )

    def clean_timezone(self) -> str:
        name = timezone_match(self.cleaned_data["timezone"])
        if name is None:
            raise forms.ValidationError(TIMEZONE_UNKNOWN)
        return name

    def clean_send_time(self) -> datetime.time:
        # Minutes only: the dispatcher runs once a minute.
        value: datetime.time = self.cleaned_data["send_time"]
        return value.replace(second=0, microsecond=0)

    def schedule(self) -> Schedule:
        data: dict[str, Any] = self.cleaned_data
        return Schedule(weekday=data["weekday"], send_time=data["send_time"], timezone=data["timezone"])


class SubscribeForm(ScheduleForm):
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    send_first_now = forms.BooleanField(label="Send week 1 as soon as I confirm", required=False)

    field_order = ("email", "weekday", "send_time", "timezone", "send_first_now")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The form sits on the course page next to others: ids of its own.
        kwargs.setdefault("auto_id", "subscribe_%s")
        super().__init__(*args, **kwargs)

    def subscription_request(self, *, course: Course, ip: str | None) -> Subscription | None:
        """Ask for the course with what was typed: the subscribe page and the API both come through here."""
        return subscriptions.subscription_request(
            course=course,
            email=self.cleaned_data["email"],
            schedule=self.schedule(),
            send_first_now=self.cleaned_data["send_first_now"],
            ip=ip,
        )


class ResumeForm(forms.Form):
    catch_up = forms.BooleanField(required=False)
