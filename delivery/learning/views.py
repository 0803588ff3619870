"""The learner's side of a course: its page with their progress, lessons, week quizzes and "My learning"."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import caches
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from courses.models import Course, PartStatus, Quiz
from courses.selectors import (
    course_get,
    course_lesson_id_at,
    course_quality_summary,
    course_quiz_for_week,
    course_requested_by,
    course_structure,
    course_structure_version,
    quiz_question_lessons,
)
from courses.tutor.selectors import tutor_conversations, tutor_panel
from courses.visibility import (
    course_editable_by,
    course_readable,
    course_readable_early,
    course_review_notice_for,
)
from delivery.learning.progress import (
    ProgressError,
    QuestionResult,
    enrollment_record_visit,
    lesson_mark_done,
    lesson_mark_undone,
    quiz_attempt_record,
    quiz_grade,
)
from delivery.learning.selectors import (
    CourseOutline,
    LessonPage,
    LessonReading,
    learner_course_outline,
    learner_courses,
    learner_lesson,
    learner_lesson_reading,
    learner_subscriptions,
    lesson_picture_state,
)
from delivery.learning.visitor import (
    visitor_attempt_keep,
    visitor_best_scores,
    visitor_done_lessons,
    visitor_latest_attempt,
    visitor_lesson_mark,
)
from delivery.models import QuizAttempt

LESSON_MARKED_DONE = "Lesson marked as done."
LESSON_MARKED_UNDONE = "Lesson marked as not done."
LESSON_MARKED_DONE_VISITOR = (
    "Lesson marked as done in this browser. Sign in to keep your progress in your account."
)
QUIZ_UNANSWERED = "Please answer every question, then check your answers."
QUESTION_UNANSWERED = "Choose an answer to this question."
QUIZ_NOT_READY = "This week's quiz has not been written yet."
PAGE_SECONDS = 3600
COURSE_PAGE_TEMPLATES = (  # and the lesson page's: both are kept whole, under keys naming these templates
    "base.html",
    "delivery/lesson.html",
    "delivery/course.html",
    "delivery/_course_body.html",
    "delivery/_subscribe_form.html",
    "courses/_course_badges.html",
)
# Stands in for the visitor's CSRF token in a kept course page: each response puts its own token there.
CSRF_TOKEN_SLOT = "csrf-token-slot-for-this-visitor"
# Stands for the response's CSP nonce in a kept page: each response has its own, in its header and its scripts.
CSP_NONCE_SLOT = "csp-nonce-slot-for-this-response"


def _nonce(request: HttpRequest) -> str:
    """This response's nonce, made now if nothing asked for it yet (the middleware's lazy object is falsy
    until then, so it is read with str(), never tested with bool())."""
    nonce = getattr(request, "csp_nonce", None)
    return "" if nonce is None else str(nonce)


def _page_to_keep(request: HttpRequest, page: str) -> str:
    """The page as kept for every visitor who shares its key: this response's nonce left as a slot."""
    nonce = _nonce(request)
    return page.replace(nonce, CSP_NONCE_SLOT) if nonce else page


def _page_for_this_response(request: HttpRequest, page: str) -> str:
    """A kept page with this visitor's CSRF token and this response's CSP nonce put in their slots."""
    page = page.replace(CSRF_TOKEN_SLOT, get_token(request))
    nonce = _nonce(request)
    return page.replace(CSP_NONCE_SLOT, nonce) if nonce else page


def _learner(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


@require_GET
def course_page(request: HttpRequest, course_id: UUID) -> HttpResponse:
    course = course_readable(request, course_get(course_id=course_id))
    if not course.is_readable:
        return redirect("courses:writing", course.id)
    outline = _outline(request, course)
    review_notice = course_review_notice_for(request, course)
    key = _page_key(request, course, outline, review_notice)
    # Anonymous readers share a page in every process (Redis behind each one); a learner's own pages (and a
    # visitor's with progress in their session) stay in the process that made them, so Redis never fills with
    # one copy per learner and progress step.
    kept = caches["local" if request.user.is_authenticated or outline.done else "versioned"]
    page = kept.get(key) if key else None
    if page is None:
        _add_urls(course, outline)
        context: dict[str, object] = {
            "course": course,
            "outline": outline,
            "review_notice": review_notice,
            "subscription": outline.subscription,
            "templates_version": _templates_version(),
            "quality_summary": course_quality_summary(course=course),
        }
        if key:
            context["csrf_token"] = CSRF_TOKEN_SLOT
        page = render_to_string("delivery/course.html", context, request)
        if key:
            page = _page_to_keep(request, page)
            kept.set(key, page, PAGE_SECONDS)
    if key:
        page = _page_for_this_response(request, page)
    return HttpResponse(page)


def _outline(request: HttpRequest, course: Course) -> CourseOutline:
    learner = _learner(request)
    if learner is not None:
        return learner_course_outline(course=course, user=learner)
    done, best = visitor_done_lessons(request), visitor_best_scores(request)
    return learner_course_outline(course=course, user=None, visitor_done=done, visitor_best=best)


def _page_key(request: HttpRequest, course: Course, outline: CourseOutline, review_notice: str) -> str | None:
    """Where the finished page is kept: every visitor who would see the same page shares it. Visibility is still
    decided above on every request; the key names all the page shows (the course's text, review, progress and
    email subscription in the outline's fingerprint, who is signed in, the offline banner, the templates'
    version). None when the page is one visitor's own: a requester's notice, a message to show once, or the
    "reused" offer."""
    if review_notice or request.GET or len(messages.get_messages(request)):
        return None
    user = request.user
    visitor = f"{user.pk}:{user.get_username()}" if user.is_authenticated else "anonymous"
    state = (
        request.path,
        outline.fingerprint,
        course.review_state,
        course.featured,
        course.held_for_review,
        visitor,
        not settings.OPENAI_API_KEY,  # the offline banner
        _templates_version(),
    )
    return "course-page:v1:" + hashlib.sha256(repr(state).encode()).hexdigest()


@cache
def _templates_version() -> str:
    """Changes with the course page's templates, so a new release never serves a page kept by the one before."""
    sources = "".join(get_template(name).template.source for name in COURSE_PAGE_TEMPLATES)  # type: ignore[attr-defined]
    return hashlib.sha256(sources.encode()).hexdigest()[:16]


def _url_maker(name: str, course: Course) -> Callable[[int], str]:
    """reverse() once, then fill in each id: reversing 65 URLs per page was most of its rendering time."""
    prefix, suffix = reverse(name, args=[course.id, 0]).rsplit("0", 1)
    return lambda number: f"{prefix}{number}{suffix}"


def _add_urls(course: Course, outline: CourseOutline) -> None:
    lesson_url, quiz_url = _url_maker("delivery:lesson", course), _url_maker("delivery:quiz", course)
    for week in outline.weeks:
        week.quiz_url = quiz_url(week.number)
        for lesson in week.lessons:
            lesson.url = lesson_url(lesson.id)


@require_GET
def lesson_page(request: HttpRequest, course_id: UUID, lesson_id: int) -> HttpResponse:
    learner = _learner(request)
    kept_page, reading = _lesson_page_kept(request, course_id, lesson_id, learner)
    if kept_page is not None:
        return HttpResponse(_page_for_this_response(request, kept_page))
    # The reader's marks and questions, once read above, are not read again.
    page = learner_lesson(course_id=course_id, lesson_id=lesson_id, user=learner if reading is None else None)
    if page is None:
        raise Http404("No such lesson")
    course = course_readable(request, page.lesson.course)
    if not course.is_readable:
        return _lesson_read_early(request, course, page)
    if learner is not None:
        enrollment_record_visit(user=learner, course=course)
        if reading is not None:
            page.mark(set(reading.course_done))
    else:
        page.mark(visitor_done_lessons(request))
    can_edit = learner is not None and course_editable_by(course=course, user=learner)
    asked = reading is None or reading.tutor_messages > 0
    tutor = tutor_panel(user=learner, lesson=page.lesson, asked=asked) if learner is not None else None
    picture = lesson_picture_state(getattr(page.lesson, "picture", None))
    key = (
        None
        if tutor is not None and tutor.messages
        else _lesson_page_key(request, course, page.week_done, picture, can_edit)
    )
    # As the course page: anonymous readers without progress share one copy through Redis, the rest stay local.
    kept = caches["local" if request.user.is_authenticated or page.week_done else "versioned"]
    context = {"course": course, "page": page, "lesson": page.lesson, "can_edit": can_edit, "tutor": tutor}
    if key:
        context["csrf_token"] = CSRF_TOKEN_SLOT
    html: str = render_to_string("delivery/lesson.html", context, request)
    if key:
        kept.set(key, _page_to_keep(request, html), PAGE_SECONDS)
        html = _page_for_this_response(request, html)
    return HttpResponse(html)


def _lesson_read_early(request: HttpRequest, course: Course, page: LessonPage) -> HttpResponse:
    """A written lesson of a course still being written, for whoever may follow its writing: just the text, with
    a way back to the progress page. No progress marks, quiz, tutor or editing until the course is written, and
    never kept (`_lesson_page_key`): the page changes as the rest arrives. Otherwise, the progress page."""
    if not (course_readable_early(course) and page.lesson.status == PartStatus.WRITTEN):
        return redirect("courses:writing", course.id)
    context = {"course": course, "page": page, "lesson": page.lesson, "can_edit": False, "early": True}
    response = render(request, "delivery/lesson.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _lesson_page_kept(
    request: HttpRequest, course_id: UUID, lesson_id: int, learner: User | None
) -> tuple[str | None, LessonReading | None]:
    """The kept lesson page for this reader, found with the fewest reads: the course's row, its cached
    structure and one query for what the page shows of the reader (`learner_lesson_reading`), returned too
    for building the page when none is kept. Who may read the course is decided here as on every request.
    (None, None) when the page is to be built (or refused) below without them."""
    course = course_get(course_id=course_id)
    if course is None or not course.is_ready:
        return None, None
    week = next(
        (w for w in course_structure(course=course) if any(e.id == lesson_id for e in w.lessons)), None
    )
    if week is None:
        return None, None
    course = course_readable(request, course)
    reading = learner_lesson_reading(course=course, lesson_id=lesson_id, user=learner)
    if reading.tutor_messages:  # answers arrive live: never kept
        return None, reading
    done = reading.course_done if learner is not None else visitor_done_lessons(request)
    week_done = {entry.id for entry in week.lessons if entry.id in done}
    can_edit = learner is not None and course_editable_by(course=course, user=learner)
    key = _lesson_page_key(request, course, week_done, reading.picture, can_edit)
    if key is None:
        return None, reading
    kept = caches["local" if request.user.is_authenticated or week_done else "versioned"]
    page: str | None = kept.get(key)
    if page is not None and learner is not None:
        enrollment_record_visit(user=learner, course=course)
    return page, reading


def _lesson_page_key(
    request: HttpRequest, course: Course, week_done: set[int], picture: tuple[object, ...], can_edit: bool
) -> str | None:
    """Where the finished lesson page is kept, as `_page_key` for the course page: the key names all the page
    shows (the course's text through its structure version, which every edit moves on; the reader's marks on
    the week's lessons; its picture; who is signed in and whether they may edit; the offline banner, which is
    also the tutor's; the templates). None while the course is still being written (its lessons change without
    a new version) or with a message to see; the view keeps none while the learner talks with the tutor here
    (its answers arrive live)."""
    if not course.is_ready or request.GET or len(messages.get_messages(request)):
        return None
    user = request.user
    visitor = f"{user.pk}:{user.get_username()}" if user.is_authenticated else "anonymous"
    state = (
        request.path,
        course_structure_version(course=course),
        course.review_state,
        course.held_for_review,
        sorted(week_done),  # the page's own lesson among them
        picture,
        visitor,
        can_edit,
        not settings.OPENAI_API_KEY,
        _templates_version(),
    )
    return "lesson-page:v2:" + hashlib.sha256(repr(state).encode()).hexdigest()


@require_GET
def lesson_at(request: HttpRequest, course_id: UUID, week_number: int, number: int) -> HttpResponse:
    """The lesson at this place in the course, at its own address (lesson ids outlive rewrites)."""
    lesson_id = course_lesson_id_at(course_id=course_id, week_number=week_number, number=number)
    if lesson_id is None:
        raise Http404("No such lesson")
    return redirect("delivery:lesson", course_id, lesson_id)


@require_POST
def lesson_done(request: HttpRequest, course_id: UUID, lesson_id: int) -> HttpResponse:
    """Mark a lesson done (or, with done=0, not done). An anonymous reader's mark is kept in their session
    until they sign in (`delivery.learning.visitor`)."""
    lesson_url = reverse("delivery:lesson", args=[course_id, lesson_id])
    learner = _learner(request)
    page = learner_lesson(course_id=course_id, lesson_id=lesson_id, user=None)
    if page is None:
        raise Http404("No such lesson")
    course = course_readable(request, page.lesson.course)
    if (
        not course.is_readable
    ):  # read early while the rest is written: progress starts once the course is whole
        return redirect(lesson_url)
    done = request.POST.get("done") != "0"
    if learner is None:
        visitor_lesson_mark(request, lesson_id=page.lesson.id, done=done)
    elif done:
        lesson_mark_done(user=learner, lesson=page.lesson)
    else:
        lesson_mark_undone(user=learner, lesson=page.lesson)
    if not done:
        messages.success(request, LESSON_MARKED_UNDONE)
        return redirect(lesson_url)
    messages.success(request, LESSON_MARKED_DONE if learner else LESSON_MARKED_DONE_VISITOR)
    if request.POST.get("then") == "next" and page.quiz_next:  # the quiz stands between the weeks
        return redirect("delivery:quiz", course_id, page.lesson.week.number)
    if request.POST.get("then") == "next" and page.next is not None:
        return redirect("delivery:lesson", course_id, page.next.id)
    return redirect(lesson_url)


def _small_number(raw: str) -> bool:
    """Whether `raw` is a number int() takes and the database holds: `isdigit()` alone lets "²" and
    5,000-digit strings through, and int() refuses both with a ValueError."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def _quiz_answers(request: HttpRequest, quiz: Quiz) -> dict[int, int] | None:
    """The chosen option of every question, or None when one is unanswered or not a number."""
    answers = {}
    for number in range(len(quiz.questions)):
        raw = request.POST.get(f"q{number}", "")
        if not _small_number(raw):
            return None
        answers[number] = int(raw)
    return answers


@require_http_methods(["GET", "POST"])
def quiz_page(request: HttpRequest, course_id: UUID, week_number: int) -> HttpResponse:
    quiz = course_quiz_for_week(course_id=course_id, week_number=week_number)
    if quiz is None:
        raise Http404("No such quiz")
    course = course_readable(request, quiz.course)
    learner = _learner(request)
    context: dict[str, object] = {"course": course, "quiz": quiz, "week": quiz.week, "error": ""}
    if quiz.status != PartStatus.WRITTEN:
        context["error"] = QUIZ_NOT_READY
        return render(request, "delivery/quiz.html", context)
    if request.method == "POST":
        return _quiz_submit(request, quiz, context)
    attempt = None if "retry" in request.GET else _shown_attempt(request, learner, quiz)
    if attempt is not None:
        answers = {int(n): choice for n, choice in attempt.answers.items()}
        results = _result_rows(quiz, quiz_grade(quiz=quiz, answers=answers))
        context.update(attempt=attempt, results=results, next_week=_next_week(course, quiz.week.number))
    else:
        context["questions"] = _question_rows(quiz, {})
    return render(request, "delivery/quiz.html", context)


@dataclass(frozen=True)
class ShownAttempt:
    """An attempt whose results the quiz page shows: the learner's (kept in their account) or a visitor's
    (kept in their session until they sign in)."""

    answers: dict[str, int]
    score: int
    total: int
    in_account: bool


def _shown_attempt(request: HttpRequest, learner: User | None, quiz: Quiz) -> ShownAttempt | None:
    """The attempt to show: the one just made (?attempt=id), else the latest; ?retry asks for a blank quiz."""
    if learner is None:
        kept = visitor_latest_attempt(request, quiz_id=quiz.id)
        if kept is None:
            return None
        return ShownAttempt(
            answers=kept["answers"], score=kept["score"], total=kept["total"], in_account=False
        )
    attempts = QuizAttempt.objects.filter(user=learner, quiz=quiz)
    attempt_id = request.GET.get("attempt", "")
    found = (
        attempts.filter(id=int(attempt_id)) if _small_number(attempt_id) else attempts.order_by("-created_at")
    )
    row = found.first()
    if row is None:
        return None
    return ShownAttempt(answers=row.answers, score=row.score, total=row.total, in_account=True)


def _quiz_submit(request: HttpRequest, quiz: Quiz, context: dict[str, object]) -> HttpResponse:
    answers = _quiz_answers(request, quiz)
    learner = _learner(request)
    url = reverse("delivery:quiz", args=[quiz.course_id, quiz.week.number])
    try:
        if answers is None:
            raise ProgressError(QUIZ_UNANSWERED)
        if learner is None:  # kept in the session: carried into the account at sign-in
            results = quiz_grade(quiz=quiz, answers=answers)
            score = sum(result.is_correct for result in results)
            visitor_attempt_keep(request, quiz_id=quiz.id, answers=answers, score=score, total=len(results))
            return redirect(f"{url}#results")
        attempt, _ = quiz_attempt_record(user=learner, quiz=quiz, answers=answers)
    except ProgressError as error:
        chosen = {n: request.POST.get(f"q{n}", "") for n in range(len(quiz.questions))}
        context.update(error=str(error), questions=_question_rows(quiz, chosen, flag_missing=True))
        return render(request, "delivery/quiz.html", context, status=400)
    return redirect(f"{url}?attempt={attempt.id}#results")


def _question_rows(
    quiz: Quiz, chosen: dict[int, str], *, flag_missing: bool = False
) -> list[dict[str, object]]:
    """The questions to show, with the learner's choices; `flag_missing` marks those sent back unanswered."""
    return [
        {
            "number": n,
            "text": q["question"],
            "options": list(enumerate(q["options"])),
            "chosen": chosen.get(n, ""),
            "missing": QUESTION_UNANSWERED if flag_missing and not chosen.get(n) else "",
        }
        for n, q in enumerate(quiz.questions)
    ]


def _next_week(course: Course, number: int) -> dict[str, object] | None:
    """Week `number + 1` and where it starts (from the cached structure), for "Start week N+1"."""
    week = next((week for week in course_structure(course=course) if week.number == number + 1), None)
    if week is None or not week.lessons:
        return None
    return {
        "number": week.number,
        "title": week.title,
        "url": reverse("delivery:lesson", args=[course.id, week.lessons[0].id]),
    }


def _result_rows(quiz: Quiz, results: list[QuestionResult]) -> list[dict[str, object]]:
    """Each question's result; a wrong answer links to the lesson of the week that teaches it."""
    lessons = quiz_question_lessons(quiz=quiz)
    return [
        {
            "lesson": lessons.get(result.number) if not result.is_correct else None,
            "number": result.number,
            "text": quiz.questions[result.number]["question"],
            "options": list(enumerate(quiz.questions[result.number]["options"])),
            "chosen": result.chosen,
            "correct": result.correct,
            "is_correct": result.is_correct,
            "explanation": result.explanation,
            "review": _review_link(quiz, quiz.questions[result.number]),
        }
        for result in results
    ]


def _review_link(quiz: Quiz, question: dict[str, Any]) -> dict[str, str] | None:
    """Where the lesson teaches this question's answer: "lesson 2, section 'Siege engines'" and its link."""
    lesson = question.get("lesson")
    if not isinstance(lesson, int):
        return None  # written before quizzes were grounded in their lessons, or edited by hand
    url = reverse("delivery:lesson_at", args=[quiz.course_id, quiz.week.number, lesson])
    anchor = str(question.get("anchor") or "")
    return {
        "lesson": str(lesson),
        "section": str(question.get("section") or ""),
        "url": f"{url}#{anchor}" if anchor else url,
    }


@login_required
@require_GET
def my_learning(request: HttpRequest) -> HttpResponse:
    learner = _learner(request)
    assert learner is not None
    context = {
        "courses": learner_courses(user=learner),
        "requested": course_requested_by(user=learner),
        "conversations": tutor_conversations(user=learner),
        "subscriptions": learner_subscriptions(user=learner),
    }
    return render(request, "delivery/my_learning.html", context)
