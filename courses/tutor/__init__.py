"""The tutor: learners ask about the lesson they are reading (or, by email, the week), and an LLM answers,
grounded in the course's own text; offline, the best-matching passages of the week's lessons answer instead.

- `asking`: the gate (signed-in learner, question limits, daily allowance, spend cap) and the queued answer;
- `answering`: the worker's side: screen the question, stream the answer, screen it, keep it;
- `live`: the answer as it grows, in Redis, for the page to poll (web processes never wait on the LLM);
- `prompts`, `offline` (BM25 excerpts), `selectors` (reads), `views` and `urls`.

`delivery` may import `courses.tutor.asking` and `courses.tutor.selectors` (the weekly email's replies).
"""
