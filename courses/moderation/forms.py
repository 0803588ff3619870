"""Forms for editing parts in place, for giving reasons and for reporting a lesson; they parse input, the
services decide."""

from __future__ import annotations

from typing import Any

from django import forms

from courses.models import LessonReport, Quiz, Week
from courses.moderation.review import COMMENT_MAX_CHARS, QUOTE_MAX_CHARS

REPORT_REASON_MISSING = "Choose what is wrong with the lesson."
# The longest text a person may submit as markdown: ten times a long lesson, well inside what renders fast.
MARKDOWN_MAX_CHARS = 50_000
MARKDOWN_TOO_LONG = "At most 50,000 characters, please."
MARKDOWN_WIDGET_ATTRS = {"rows": 24, "class": "markdown-source", "data-preview": "1", "spellcheck": "true"}


class NoteField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 500)
        kwargs.setdefault("label", "Note for the audit log")
        kwargs.setdefault("help_text", "Optional: why you changed it.")
        super().__init__(**kwargs)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
        help_text="The requester reads this.",
    )


class WeekForm(forms.Form):
    title = forms.CharField(max_length=300)
    overview = forms.CharField(
        required=False,
        max_length=MARKDOWN_MAX_CHARS,
        widget=forms.Textarea(attrs=MARKDOWN_WIDGET_ATTRS | {"rows": 8}),
        error_messages={"max_length": MARKDOWN_TOO_LONG},
    )
    objectives = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One learning objective per line.",
    )
    note = NoteField()

    @classmethod
    def for_week(cls, week: Week, data: Any = None) -> WeekForm:
        initial = {
            "title": week.title,
            "overview": week.overview,
            "objectives": "\n".join(week.objectives or []),
        }
        return cls(data, initial=initial)

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        objectives = [line.strip() for line in data["objectives"].splitlines() if line.strip()]
        return {"title": data["title"], "overview": data["overview"], "objectives": objectives}


class LessonForm(forms.Form):
    title = forms.CharField(max_length=300)
    body = forms.CharField(
        widget=forms.Textarea(attrs=MARKDOWN_WIDGET_ATTRS),
        strip=False,
        label="Lesson (markdown)",
        max_length=MARKDOWN_MAX_CHARS,
        error_messages={"max_length": MARKDOWN_TOO_LONG},
    )
    note = NoteField()

    def changes(self) -> dict[str, Any]:
        # Keep the body exactly as typed; only trailing space at the very end is dropped.
        return {"title": self.cleaned_data["title"], "body": self.cleaned_data["body"].rstrip() + "\n"}


class QuestionForm(forms.Form):
    question = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)
    options = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=5000, help_text="One option per line."
    )
    answer = forms.IntegerField(min_value=1, help_text="Which line above is the right answer (1 = first).")
    explanation = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    # Where the week's lessons teach the answer (courses.quality): kept through an edit, so the learner's
    # feedback still links to it and the quality report still finds it.
    lesson = forms.IntegerField(
        required=False, min_value=1, label="Lesson that teaches it", help_text="Its number in the week."
    )
    passage = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=600,
        label="Supporting passage",
        help_text="Copied word for word from that lesson.",
    )
    section = forms.CharField(required=False, widget=forms.HiddenInput, max_length=300)
    anchor = forms.CharField(required=False, widget=forms.HiddenInput, max_length=300)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        options = [line.strip() for line in data.get("options", "").splitlines() if line.strip()]
        if len(options) < 2:
            self.add_error("options", "Give at least two options, one per line.")
        answer = data.get("answer")
        if answer is not None and options and answer > len(options):
            self.add_error("answer", f"There are only {len(options)} options.")
        data["option_list"] = options
        return data

    def as_question(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "question": data["question"].strip(),
            "options": data["option_list"],
            "answer": data["answer"] - 1,
            "explanation": data["explanation"].strip(),
            **self._grounding(),
        }

    def _grounding(self) -> dict[str, Any]:
        data = self.cleaned_data
        if not data.get("lesson") or not data.get("passage", "").strip():
            return {}
        changed = {"lesson", "passage"} & set(self.changed_data)
        place = {} if changed else {"section": data.get("section", ""), "anchor": data.get("anchor", "")}
        return {"lesson": data["lesson"], "passage": data["passage"].strip(), **place}


QuestionFormSet = forms.formset_factory(QuestionForm, extra=1, can_delete=True, min_num=1, validate_min=True)


def question_formset(quiz: Quiz, data: Any = None) -> Any:
    initial = [
        {
            "question": item.get("question", ""),
            "options": "\n".join(str(option) for option in item.get("options", [])),
            "answer": int(item.get("answer", 0)) + 1,
            "explanation": item.get("explanation", ""),
            **{key: item[key] for key in ("lesson", "passage", "section", "anchor") if item.get(key)},
        }
        for item in quiz.questions or []
        if isinstance(item, dict)
    ]
    return QuestionFormSet(data, initial=initial, prefix="q")


def formset_questions(formset: Any) -> list[dict[str, Any]]:
    """The questions kept, in order; blank extra forms and deleted ones are left out."""
    return [
        form.as_question()
        for form in formset.forms
        if form.has_changed() or form.initial
        if not form.cleaned_data.get("DELETE") and form.cleaned_data.get("question")
    ]


class QuizNoteForm(forms.Form):
    note = NoteField()


class RegenerateForm(forms.Form):
    instruction = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "Optional, e.g. “simpler”, “add an example about X”"}),
        help_text="What the new version should do differently.",
    )


class ReportForm(forms.Form):
    reason = forms.ChoiceField(
        choices=LessonReport.Reason.choices,
        widget=forms.RadioSelect,
        label="What is wrong?",
        error_messages={"required": REPORT_REASON_MISSING},
    )
    quoted_text = forms.CharField(
        required=False,
        max_length=QUOTE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="The passage",
        help_text="Paste the sentence or paragraph you mean.",
    )
    comment = forms.CharField(
        required=False,
        max_length=COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Anything else?",
    )
