"""The error a course request answers with, shared by the pipeline (`courses.generation.pipeline`) and the gates
it passes (`courses.moderation.review`: screening of the topic, the daily spend cap)."""

from __future__ import annotations


class CourseRequestError(ValueError):
    """A request a form or the API can show next to the field it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
