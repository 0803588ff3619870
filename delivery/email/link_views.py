"""Pages behind the one-click links of the weekly email: a quiz answer, and "mark this week done".

A quiz answer is recorded by the click itself (GET), so a quiz takes one click per question: the page shows
the choice recorded, the explanation and the next question's answers as links of the same kind. A mail
scanner that fetches every link only leaves answers the learner's own clicks then replace (the latest
stands). "Mark this week done" changes more, so its GET shows a button and the POST records it.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from delivery.email import links, subscriptions
from delivery.email.subscriptions import SubscriptionError


@require_http_methods(["GET", "POST"])
def quiz_answer(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link, result = subscriptions.answer_link_record(token=token)
    except SubscriptionError as error:
        return render(request, "delivery/link_invalid.html", {"message": str(error)}, status=404)
    question = link.question_data
    context = {
        "link": link,
        "course": link.quiz.course,
        "week": link.quiz.week,
        "question": question,
        "number": link.question + 1,
        "total": len(link.quiz.questions),
        "result": result,
        "chosen": question["options"][link.choice],
        "correct": question["options"][result.correct],
        "next": _next_question(link),
        "attempt": subscriptions.answer_link_attempt(link),
        "course_url": links.course_url(link.quiz.course_id),
        "quiz_url": links.quiz_url(course_id=link.quiz.course_id, week=link.quiz.week.number),
        "manage_url": links.manage_url(
            subscription_id=link.subscription.id, generation=link.subscription.link_generation
        ),
    }
    response = render(request, "delivery/quiz_answer.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _next_question(link: subscriptions.AnswerLink) -> dict[str, object] | None:
    """The quiz's next question with a one-click link per answer, or None after the last one."""
    number = link.question + 1
    if number >= len(link.quiz.questions):
        return None
    question = link.quiz.questions[number]
    urls = links.answer_urls(
        subscription_id=link.subscription.id,
        quiz_id=link.quiz.id,
        options_per_question=tuple(len(q["options"]) for q in link.quiz.questions[: number + 1]),
    )[number]
    # Relative on the page: the next click stays on the site the learner is on.
    paths = [url.removeprefix(settings.SITE_URL) for url in urls]
    options = [(chr(ord("A") + c), option, paths[c]) for c, option in enumerate(question["options"])]
    return {"number": number + 1, "text": question["question"], "options": options}


@require_http_methods(["GET", "POST"])
def week_done(request: HttpRequest, token: str) -> HttpResponse:
    newly_done = None
    try:
        if request.method == "POST":
            link, newly_done = subscriptions.week_done_link_record(token=token)
        else:
            link = subscriptions.week_done_link_read(token=token)
    except SubscriptionError as error:
        return render(request, "delivery/link_invalid.html", {"message": str(error)}, status=404)
    context = {
        "link": link,
        "week": link.week,
        "course": link.week.course,
        "done": newly_done is not None,
        "newly_done": newly_done,
        "course_url": links.course_url(link.week.course_id),
        "manage_url": links.manage_url(
            subscription_id=link.subscription.id, generation=link.subscription.link_generation
        ),
    }
    return render(request, "delivery/week_done.html", context)
