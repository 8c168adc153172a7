"""Codelists: the shipped ones load; malformed ones fail naming the file and row."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseofcare.terminology.codelist import (
    CodelistError,
    load_codelists,
    packaged_codelists,
    read_codelist_csv,
)


def test_every_shipped_codelist_loads_with_codes_as_strings() -> None:
    lists = packaged_codelists()
    assert {"hyp_cod", "dm_cod", "ast_cod", "copd_cod", "ckd_cod", "ld_cod"} <= lists.keys()
    hyp = lists["hyp_cod"]
    assert "38341003" in hyp  # Hypertensive disorder, systemic arterial
    assert all(isinstance(code, str) for code in hyp.codes)
    # 18-digit ids survive as strings
    assert any(len(code) > 15 for code in lists["ld_cod"].codes)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "x_cod.csv"
    path.write_text(body)
    return path


def test_duplicate_code_names_file_and_both_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "code,term\n38341003,a\n123456,b\n38341003,c\n")
    with pytest.raises(
        CodelistError, match=r"x_cod.csv: row 4: code 38341003 is repeated \(first at row 2\)"
    ):
        read_codelist_csv(path)


@pytest.mark.parametrize("bad", ["012345", "12345", "1234567890123456789", "38341003a", ""])
def test_malformed_code_names_the_row(tmp_path: Path, bad: str) -> None:
    path = _write(tmp_path, f"code,term\n38341003,ok\n{bad},bad\n")
    with pytest.raises(CodelistError, match="row 3"):
        read_codelist_csv(path)


def test_empty_list_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CodelistError, match="no codes"):
        read_codelist_csv(_write(tmp_path, "code,term\n"))


def test_wrong_header_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CodelistError, match="row 1: header"):
        read_codelist_csv(_write(tmp_path, "snomed,description\n38341003,x\n"))


def test_index_entry_missing_version_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "code,term\n38341003,x\n")
    (tmp_path / "index.toml").write_text(
        '[[codelist]]\nname = "x_cod"\nfile = "x_cod.csv"\nsource = "s"\n'
    )
    with pytest.raises(CodelistError, match="codelist #1: missing version"):
        load_codelists(tmp_path)


def test_index_naming_a_missing_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "index.toml").write_text(
        '[[codelist]]\nname = "y"\nfile = "y.csv"\nversion = "1"\nsource = "s"\n'
    )
    with pytest.raises(CodelistError, match=r"y\.csv: codelist file not found"):
        load_codelists(tmp_path)
