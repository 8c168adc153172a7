"""Code-system maps: the shipped ones load, every target is a code some rule reads, malformed
maps fail naming the file and row, and the SQL canonical URI agrees with the Python one."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import duckdb
import pytest

from houseofcare.terminology.code_maps import (
    LOINC,
    MAP_COLUMNS,
    RXNORM,
    CodeMapError,
    CodeMapping,
    canonical_system,
    canonical_system_sql,
    load_code_maps,
    loinc_check_digit_ok,
    packaged_code_maps,
    unknown_systems,
)
from houseofcare.terminology.codelist import packaged_codelists

RULE_FILES = [
    Path(str(files("houseofcare.population") / "rules" / "registers.toml")),
    Path(str(files("houseofcare.population") / "rules" / "indicators.toml")),
    Path(str(files("houseofcare.risk") / "features.toml")),
    Path(str(files("houseofcare.careplan") / "measures.toml")),
]

URIS = {
    "http://loinc.org": "http://loinc.org",
    "HTTPS://LOINC.ORG|2.74": "http://loinc.org",
    "https://loinc.org/": "http://loinc.org",
    "http://www.nlm.nih.gov/research/umls/rxnorm/version/20240101": (
        "http://www.nlm.nih.gov/research/umls/rxnorm"
    ),
    "http://snomed.info/sct/900000000000207008/version/20230131": "http://snomed.info/sct",
    "https://dmd.nhs.uk": "http://dmd.nhs.uk",
    "http://snomed.info/sct-fake": "http://snomed.info/sct-fake",
}


def test_shipped_maps_load_and_cover_loinc_and_rxnorm() -> None:
    maps = packaged_code_maps()
    assert {m.system for m in maps.values()} == {
        "http://loinc.org",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
    }
    loinc = {m.source_code: m for m in maps["loinc_to_snomed"].mappings}
    assert {"4548-4", "8480-6", "8462-4", "33914-3", "2093-3", "9318-7"} <= loinc.keys()
    # the unit a LOINC code implies when its reading carries none: HbA1c 4548-4 is in % (NGSP)
    assert (loinc["4548-4"].unit, loinc["59261-8"].unit) == ("%", "mmol/mol")
    assert all(m.source for m in maps.values())


def test_every_target_is_in_a_codelist_a_rule_reads() -> None:
    rules_text = "\n".join(path.read_text(encoding="utf-8") for path in RULE_FILES)
    lists = packaged_codelists()
    for code_map in packaged_code_maps().values():
        for m in code_map.mappings:
            assert m.target_code in lists[m.target_codelist], m
            assert f'"{m.target_codelist}"' in rules_text, f"no rule reads {m.target_codelist}"


@pytest.mark.parametrize(("code", "ok"), [("4548-4", True), ("8480-6", True), ("4548-5", False)])
def test_loinc_check_digit(code: str, ok: bool) -> None:
    assert loinc_check_digit_ok(code) is ok


def test_canonical_system_in_sql_matches_python() -> None:
    con = duckdb.connect()
    for uri, expected in URIS.items():
        assert canonical_system(uri) == expected
        sql = canonical_system_sql("u")
        (got,) = con.execute(f"SELECT {sql} FROM (SELECT ? AS u)", [uri]).fetchone()
        assert got == expected, uri


def _maps(tmp_path: Path, rows: str, system: str = LOINC, header: str | None = None) -> Path:
    (tmp_path / "index.toml").write_text(
        f'[[map]]\nname = "m"\nfile = "m.csv"\nsystem = "{system}"\nversion = "1"\n'
        'source = "cited"\n'
    )
    columns = ",".join(MAP_COLUMNS.get(system, MAP_COLUMNS[LOINC]))
    (tmp_path / "m.csv").write_text(f"{columns if header is None else header}\n" + rows)
    return tmp_path


@pytest.mark.parametrize(
    ("rows", "system", "message"),
    [
        ("4548-5,HbA1c,999791000000106,ifcchbam_cod,,\n", "http://loinc.org", "check digit"),
        ("4548-4,HbA1c,271649006,ifcchbam_cod,,\n", "http://loinc.org", "not in ifcchbam_cod"),
        ("4548-4,HbA1c,999791000000106,no_such_cod,,\n", "http://loinc.org", "not a codelist"),
        ("4548-4,HbA1c,0123,ifcchbam_cod,,\n", "http://loinc.org", "not a SNOMED CT"),
        ("4548-4,,999791000000106,ifcchbam_cod,,\n", "http://loinc.org", "source_display"),
        (
            "4548-4,HbA1c,999791000000106,ifcchbam_cod,,\n4548-4,HbA1c,999791000000106,"
            "ifcchbam_cod,,\n",
            "http://loinc.org",
            "repeated",
        ),
        ("435,albuterol,IN,39113611000001102,astdrug_med,mg,\n", RXNORM, "unit is only"),
        ("4548-4,HbA1c,999791000000106,ifcchbam_cod,,\n", "http://example.org", "is not one of"),
        # RxNorm term types: known, given, and fitting the form of the name
        ("435,albuterol,,39113611000001102,astdrug_med,,\n", RXNORM, "tty '' is not one of"),
        ("435,albuterol,BN,39113611000001102,astdrug_med,,\n", RXNORM, "tty 'BN' is not one"),
        (
            "895994,120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler,SBD,"
            "320618008,astdrug_med,,\n",
            RXNORM,
            "tty SBD does not fit the name",
        ),
        (
            "895996,120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler "
            "[Flovent],SCD,320618008,astdrug_med,,\n",
            RXNORM,
            "tty SCD does not fit the name",
        ),
        (
            "617310,atorvastatin 20 MG Oral Tablet,GPCK,320000009,statin_med,,\n",
            RXNORM,
            "tty GPCK does not fit the name",
        ),
        ("83367,atorvastatin [Lipitor],IN,320000009,statin_med,,\n", RXNORM, "tty IN does not"),
    ],
)
def test_malformed_maps_fail_naming_file_and_row(
    tmp_path: Path, rows: str, system: str, message: str
) -> None:
    with pytest.raises(CodeMapError, match=message) as error:
        load_code_maps(_maps(tmp_path, rows, system))
    assert str(tmp_path) in str(error.value)


@pytest.mark.parametrize(
    ("system", "header"),
    [
        # an RxNorm map must say each code's term type; a LOINC map has no such column
        (RXNORM, "source_code,source_display,target_code,target_codelist,unit,note"),
        (LOINC, "source_code,source_display,tty,target_code,target_codelist,unit,note"),
    ],
)
def test_each_system_has_its_own_columns(tmp_path: Path, system: str, header: str) -> None:
    with pytest.raises(CodeMapError, match="row 1: header must be"):
        load_code_maps(_maps(tmp_path, "", system, header))


@pytest.mark.parametrize(
    ("row", "tty"),
    [
        ("617310,atorvastatin 20 MG Oral Tablet,SCD,320000009,statin_med,,", "SCD"),
        ("617320,atorvastatin 40 MG Oral Tablet [Lipitor],SBD,320000009,statin_med,,", "SBD"),
        # packs, as RxNorm writes them (the form of the name is what is checked here)
        ("1,{7 (atorvastatin 20 MG Oral Tablet) } Pack,GPCK,320000009,statin_med,,", "GPCK"),
        ("2,{7 (atorvastatin 20 MG Oral Tablet) } Pack [A],BPCK,320000009,statin_med,,", "BPCK"),
    ],
)
def test_term_types_that_fit_the_name_load(tmp_path: Path, row: str, tty: str) -> None:
    (mapping,) = load_code_maps(_maps(tmp_path, row + "\n", RXNORM))["m"].mappings
    assert mapping.tty == tty


def test_unknown_systems_are_counted_per_canonical_system() -> None:
    counts = {
        "http://snomed.info/sct": 10,
        "HTTPS://loinc.org|2.74": 3,
        "http://hl7.org/fhir/sid/icd-10": 2,
        "http://hl7.org/fhir/sid/icd-10|2019": 1,
        "http://example.org/local": 4,
    }
    assert unknown_systems(counts) == {
        "http://example.org/local": 4,
        "http://hl7.org/fhir/sid/icd-10": 3,
    }


def _rxnorm() -> tuple[CodeMapping, ...]:
    return packaged_code_maps()["rxnorm_to_snomed"].mappings


def test_rxnorm_map_covers_the_products_synthea_emits_for_each_medicine_group() -> None:
    by_code = {m.source_code: m for m in _rxnorm()}
    assert all(m.tty for m in by_code.values())
    synthea = {
        "895994": "astdrug_med",  # fluticasone propionate 44 mcg inhaler (asthma.json)
        "745679": "astdrug_med",  # albuterol inhaler (asthma.json)
        "896209": "astdrug_med",  # fluticasone/salmeterol dry powder inhaler (copd.json)
        "617310": "statin_med",  # atorvastatin 20 MG Oral Tablet
        "855332": "anticoag_med",  # warfarin sodium 5 MG Oral Tablet
        "314076": "acei_arb_med",  # lisinopril 10 MG Oral Tablet
    }
    for code, codelist in synthea.items():
        assert by_code[code].target_codelist == codelist
        assert by_code[code].tty == "SCD"
    assert by_code["895996"].tty == "SBD"  # ... [Flovent]


# The first word of a dm+d name -> the RxNorm (US) name of that ingredient, where they differ
# ("Sodium valproate ...": RxNorm's ingredient is valproic acid).
RXNORM_NAMES = {"salbutamol": "albuterol", "beclometasone": "beclomethasone", "sodium": "valpro"}


def test_each_product_maps_to_a_vmp_of_an_ingredient_it_contains() -> None:
    """A wrong target id would show here: the target's ingredient must be named in the source."""
    lists = packaged_codelists()
    for m in _rxnorm():
        term = lists[m.target_codelist].terms[m.target_code]
        ingredient = term.split()[0].lower()
        assert RXNORM_NAMES.get(ingredient, ingredient) in m.source_display.lower(), (m, term)


def test_only_inhaled_products_map_to_an_inhaler() -> None:
    """QOF counts inhaled corticosteroids, not oral or nasal ones: a product row may point at an
    inhaler VMP only if the product itself is inhaled (an inhaler or a nebuliser solution)."""
    lists = packaged_codelists()
    for m in _rxnorm():
        term = lists[m.target_codelist].terms[m.target_code].lower()
        if "inhaler" in term and m.tty != "IN":
            assert "inhal" in m.source_display.lower(), m
        if m.tty != "IN":
            assert "nasal" not in m.source_display.lower(), m


def test_known_gaps_stay_unmapped() -> None:
    """Codes Synthea emits that have no honest target in the packaged codelists
    (docs/indicators.md "Code-system mapping"). Mapping one needs its cluster extended first."""
    gaps = {
        "308971": "Carbamazepine[Tegretol] (epilepsy.json): not an RxNorm name, meaning unchecked",
        "1656354": "sacubitril 97 MG / valsartan 103 MG Oral Tablet: ARNI, not in acei_arb_med",
        "745791": "levalbuterol inhaler: no levosalbutamol VMP",
        "476349": "ezetimibe 10 MG / simvastatin 20 MG Oral Tablet: no simvastatin VMP",
        "898687": "benazepril hydrochloride 10 MG Oral Tablet: no benazepril VMP",
        "1244214": "budesonide 3 MG Delayed Release Oral Capsule: oral, not an asthma treatment",
        "562655": "beclomethasone 0.05 MG/ACTUAT Nasal Spray: nasal, not an asthma treatment",
    }
    mapped = {m.source_code for m in _rxnorm()}
    assert not mapped & gaps.keys()
