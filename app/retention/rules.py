"""The retention rule's dates, in one place (the SQL of ``repository`` computes the same thing)."""

from __future__ import annotations

from datetime import date, timedelta


def anniversary(day: date, years: int) -> date:
    """``day`` plus ``years`` calendar years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def due_on(last_result_on: date, years: int) -> date:
    """The first day on which a result of ``last_result_on`` is older than ``years`` years."""
    return anniversary(last_result_on, years) + timedelta(days=1)


def is_due(last_result_on: date, years: int, as_of: date) -> bool:
    """Whether results whose learner's last result is ``last_result_on`` are anonymised on ``as_of``."""
    return anniversary(last_result_on, years) < as_of
