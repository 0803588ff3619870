from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from courses import tasks
from courses.models import Course, Lesson, PartStatus, Quiz
from courses.reading import exports, pdf
from courses.reading.exports import PDF_FAILED_MESSAGE, course_markdown, course_pdf_html, course_pdf_state
from courses.rendering import markdown_to_safe_html
from courses.selectors import course_for_export
from tests.factories import CourseFactory, written_course

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def full(course: Course) -> Course:
    loaded = course_for_export(course_id=course.id)
    assert loaded is not None
    return loaded


def test_the_whole_course_loads_in_three_queries(django_assert_num_queries: Any) -> None:
    course = written_course(weeks=13, lessons_per_week=4)
    with django_assert_num_queries(3):
        loaded = full(course)
        assert sum(len(week.lessons.all()) for week in loaded.weeks.all()) == 52
        assert all(week.quiz.questions for week in loaded.weeks.all())


def test_the_markdown_export_holds_every_week_lesson_and_quiz_with_an_answer_key() -> None:
    course = written_course(weeks=3, lessons_per_week=2, title="Birdsong")
    text = course_markdown(course=full(course))
    assert text.startswith("# Birdsong\n")
    assert "## Contents" in text
    for week in range(1, 4):
        assert f"## Week {week}: Week {week} of" in text
        assert f"### Lesson {week}.2: Lesson {week}.2" in text
        assert f"### Week {week} quiz" in text
        assert f"1. Week {week}, question 1?" in text
    assert "    A. Right" in text
    key = text[text.index("## Answer key") :]
    assert "1. **A**: Because the lesson said so." in key
    assert "#### Why it matters" in text  # the lesson's own ## headings nest under its ### title
    assert "[Reading 1](https://example.org/r), A. Author" in text
    assert "offline generator" in text


def test_headings_inside_code_blocks_are_left_alone() -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    Lesson.objects.filter(course=course).update(body="## Real heading\n\n```\n# a shell comment\n```\n")
    text = course_markdown(course=full(course))
    assert "#### Real heading" in text
    assert "\n# a shell comment\n" in text


def test_the_markdown_download_is_one_file_named_after_the_course(client: Client) -> None:
    course = written_course(weeks=2, title="Knots & Splices")
    response = client.get(reverse("courses:export_markdown", args=[course.id]))
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="knots-splices.md"'
    assert response.content.decode().startswith("# Knots & Splices")


def test_exports_of_a_course_still_being_written_are_not_found(client: Client) -> None:
    course = CourseFactory(status=Course.Status.WRITING)
    assert client.get(reverse("courses:export_markdown", args=[course.id])).status_code == 404
    assert client.get(reverse("courses:export_pdf", args=[course.id])).status_code == 404


def test_the_pdf_html_has_a_cover_contents_every_part_and_the_answer_key_at_the_end() -> None:
    course = written_course(weeks=2, lessons_per_week=2, title="Tides")
    Lesson.objects.filter(course=course, number=1, week__number=1).update(
        body_html="<p>Moon <em>pulls</em></p>"
    )
    html = course_pdf_html(course=full(course))
    assert '<section class="cover">' in html
    assert "target-counter(attr(href), page)" in html
    lessons = list(Lesson.objects.filter(course=course))
    for lesson in lessons:
        assert f'href="#lesson-{lesson.id}"' in html
        assert f'id="lesson-{lesson.id}"' in html
    assert "<p>Moon <em>pulls</em></p>" in html
    assert html.index('id="quiz-2"') < html.index('id="answers"')
    assert "<strong>4. A</strong> — Because the lesson said so." in html
    assert "display: flex" not in html
    assert "offline generator" in html


def test_each_lessons_section_anchors_are_its_own_and_the_answer_key_links_to_where_an_answer_is_taught() -> (
    None
):
    course = written_course(weeks=1, lessons_per_week=2)
    for lesson in Lesson.objects.filter(course=course):
        body = f"Intro {lesson.number}.\n\n## Why it matters\n\nTides rise twice a day."
        Lesson.objects.filter(id=lesson.id).update(body=body, body_html=markdown_to_safe_html(body))
    second = Lesson.objects.get(course=course, number=2)
    question = {
        "lesson": 2,
        "section": "Why it matters",
        "anchor": "s-why-it-matters",
        "passage": "Tides rise",
    }
    quiz = Quiz.objects.get(course=course)
    quiz.questions = [{**quiz.questions[0], **question}, {**quiz.questions[1], "lesson": 1, "anchor": ""}]
    quiz.save()

    html = course_pdf_html(course=full(course))

    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert f'id="l{second.id}-s-why-it-matters"' in html
    assert f'Review: <a href="#l{second.id}-s-why-it-matters">1.2, section ‘Why it matters’</a>' in html
    first = Lesson.objects.get(course=course, number=1)
    assert f'Review: <a href="#lesson-{first.id}">1.1</a>' in html


def test_a_missing_quiz_leaves_no_empty_answer_section() -> None:
    course = written_course(weeks=2, lessons_per_week=1)
    Quiz.objects.filter(course=course, week__number=2).update(status=PartStatus.FAILED)
    html = course_pdf_html(course=full(course))
    assert 'id="quiz-1"' in html
    assert 'id="quiz-2"' not in html


def test_rendering_stores_one_pdf_per_content_version() -> None:
    course = written_course(weeks=2, lessons_per_week=2)
    name = exports.course_pdf_build(course_id=str(course.id), version=course.content_version)
    assert name == f"exports/{course.id}/course-v1.pdf"
    with default_storage.open(name, "rb") as stored:
        assert stored.read(5) == b"%PDF-"
    assert course_pdf_state(course=course).is_ready
    Course.objects.filter(id=course.id).update(content_version=2)
    course.refresh_from_db()
    assert course_pdf_state(course=course).state == "missing"


def test_a_render_for_an_outdated_version_does_nothing() -> None:
    course = written_course(weeks=1, content_version=3)
    assert exports.course_pdf_build(course_id=str(course.id), version=2) is None
    assert not default_storage.exists(exports.pdf_storage_name(course_id=course.id, version=2))


def test_the_pdf_task_is_routed_to_the_cpu_queue() -> None:
    from school.celery import app

    route = app.amqp.router.route({}, tasks.render_course_pdf.name)
    assert route["queue"].name == "cpu"


def test_the_download_link_waits_for_the_pdf_then_serves_it(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    course = written_course(weeks=2, lessons_per_week=2, title="Moss")
    url = reverse("courses:export_pdf", args=[course.id])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.get(url)
    assert response.status_code == 202
    html = response.content.decode()
    assert "Preparing your PDF" in html
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in html
    assert len(queued) == 1
    status = client.get(reverse("courses:export_pdf_status", args=[course.id])).json()
    assert status["state"] == "queued"
    with django_capture_on_commit_callbacks(execute=False) as queued_again:
        client.get(url)
    assert queued_again == []  # one render on its way is enough
    queued[0]()  # the worker renders it (tasks are eager in tests)
    assert client.get(reverse("courses:export_pdf_status", args=[course.id])).json()["state"] == "ready"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="moss.pdf"'
    assert b"".join(response.streaming_content).startswith(b"%PDF-")  # type: ignore[attr-defined]


def test_a_failed_render_is_shown_with_a_way_to_try_again(
    client: Client, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = written_course(weeks=1, lessons_per_week=1)
    url = reverse("courses:export_pdf", args=[course.id])

    def broken(**kwargs: Any) -> bytes:
        raise RuntimeError("layout exploded")

    monkeypatch.setattr(pdf, "pdf_from_html", broken)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(url)
    response = client.get(url)
    html = response.content.decode()
    assert PDF_FAILED_MESSAGE in html
    assert "Try again" in html
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url)
    assert course_pdf_state(course=course).is_ready


def _pdf_objects(data: bytes) -> bytes:
    """The PDF's bytes with every compressed stream (object streams included) inflated, to search in."""
    inflated = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.DOTALL):
        try:
            inflated.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(inflated)


def test_the_pdf_is_tagged_for_screen_readers_with_a_bookmark_per_week_and_lesson() -> None:
    course = written_course(weeks=2, lessons_per_week=2, title="Tides")
    objects = _pdf_objects(pdf.pdf_from_html(html=course_pdf_html(course=full(course))))
    assert b"/StructTreeRoot" in objects
    assert re.search(rb"/MarkInfo\s*<<\s*/Marked\s+true", objects)
    assert b"/Lang" in objects
    assert b"pdfuaid" in objects  # PDF/UA-1 declared in the XMP metadata
    assert b"/Outlines" in objects
    titles = re.findall(rb"/Title\s*\(([^)]*)\)", objects)
    for expected in (b"Week 1 of Topic", b"1.1 Lesson 1.1", b"2.2 Lesson 2.2", b"Week 2 quiz", b"Answer key"):
        assert any(expected in title for title in titles), expected
    assert not any(title == b"Why it matters" for title in titles)  # a lesson's own headings are no bookmarks


def test_each_pdf_worker_process_loads_weasyprint_and_the_fonts_as_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from celery.signals import worker_process_init

    rendered: list[bytes] = []
    real = pdf.pdf_from_html

    def recording(*, html: str, **kwargs: Any) -> bytes:
        made = real(html=html, **kwargs)
        rendered.append(made[:5])
        return made

    monkeypatch.setattr(pdf, "pdf_from_html", recording)
    worker_process_init.send(sender=None)
    assert rendered == [b"%PDF-"]  # a tiny document, really rendered


def test_a_failed_warm_up_does_not_stop_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> bytes:
        raise OSError("no Pango here")

    monkeypatch.setattr(pdf, "pdf_from_html", broken)
    tasks.pdf_warm_up()  # logged, not raised


def test_a_worker_process_has_time_to_warm_up_before_celery_gives_up_on_it() -> None:
    from school.celery import app

    assert app.conf.worker_proc_alive_timeout >= 30  # the warm-up takes 1.5 s here; Celery's default is 4 s
