"""Writes to a learner's progress, shared by the website, the API and the weekly emails.

Every function is idempotent: marking a lesson done twice, or clicking the same quiz link from an email
twice, records it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from courses.models import Course, Lesson, Quiz, Week
from courses.selectors import course_lesson_count, week_lesson_ids
from delivery.models import Enrollment, LessonCompletion, QuizAttempt, Source

QUESTION_OUT_OF_RANGE = "That question is not part of this quiz."
CHOICE_OUT_OF_RANGE = "That answer is not one of the options."


class ProgressError(ValueError):
    """Input that cannot be recorded as progress; the message is safe to show the learner."""


@dataclass(frozen=True)
class QuestionResult:
    number: int  # position in the quiz, from 0
    chosen: int | None
    correct: int
    explanation: str

    @property
    def is_correct(self) -> bool:
        return self.chosen == self.correct


def enrollment_touch(*, user: User, course: Course) -> Enrollment:
    """The learner's enrollment in the course, created on first activity, with its activity time moved on."""
    enrollment, created = Enrollment.objects.get_or_create(user=user, course=course)
    if not created:
        enrollment.last_activity_at = timezone.now()
        enrollment.save(update_fields=["last_activity_at"])
    return enrollment


VISIT_RECORDED_EVERY_SECONDS = 300


def enrollment_record_visit(*, user: User, course: Course) -> None:
    """Note that the learner is studying the course (reading a lesson counts): one UPDATE once enrolled, at
    most every five minutes per learner and course in a process (reading lessons one after another would
    otherwise write on every page; "last studied" needs no finer time)."""
    if not caches["local"].add(f"visit:{user.pk}:{course.pk}", 1, VISIT_RECORDED_EVERY_SECONDS):
        return
    updated = Enrollment.objects.filter(user=user, course=course).update(last_activity_at=timezone.now())
    if not updated:
        enrollment_touch(user=user, course=course)


def lesson_mark_done(*, user: User, lesson: Lesson, source: str = Source.WEB) -> LessonCompletion:
    try:
        with transaction.atomic():
            completion, _ = LessonCompletion.objects.get_or_create(
                user=user, lesson=lesson, defaults={"course_id": lesson.course_id, "source": source}
            )
    except IntegrityError:  # a concurrent click recorded it first
        completion = LessonCompletion.objects.get(user=user, lesson=lesson)
    enrollment = enrollment_touch(user=user, course=lesson.course)
    _complete_enrollment_if_finished(enrollment)
    return completion


def lesson_mark_undone(*, user: User, lesson: Lesson) -> None:
    LessonCompletion.objects.filter(user=user, lesson=lesson).delete()
    Enrollment.objects.filter(user=user, course_id=lesson.course_id).update(completed_at=None)


def week_mark_done(*, user: User, week: Week, source: str = Source.WEB) -> int:
    """Mark every lesson of the week done; returns how many lessons were newly marked."""
    lesson_ids = week_lesson_ids(week=week)
    done = set(
        LessonCompletion.objects.filter(user=user, lesson_id__in=lesson_ids).values_list(
            "lesson_id", flat=True
        )
    )
    LessonCompletion.objects.bulk_create(
        [
            LessonCompletion(user=user, lesson_id=lesson_id, course_id=week.course_id, source=source)
            for lesson_id in lesson_ids
            if lesson_id not in done
        ],
        ignore_conflicts=True,
    )
    enrollment = enrollment_touch(user=user, course=week.course)
    _complete_enrollment_if_finished(enrollment)
    return len(set(lesson_ids) - done)


def _complete_enrollment_if_finished(enrollment: Enrollment) -> None:
    if enrollment.completed_at is not None:
        return
    total = course_lesson_count(course_id=enrollment.course_id)
    done = LessonCompletion.objects.filter(user_id=enrollment.user_id, course_id=enrollment.course_id).count()
    if total and done >= total:
        enrollment.completed_at = timezone.now()
        enrollment.save(update_fields=["completed_at"])


def quiz_grade(*, quiz: Quiz, answers: dict[int, int]) -> list[QuestionResult]:
    """Each question's result for the given answers (question position → option index)."""
    quiz_answers_check(quiz=quiz, answers=answers)
    return [
        QuestionResult(
            number=n,
            chosen=answers.get(n),
            correct=int(question["answer"]),
            explanation=question["explanation"],
        )
        for n, question in enumerate(quiz.questions)
    ]


def quiz_answers_check(*, quiz: Quiz, answers: dict[int, int]) -> None:
    """Raise ProgressError unless every answer names a question of the quiz and one of its options."""
    for number, choice in answers.items():
        if not 0 <= number < len(quiz.questions):
            raise ProgressError(QUESTION_OUT_OF_RANGE)
        if not 0 <= choice < len(quiz.questions[number]["options"]):
            raise ProgressError(CHOICE_OUT_OF_RANGE)


def quiz_attempt_record(
    *, user: User, quiz: Quiz, answers: dict[int, int], source: str = Source.WEB
) -> tuple[QuizAttempt, list[QuestionResult]]:
    """Store a whole attempt at the quiz (from the quiz page or the API) and return it graded."""
    results = quiz_grade(quiz=quiz, answers=answers)
    attempt = QuizAttempt.objects.create(
        user=user,
        quiz=quiz,
        course_id=quiz.course_id,
        answers={str(n): choice for n, choice in answers.items()},
        score=sum(result.is_correct for result in results),
        total=len(results),
        source=source,
    )
    enrollment_touch(user=user, course=quiz.course)
    return attempt, results


def quiz_answer_record(
    *, user: User, quiz: Quiz, question: int, choice: int
) -> tuple[QuizAttempt, QuestionResult]:
    """Record one answer clicked in an email or on the page it opens. Answers gather in one email attempt per
    learner and quiz; the latest click on a question stands: a mail scanner fetches every link as the email
    arrives, so only an answer that may replace the scanner's lets the learner's own click count."""
    quiz_answers_check(quiz=quiz, answers={question: choice})
    with transaction.atomic():
        attempt = _email_attempt_for_update(user=user, quiz=quiz)
        attempt.answers[str(question)] = choice
        answers = {int(n): c for n, c in attempt.answers.items()}
        results = quiz_grade(quiz=quiz, answers=answers)
        attempt.score = sum(result.is_correct for result in results)
        attempt.save(update_fields=["answers", "score"])
    enrollment_touch(user=user, course=quiz.course)
    return attempt, results[question]


def _email_attempt_for_update(*, user: User, quiz: Quiz) -> QuizAttempt:
    defaults: dict[str, Any] = {"course_id": quiz.course_id, "total": len(quiz.questions), "answers": {}}
    attempt = (
        QuizAttempt.objects.select_for_update()
        .filter(user=user, quiz=quiz, source=Source.EMAIL)
        .order_by("id")
        .first()
    )
    return attempt or QuizAttempt.objects.create(user=user, quiz=quiz, source=Source.EMAIL, **defaults)


def anonymous_progress_carry(*, user: User, lesson_ids: list[int], attempts: list[dict[str, Any]]) -> None:
    """Merge what a visitor did before signing in into the learner's progress, without duplicates.

    1. Lessons done: one completion each, skipping those the learner had already marked (a unique pair).
    2. Quiz attempts: kept unless the learner already holds an attempt at that quiz with the same answers
       (the same attempt carried twice, e.g. from two tabs). Each is graded again against the quiz as it is.
    3. An enrollment in every course touched, completed if every lesson is now done.
    """
    lessons = Lesson.objects.filter(id__in=lesson_ids).only("id", "course_id")
    LessonCompletion.objects.bulk_create(
        [LessonCompletion(user=user, lesson=lesson, course_id=lesson.course_id) for lesson in lessons],
        ignore_conflicts=True,
    )
    course_ids = {lesson.course_id for lesson in lessons}
    course_ids |= _attempts_carry(user=user, attempts=attempts)
    for course in Course.objects.filter(id__in=course_ids):
        _complete_enrollment_if_finished(enrollment_touch(user=user, course=course))


def _attempts_carry(*, user: User, attempts: list[dict[str, Any]]) -> set[Any]:
    quizzes = Quiz.objects.in_bulk({attempt["quiz"] for attempt in attempts})
    held = {
        (quiz_id, repr(sorted(answers.items())))
        for quiz_id, answers in QuizAttempt.objects.filter(user=user, quiz_id__in=quizzes).values_list(
            "quiz_id", "answers"
        )
    }
    course_ids = set()
    for attempt in reversed(attempts):  # oldest first, so the newest is the newest in the account too
        quiz = quizzes.get(attempt["quiz"])
        answers = {str(n): int(choice) for n, choice in attempt["answers"].items()}
        key = (attempt["quiz"], repr(sorted(answers.items())))
        if quiz is None or key in held:
            continue
        try:
            results = quiz_grade(quiz=quiz, answers={int(n): c for n, c in answers.items()})
        except ProgressError:  # the quiz was rewritten since: its old answers no longer fit
            continue
        QuizAttempt.objects.create(
            user=user,
            quiz=quiz,
            course_id=quiz.course_id,
            answers=answers,
            score=sum(result.is_correct for result in results),
            total=len(results),
        )
        held.add(key)
        course_ids.add(quiz.course_id)
    return course_ids
