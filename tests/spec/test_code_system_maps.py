"""Code-system maps at the event layer: a record coded in LOINC and RxNorm counts as the same
record coded in SNOMED CT and dm+d (registers and care gaps alike), matched by canonical URI.

Maps: src/houseofcare/terminology/maps/ (docs/indicators.md "Code-system mapping", H-042).
"""

from __future__ import annotations

from houseofcare.engine import Engine
from tests.spec.conftest import Record
from tests.spec.test_indicators import HBA1C, HYPERTENSION, gaps_by_indicator
from tests.spec.test_registers import on_register

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
DIABETES = "44054006"
ASTHMA = "195967001"  # Asthma (ast_cod)
EPILEPSY = "84757009"
CHD = "53741008"
SALBUTAMOL = "39113611000001102"
ATORVASTATIN_VMP = "320000009"
FLUTICASONE_50_INHALER = "320618008"  # Fluticasone 50micrograms/dose inhaler CFC free
WARFARIN_VMP = "319733000"
LISINOPRIL_10_VMP = "318859000"
CHILDHOOD_ASTHMA = "233678006"  # as Synthea's asthma.json codes it (in ast_cod)
AF = "49436004"
HEART_FAILURE = "84114007"
HFREF = "703272007"

# RxNorm products exactly as Synthea emits them (synthetichealth/synthea modules; the map's
# note names the module and commit of each)
FLUTICASONE_44_MDI = "895994"  # 120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT MDI (SCD)
FLOVENT_44_MDI = "895996"  # ... [Flovent] (SBD)
ALBUTEROL_MDI = "745679"  # 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler (SCD)
BUDESONIDE_NEBULES = "351109"  # budesonide 0.25 MG/ML Inhalation Suspension (SCD)
ATORVASTATIN_20 = "617310"  # atorvastatin 20 MG Oral Tablet (SCD)
LIPITOR_40 = "617320"  # atorvastatin 40 MG Oral Tablet [Lipitor] (SBD)
WARFARIN_5 = "855332"  # warfarin sodium 5 MG Oral Tablet (SCD)
LISINOPRIL_HCTZ = "197885"  # hydrochlorothiazide 12.5 MG / lisinopril 10 MG Oral Tablet (SCD)
SACUBITRIL_VALSARTAN = "1656354"  # sacubitril 97 MG / valsartan 103 MG Oral Tablet (SCD)
# RxNorm products of an inhaled-corticosteroid ingredient by another route: never mapped
BUDESONIDE_ORAL = "1244214"  # budesonide 3 MG Delayed Release Oral Capsule
BECLOMETHASONE_NASAL = "562655"  # beclomethasone 0.05 MG/ACTUAT Nasal Spray


def test_loinc_readings_meet_and_fail_care_gaps_as_the_snomed_readings_do(
    engine: Engine, record: Record
) -> None:
    for patient in (
        "sct-48",
        "loinc-48",
        "loinc-70",
        "loinc-percent",
        "loinc-percent-high",
        "loinc-bp",
        "loinc-chol",
    ):
        record.patient(patient)
        record.condition(patient, DIABETES, "2015-01-01")
        record.condition(patient, HYPERTENSION, "2015-01-01")
    record.observation("sct-48", HBA1C, "2025-10-01", 48, value_unit="mmol/mol")
    # versioned, https, upper-case system URIs are still LOINC
    record.observation(
        "loinc-48",
        "4548-4",
        "2025-10-01",
        48,
        code_system="HTTPS://LOINC.org|2.74",
        value_unit="mmol/mol",
    )
    record.observation(
        "loinc-70", "4548-4", "2025-10-01", 70, code_system=LOINC, value_unit="mmol/mol"
    )
    # a DCCT percentage is converted to IFCC mmol/mol before it meets the threshold of 58:
    # 6.5 % is 47.5 mmol/mol (met), 9.5 % is 80.3 mmol/mol (not met, though 9.5 < 58)
    record.observation(
        "loinc-percent", "4548-4", "2025-10-01", 6.5, code_system=LOINC, value_unit="%"
    )
    record.observation(
        "loinc-percent-high", "4548-4", "2025-10-01", 9.5, code_system=LOINC, value_unit="%"
    )
    # BP panel components, as ingest stores them (one row per component)
    record.observation(
        "loinc-bp",
        "8480-6",
        "2025-11-01",
        132,
        code_system=LOINC,
        value_unit="mm[Hg]",
        observation_id="bp-sys",
    )
    record.observation(
        "loinc-bp",
        "8462-4",
        "2025-11-01",
        84,
        code_system=LOINC,
        value_unit="mm[Hg]",
        observation_id="bp-dia",
    )
    record.observation(
        "loinc-bp", "33914-3", "2025-11-01", 75, code_system=LOINC, value_unit="mL/min/{1.73_m2}"
    )
    record.observation(
        "loinc-chol", "2093-3", "2025-11-01", 180, code_system=LOINC, value_unit="mg/dL"
    )
    record.observation(
        "sct-48", "14647-2", "2025-11-01", 4.2, code_system=LOINC, value_unit="mmol/L"
    )
    result = gaps_by_indicator(engine, "DM_HBA1C_58", "HYP_BP_U80", "DM_EGFR", "DM_CHOL_5")
    hba1c = result["DM_HBA1C_58"]
    assert hba1c["sct-48"][:4] == ("met", HBA1C, hba1c["sct-48"][2], "48.0")
    # the same outcome and evidence as the SNOMED-coded reading, value kept as recorded
    assert hba1c["loinc-48"][:4] == hba1c["sct-48"][:4]
    assert hba1c["loinc-70"][0] == "not met" and hba1c["loinc-70"][1] == HBA1C
    assert hba1c["loinc-percent"][0] == "met" and hba1c["loinc-percent"][3] == "47.54"
    assert hba1c["loinc-percent-high"][0] == "not met"
    assert hba1c["loinc-percent-high"][3] == "80.33"
    bp = result["HYP_BP_U80"]
    assert bp["loinc-bp"][0] == "met"
    assert result["DM_EGFR"]["loinc-bp"][0] == "met"
    assert result["DM_EGFR"]["loinc-48"][0] == "not met"
    chol = result["DM_CHOL_5"]
    assert chol["sct-48"][:2] == ("met", "1005671000000105")
    # 180 mg/dL is 4.65 mmol/L: met against 5 mmol/L
    assert chol["loinc-chol"][:2] == ("met", "1005671000000105")
    assert chol["loinc-chol"][3] == "4.65"


def test_rxnorm_medicines_put_people_on_registers_and_meet_medicine_care_gaps(
    engine: Engine, record: Record
) -> None:
    asthma = {
        "sct-salbutamol": (SALBUTAMOL, "http://snomed.info/sct"),
        "rx-fluticasone": ("41126", RXNORM),
        "rx-albuterol-https": ("435", "https://www.nlm.nih.gov/research/umls/rxnorm/"),
        "rx-unmapped": ("1049221", RXNORM),
        "unknown-system": ("41126", "http://example.org/drugs"),
    }
    for patient, (code, system) in asthma.items():
        record.patient(patient, birth_date="2000-01-01")
        record.condition(patient, ASTHMA, "2015-06-01")
        record.medication(patient, code, "2026-01-15", code_system=system)
    record.patient("rx-lamotrigine", birth_date="1980-01-01")
    record.condition("rx-lamotrigine", EPILEPSY, "2015-06-01")
    record.medication("rx-lamotrigine", "28439", "2026-02-01", code_system=RXNORM)
    for patient, code in (("rx-atorvastatin", "83367"), ("rx-simvastatin", "36567")):
        record.patient(patient)
        record.condition(patient, CHD, "2015-01-01")
        record.medication(patient, code, "2026-02-01", code_system=RXNORM)
    assert set(on_register(engine, "AST")) == {
        "sct-salbutamol",
        "rx-fluticasone",
        "rx-albuterol-https",
    }
    assert set(on_register(engine, "EP")) == {"rx-lamotrigine"}
    statin = gaps_by_indicator(engine, "CHD_STATIN")["CHD_STATIN"]
    assert statin["rx-atorvastatin"][:2] == ("met", ATORVASTATIN_VMP)
    # simvastatin is a documented gap: statin_med holds no simvastatin VMP to map it to
    assert statin["rx-simvastatin"][0] == "not met"


def test_snomed_edition_and_https_uris_are_snomed(engine: Engine, record: Record) -> None:
    for patient, system in {
        "edition": "http://snomed.info/sct/999000011000000103/version/20250401",
        "https": "https://SNOMED.info/sct",
        "pipe-version": "http://snomed.info/sct|http://snomed.info/sct/83821000000107",
        "not-snomed": "http://snomed.info/sct-fake",
    }.items():
        record.patient(patient)
        record.condition(patient, HYPERTENSION, "2015-01-01", code_system=system)
    assert set(on_register(engine, "HYP")) == {"edition", "https", "pipe-version"}


def test_synthea_inhaler_products_put_people_on_the_asthma_register_oral_and_nasal_do_not(
    engine: Engine, record: Record
) -> None:
    asthma = {
        "ics-scd": FLUTICASONE_44_MDI,
        "ics-sbd": FLOVENT_44_MDI,
        "saba-scd": ALBUTEROL_MDI,
        "ics-nebules": BUDESONIDE_NEBULES,
        "ics-oral": BUDESONIDE_ORAL,
        "ics-nasal": BECLOMETHASONE_NASAL,
    }
    for patient, code in asthma.items():
        record.patient(patient, birth_date="2000-01-01")
        record.condition(patient, CHILDHOOD_ASTHMA, "2005-06-01")
        record.medication(patient, code, "2026-01-15", code_system=RXNORM)
    # the inhaler alone is no diagnosis: treated but never diagnosed stays off the register
    record.patient("no-diagnosis", birth_date="2000-01-01")
    record.medication("no-diagnosis", FLUTICASONE_44_MDI, "2026-01-15", code_system=RXNORM)
    assert set(on_register(engine, "AST")) == {"ics-scd", "ics-sbd", "saba-scd", "ics-nebules"}


def test_synthea_products_meet_the_statin_anticoagulant_and_acei_indicators(
    engine: Engine, record: Record
) -> None:
    for patient, code in (("atorvastatin-scd", ATORVASTATIN_20), ("lipitor-sbd", LIPITOR_40)):
        record.patient(patient)
        record.condition(patient, CHD, "2015-01-01")
        record.medication(patient, code, "2026-02-01", code_system=RXNORM)
    # CHA2DS2-VASc 2 from age 75
    record.patient("af-warfarin", gender="male", birth_date="1951-03-31")
    record.condition("af-warfarin", AF, "2015-01-01")
    record.medication("af-warfarin", WARFARIN_5, "2026-02-01", code_system=RXNORM)
    for patient, code in (("hf-combination", LISINOPRIL_HCTZ), ("hf-arni", SACUBITRIL_VALSARTAN)):
        record.patient(patient)
        record.condition(patient, HEART_FAILURE, "2018-01-01")
        record.condition(patient, HFREF, "2019-01-01")
        record.medication(patient, code, "2026-01-05", code_system=RXNORM)
    result = gaps_by_indicator(engine, "CHD_STATIN", "AF_ANTICOAG", "HF_ACEI_ARB")
    statin = result["CHD_STATIN"]
    # the evidence is the representative VMP (atorvastatin 20 mg), not the strength prescribed
    assert statin["atorvastatin-scd"][:2] == ("met", ATORVASTATIN_VMP)
    assert statin["lipitor-sbd"][:2] == ("met", ATORVASTATIN_VMP)
    assert result["AF_ANTICOAG"]["af-warfarin"][:2] == ("met", WARFARIN_VMP)
    acei = result["HF_ACEI_ARB"]
    # a combination product counts for its ACE inhibitor
    assert acei["hf-combination"][:2] == ("met", LISINOPRIL_10_VMP)
    # sacubitril/valsartan is a documented gap: acei_arb_med holds no ARNI
    assert acei["hf-arni"][0] == "not met"
