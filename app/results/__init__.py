"""Test results: recording them in batches, a pupil's results, class marksheets, year-group reports and
the school's list of assessment suites."""
