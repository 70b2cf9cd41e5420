"""FHIR mappings: the path language, the shipped mappings, and bad mappings located at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

import recnav_rules
from recnav_rules.fhir import load_mapping, mapping_path
from recnav_rules.fhir.mapping import compile_mapping
from recnav_rules.fhir.paths import PathSyntaxError, parse_path

# --- paths ------------------------------------------------------------------------------------------


def test_a_filter_value_may_hold_dots_and_lists_are_walked() -> None:
    path = parse_path("identifier[system=https://fhir.nhs.uk/Id/nhs-number].value")
    patient = {
        "identifier": [
            {"system": "https://fhir.nhs.uk/Id/other", "value": "A"},
            {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "B"},
            {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "C"},
        ]
    }
    assert list(path.values(patient)) == ["B", "C"]
    assert list(parse_path("item.answer.valueBoolean").values({"item": [{"answer": [{"valueBoolean": False}]}, {}]})) == [False]
    assert list(path.values({"identifier": "not a list of mappings"})) == []


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("", "expected an element name", 1),
        ("code.", "expected an element name", 6),
        ("code..x", "expected an element name", 6),
        ("code[=x]", "expected a child element name after '['", 6),
        ("code[system]", "expected '=' in the filter", 12),
        ("code[system=x", "the filter has no closing ']'", 5),
        ("code[system=]", "the filter has no value", 13),
        ("code[a=b]x", "unexpected 'x'", 10),
        ("1code", "expected an element name", 1),
    ],
)
def test_bad_paths_say_where(text: str, message: str, column: int) -> None:
    with pytest.raises(PathSyntaxError) as caught:
        parse_path(text)
    assert (str(caught.value), caught.value.column) == (message, column)


# --- the shipped mappings -------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy_id", ["bnssg-hiu-pilot", "somerset-waiting-list"])
def test_shipped_mappings_load_and_map_only_the_policys_facts(policy_id: str) -> None:
    policy = recnav_rules.load_policy(policy_id)
    mapping = load_mapping(policy)
    assert mapping_path(policy).name == f"{policy_id}.fhir.yaml"
    assert mapping.policy_id == policy_id
    assert {f.fact for f in mapping.facts} <= set(policy.facts)
    assert mapping.fhir_version == "4.0.1"


def test_the_hiu_mapping_never_reads_contact_details_or_names(hiu: recnav_rules.Policy) -> None:
    mapped = {f.fact for f in load_mapping(hiu).facts}
    assert mapped.isdisjoint({"name", "gender", "contact_details"})


# --- bad mappings -----------------------------------------------------------------------------------------------

GOOD_HEAD = """fhir_mapping: 1
policy: bnssg-hiu-pilot
fhir_version: "4.0.1"
facts:
"""


def problems(hiu: recnav_rules.Policy, facts: str, head: str = GOOD_HEAD) -> list[str]:
    with pytest.raises(recnav_rules.PolicyError) as caught:
        compile_mapping(head + facts, "m.fhir.yaml", hiu)
    return [p.render() for p in caught.value.problems]


def test_unknown_fact_resource_and_element(hiu: recnav_rules.Policy) -> None:
    facts = """  date_of_brith:
    resource: Patient
    value: birthDate
  gp_practice_code:
    resource: Patien
    value: generalPractitioner
  date_of_birth:
    resource: Patient
    value: birthdate
  referral_date:
    resource: Reference
    value: reference
"""
    assert problems(hiu, facts) == [
        "m.fhir.yaml:5:3: error: policy 'bnssg-hiu-pilot' has no fact 'date_of_brith' (did you mean 'date_of_birth'?)",
        "m.fhir.yaml:9:15: error: 'Patien' is not a FHIR R4 resource type",
        "m.fhir.yaml:13:12: error: Patient has no element 'birthdate' (did you mean 'birthDate'?)",
        "m.fhir.yaml:15:15: error: 'Reference' is not a FHIR R4 resource type",
    ]


def test_schema_errors_are_located(hiu: recnav_rules.Policy) -> None:
    facts = """  date_of_birth:
    resource: Patient
    vaule: birthDate
"""
    head = GOOD_HEAD.replace('"4.0.1"', '"5.0.0"')
    assert problems(hiu, facts, head) == [
        "m.fhir.yaml:3:15: error: '5.0.0' is not one of: 4.0.1",
        "m.fhir.yaml:7:5: error: unknown key 'vaule' in 'date_of_birth' (did you mean 'value'?)",
    ]


def test_bad_paths_maps_and_kinds(hiu: recnav_rules.Policy) -> None:
    facts = """  mhsd_triage_outcome:
    resource: QuestionnaireResponse
    value: item[linkId=outcome.answer.valueCoding.code
  in_custody:
    resource: QuestionnaireResponse
    value: item.answer.valueBoolean
    true_if: {path: status, in: [completed]}
  referral_date:
    resource: ServiceRequest
    true_if: {path: status, in: [active]}
  risk_of_violence:
    resource: QuestionnaireResponse
    value: item.answer.valueCoding.code
    map: {violent: yes_violent}
  substance_misuse:
    resource: Condition
    where:
      - {path: coed, in: ["66214007"]}
    true_if: {path: verificationStatus, in: [confirmed]}
"""
    assert problems(hiu, facts) == [
        "m.fhir.yaml:7:12: error: bad path: the filter has no closing ']' (character 5)",
        "m.fhir.yaml:8:3: error: fact 'in_custody': give either 'value' or 'true_if'/'false_if'",
        "m.fhir.yaml:12:3: error: fact 'referral_date' is date, so it needs 'value', not 'true_if'/'false_if'",
        "m.fhir.yaml:22:16: error: Condition has no element 'coed' (did you mean 'code'?)",
    ]


def test_a_map_value_must_be_one_the_fact_allows(hiu: recnav_rules.Policy) -> None:
    facts = """  mhsd_triage_outcome:
    resource: QuestionnaireResponse
    value: item.answer.valueCoding.code
    map: {self-care: selfcare, other: other}
"""
    assert problems(hiu, facts) == [
        "m.fhir.yaml:8:22: error: 'selfcare' is not a value of fact 'mhsd_triage_outcome' "
        "(self_care, signposting, specialist_referral, other) (did you mean 'self_care'?)"
    ]


def test_a_mapping_for_another_policy(hiu: recnav_rules.Policy) -> None:
    head = GOOD_HEAD.replace("policy: bnssg-hiu-pilot", "policy: somerset-waiting-list")
    facts = "  date_of_birth: {resource: Patient, value: birthDate}\n"
    assert problems(hiu, facts, head) == ["m.fhir.yaml:2:9: error: this mapping is for 'somerset-waiting-list', not 'bnssg-hiu-pilot'"]


def test_yaml_syntax_errors_are_located(hiu: recnav_rules.Policy) -> None:
    assert problems(hiu, "  date_of_birth: {resource: Patient, value: [}\n") == [
        "m.fhir.yaml:5:46: error: expected the node content, but found '}'"
    ]


def test_a_policy_without_a_mapping(tmp_path: Path) -> None:
    source = Path(recnav_rules.load_policy("somerset-waiting-list").file).read_text(encoding="utf-8")
    (tmp_path / "somerset.yaml").write_text(source, encoding="utf-8")
    policy = recnav_rules.load_policy(f"{tmp_path / 'somerset.yaml'}#somerset-integrated-model")
    with pytest.raises(recnav_rules.PolicyError) as caught:
        load_mapping(policy)
    assert caught.value.code == "no-fhir-mapping"
    assert str(caught.value) == (
        f"{tmp_path}/fhir/somerset-integrated-model.fhir.yaml: error: "
        "cannot read the FHIR mapping for policy 'somerset-integrated-model': no such file"
    )


def test_a_sidecar_beside_a_policy_file_is_found(tmp_path: Path) -> None:
    policy = recnav_rules.load_policy("somerset-waiting-list")
    (tmp_path / "somerset.yaml").write_text(Path(policy.file).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "fhir").mkdir()
    (tmp_path / "fhir" / "somerset-waiting-list.fhir.yaml").write_text(
        GOOD_HEAD.replace("bnssg-hiu-pilot", "somerset-waiting-list") + "  referral_date: {resource: ServiceRequest, value: authoredOn}\n",
        encoding="utf-8",
    )
    copy = recnav_rules.load_policy(f"{tmp_path / 'somerset.yaml'}#somerset-waiting-list")
    assert [f.fact for f in load_mapping(copy).facts] == ["referral_date"]
