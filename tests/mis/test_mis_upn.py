"""The DfE UPN check-letter rule, table-driven."""

from __future__ import annotations

import pytest

from app.mis import upn


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("B801200005001", True),  # worked example: 93 mod 23 = 1 -> B
        ("A801200005001", False),  # wrong check letter
        ("M80120000500A", True),  # temporary: final A counts 0; 80 mod 23 = 11 -> M
        ("B80120000500A", False),  # temporary with a wrong check letter
        ("P207000016049", True),  # 266 mod 23 = 13 -> P
        ("Q207000016049", False),
        ("b801200005001", False),  # lower case: the connectors upper-case before checking
        ("B80120000500", False),  # 12 characters
        ("B8012000050011", False),  # 14 characters
        ("", False),
        (None, False),
        ("B8012000X5001", False),  # a letter in the middle
        ("I801200005001", False),  # I is never a check letter
        ("M80120000500I", False),  # nor a final letter (I, O, S)
        ("M80120000500O", False),
        ("M80120000500S", False),
        (" B801200005001", False),  # not stripped
    ],
)
def test_is_valid(value: str | None, valid: bool) -> None:
    assert upn.is_valid(value) is valid


@pytest.mark.parametrize(("body", "letter"), [("801200005001", "B"), ("80120000500A", "M"), ("000000000000", "A")])
def test_check_letter(body: str, letter: str) -> None:
    assert upn.check_letter(body) == letter


def test_every_value_maps_to_one_letter_without_i_o_s() -> None:
    assert len(upn.LETTERS) == 23
    assert not set("IOS") & set(upn.LETTERS)


def test_temporary_final_letter_counts_its_value_times_13() -> None:
    # Changing the final letter from A (0) to B (1) adds 13 to the sum.
    a = upn.LETTERS.index(upn.check_letter("80120000500A"))
    b = upn.LETTERS.index(upn.check_letter("80120000500B"))
    assert b == (a + 13) % 23
    assert upn.is_temporary("M80120000500A") and not upn.is_temporary("B801200005001")


def test_check_letter_rejects_bad_bodies() -> None:
    with pytest.raises(ValueError):
        upn.check_letter("80120000500")
    with pytest.raises(ValueError):
        upn.check_letter("8012000050I1")
