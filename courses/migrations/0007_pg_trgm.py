"""pg_trgm, for search by similarity ("sourdogh" finds "Sourdough baking"). Django skips it on SQLite, where
the one-machine install searches by words instead (courses.selectors.course_search)."""

from __future__ import annotations

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("courses", "0006_course_notify_email")]

    operations = [TrigramExtension()]
