"""Retention: per-suite periods, who becomes inactive when, and the daily anonymisation run.

The rule (DOMAIN.md, "Retention and anonymisation"): a learner's results in suite S are anonymised once
the learner's most recent result of any suite is older than S's period. "Older than N years" is exact
to the day, in calendar years: a result of day D is older than N years from the day after D's N-th
anniversary on (``rules.due_on``); the anniversary of 29 February in a common year is 28 February.
"""
