"""The DfE UPN check-letter rule, including temporary UPNs."""

from __future__ import annotations

import pytest

from app.reconcile.upn import check_letter, is_temporary_upn, is_valid_upn, normalise_upn, valid_upn


@pytest.mark.parametrize(
    ("raw", "valid", "temporary"),
    [
        # Worked examples from the DfE UPN guidance (B: 93 mod 23 = 1; H: 53 mod 23 = 7).
        pytest.param("B801200005001", True, False, id="valid"),
        pytest.param("H801200001001", True, False, id="valid-2"),
        pytest.param("G80120000101A", True, True, id="temporary-letter-counts-as-A=0"),
        pytest.param("A801200005001", False, False, id="wrong-check-letter"),
        pytest.param("Z801200001001", False, False, id="wrong-check-letter-2"),
        pytest.param("H80120000101A", False, False, id="temporary-wrong-check-letter"),
        pytest.param("b801200005001", True, False, id="lowercase-accepted"),
        pytest.param(" B801 2000 05001 ", True, False, id="spaces-ignored"),
        pytest.param("g80120000101a", True, True, id="lowercase-temporary"),
        pytest.param("B80120000500", False, False, id="too-short"),
        pytest.param("B8012000050011", False, False, id="too-long"),
        pytest.param("", False, False, id="empty"),
        pytest.param(None, False, False, id="none"),
        pytest.param("X80120000A001", False, False, id="letter-in-middle"),
        pytest.param("B80120000500I", False, False, id="I-never-used"),
        pytest.param("B80120000500O", False, False, id="O-never-used"),
        pytest.param("B80120000500S", False, False, id="S-never-used"),
        pytest.param("B80120000\u0665001", False, False, id="non-ascii-digit"),
        pytest.param("1801200005001", False, False, id="digit-instead-of-check-letter"),
    ],
)
def test_upn_validity(raw: str | None, valid: bool, temporary: bool) -> None:
    assert is_valid_upn(raw) is valid
    assert is_temporary_upn(raw) is temporary
    assert valid_upn(raw) == (normalise_upn(raw) if valid else None)


@pytest.mark.parametrize(
    ("tail", "letter"),
    [
        pytest.param("801200005001", "B", id="permanent"),
        pytest.param("80120000101A", "G", id="temporary"),
        pytest.param("000000000000", "A", id="all-zero"),
    ],
)
def test_check_letter(tail: str, letter: str) -> None:
    assert check_letter(tail) == letter


@pytest.mark.parametrize("tail", ["80120000500", "8012000050011", "80120000500I"])
def test_check_letter_rejects_malformed_tail(tail: str) -> None:
    with pytest.raises(ValueError):
        check_letter(tail)
