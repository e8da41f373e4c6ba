"""Name normalisation and the bounded edit distance."""

from __future__ import annotations

import random

import pytest

from app.reconcile.names import compact, edit_limit, name_key, normalise, osa_distance


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("Zoë", "Zoe", id="diaeresis"),
        pytest.param("ZOË", "zoe", id="case-and-accent"),
        pytest.param("José", "Jose", id="acute"),
        pytest.param("Zoe\u0308", "Zoe", id="combining-mark"),
        pytest.param("O'Brien", "OBrien", id="apostrophe"),
        pytest.param("O\u2019Brien", "O'Brien", id="curly-apostrophe"),
        pytest.param("O\u2018Brien", "OBrien", id="left-quote"),
        pytest.param("O`Brien", "OBrien", id="backtick"),
        pytest.param("O\u02bcBrien", "OBrien", id="modifier-apostrophe"),
        pytest.param("Smith-Jones", "Smith Jones", id="hyphen"),
        pytest.param("Smith\u2013Jones", "Smith Jones", id="en-dash"),
        pytest.param("Smith\u2014Jones", "Smith-Jones", id="em-dash"),
        pytest.param("Smith\u2011Jones", "Smith-Jones", id="non-breaking-hyphen"),
        pytest.param("  Mary   Ann ", "Mary Ann", id="spaces"),
        pytest.param("Mary\u00a0Ann", "Mary Ann", id="nbsp"),
        pytest.param("St. John", "St John", id="full-stop"),
        pytest.param("Strauß", "Strauss", id="sharp-s"),
    ],
)
def test_same_after_normalisation(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Smith-Jones", "smith jones", id="hyphen-becomes-space"),
        pytest.param("O'Brien", "obrien", id="apostrophe-dropped"),
        pytest.param("Łukasz", "łukasz", id="undecomposable-letter-kept"),
        pytest.param("", "", id="empty"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(("Anna", "Smith-Jones"), ("anna", "SmithJones"), id="hyphen-vs-joined"),
        pytest.param(("Anna", "Smith Jones"), ("Anna", "Smith-Jones"), id="space-vs-hyphen"),
        pytest.param(("Sean", "O Brien"), ("Seán", "O'Brien"), id="space-vs-apostrophe"),
    ],
)
def test_same_key(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert name_key(*a) == name_key(*b)


def test_key_keeps_forename_and_surname_apart() -> None:
    assert name_key("Amy", "Smith") != name_key("Smith", "Amy")
    assert compact("Mary-Ann") == "maryann"


def _reference_osa(a: str, b: str) -> int:
    """Textbook optimal-string-alignment distance, unbanded."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@pytest.mark.parametrize(
    ("a", "b", "limit", "expected"),
    [
        pytest.param("smith", "smith", 2, 0, id="equal"),
        pytest.param("smith", "smyth", 2, 1, id="substitution"),
        pytest.param("smith", "smiht", 2, 1, id="adjacent-swap"),
        pytest.param("smith", "smth", 2, 1, id="deletion"),
        pytest.param("mohammed", "muhammad", 2, 2, id="two-edits"),
        pytest.param("abc", "xyz", 2, 3, id="over-limit-capped"),
        pytest.param("ab", "abcdef", 2, 3, id="length-gap-capped"),
        pytest.param("", "ab", 2, 2, id="empty"),
    ],
)
def test_osa_distance(a: str, b: str, limit: int, expected: int) -> None:
    assert osa_distance(a, b, limit) == expected


def test_osa_distance_agrees_with_reference() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        a = "".join(rng.choice("abc") for _ in range(rng.randint(0, 7)))
        b = "".join(rng.choice("abc") for _ in range(rng.randint(0, 7)))
        limit = rng.randint(0, 3)
        assert osa_distance(a, b, limit) == min(_reference_osa(a, b), limit + 1), (a, b, limit)


@pytest.mark.parametrize(("length", "limit"), [(1, 0), (2, 0), (3, 1), (5, 1), (6, 2), (12, 2)])
def test_edit_limit(length: int, limit: int) -> None:
    assert edit_limit(length) == limit
