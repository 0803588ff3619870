"""Pages behind the one-click links of the weekly email: a quiz answer, and "mark this week done".

GET shows what the click will do, with a button, and changes nothing (mail scanners prefetch every link);
the POST records it.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from delivery.email import links, subscriptions
from delivery.email.subscriptions import SubscriptionError
from delivery.learning.progress import QuestionResult


@require_http_methods(["GET", "POST"])
def quiz_answer(request: HttpRequest, token: str) -> HttpResponse:
    result: QuestionResult | None
    try:
        if request.method == "POST":
            link, result = subscriptions.answer_link_record(token=token)
        else:
            link = subscriptions.answer_link_read(token=token)
            result = subscriptions.answer_link_recorded(link)
    except SubscriptionError as error:
        return render(request, "delivery/link_invalid.html", {"message": str(error)}, status=404)
    question = link.question_data
    context = {
        "link": link,
        "course": link.quiz.course,
        "week": link.quiz.week,
        "question": question,
        "chosen": question["options"][link.choice],
        "result": result,
        "chosen_recorded": question["options"][result.chosen]
        if result and result.chosen is not None
        else None,
        "correct": question["options"][result.correct] if result else None,
        "course_url": links.course_url(link.quiz.course_id),
        "manage_url": links.manage_url(link.subscription.id),
    }
    return render(request, "delivery/quiz_answer.html", context)


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
        "manage_url": links.manage_url(link.subscription.id),
    }
    return render(request, "delivery/week_done.html", context)
