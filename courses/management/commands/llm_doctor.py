"""`manage.py llm_doctor`: probe the configured LLM endpoint, print what works and the settings to use.

Exits with status 1 when course writing cannot work (the endpoint does not answer, or gives no usable
structured answer in any form). The admin shows the last result (LLM calls list, cost dashboard).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from courses.generation import doctor


class Command(BaseCommand):
    help = "Probe the LLM endpoint in a few cheap calls; print what works and the settings to use."

    def handle(self, *args: Any, **options: Any) -> None:
        diagnosis = doctor.diagnose()
        doctor.diagnosis_save(diagnosis)
        self.stdout.write("\n".join(diagnosis.lines()))
        if not diagnosis.can_write:
            raise CommandError(diagnosis.verdict)
