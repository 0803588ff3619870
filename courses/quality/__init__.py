"""What Semester measures about a written course: grounded quizzes, repetition, readings, links, pictures, and
the quality report that gathers them for moderators (and, briefly, for learners)."""
