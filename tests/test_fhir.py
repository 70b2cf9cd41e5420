"""FHIR R4 referral bundles in, GuidanceResponses out: the HIU pilot and the waiting-list policy."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recnav_rules
from recnav_rules import fhir
from recnav_rules.fhir.answer import MODULE_URI_PREFIX
from tests.conftest import AS_OF

DATA = Path(__file__).parent / "data" / "fhir"
NHS_NUMBER = "9000000009"  # a test number with a valid check digit, in the example bundles


def bundle(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def resource(data: dict[str, Any], resource_type: str, index: int = 0) -> dict[str, Any]:
    found = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == resource_type]
    return found[index]


@pytest.fixture(scope="module")
def waiting_list() -> recnav_rules.Policy:
    return recnav_rules.load_policy("somerset-waiting-list")


def bad_fields(policy: recnav_rules.Policy, data: object) -> tuple[str, ...]:
    with pytest.raises(recnav_rules.FactValidationError) as caught:
        fhir.evaluate_bundle(policy, data if isinstance(data, str | bytes) else json.dumps(data), as_of=AS_OF)
    assert NHS_NUMBER not in str(caught.value)
    return caught.value.fields


# --- facts from bundles ---------------------------------------------------------------------------------


def test_hiu_bundle_maps_every_fact_it_holds(hiu: recnav_rules.Policy) -> None:
    assert fhir.bundle_facts(hiu, bundle("hiu-referral-accept")) == {
        "nhs_number": NHS_NUMBER,
        "date_of_birth": "1988-02-29",
        "gp_practice_code": "L81004",
        "referral_date": "2026-11-20",
        "primary_mental_health_need": True,
        "mhsd_triage_completed": True,
        "mhsd_triage_outcome": "signposting",
        "open_to_secondary_mental_health_services": False,
        "receiving_mints_support": False,
        "risk_of_violence": False,
        "in_custody": False,
        "known_mental_health_disorder": True,
        "diagnosed_learning_disability": False,
        "substance_misuse": False,
        "primary_dementia_diagnosis": False,
        "consent_to_referral": True,
        "cad_hiu_flag": False,
        "qualifying_calls_1_month": 5,
        "qualifying_calls_3_months": 7,
    }


def test_hiu_bundle_decides_as_the_facts_do(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    result = fhir.evaluate_bundle(hiu, data, as_of=AS_OF)
    direct = hiu.evaluate(fhir.bundle_facts(hiu, data), as_of=AS_OF)
    assert result.decision.to_dict() == direct.to_dict()
    assert result.decision.outcome is recnav_rules.Outcome.ACCEPT
    assert list(result.decision.personal_facts_withheld) == ["nhs_number"]


def test_waiting_list_bundle(waiting_list: recnav_rules.Policy) -> None:
    result = fhir.evaluate_bundle(waiting_list, bundle("ctt-waiting-list-referral"), as_of=AS_OF)
    decision = result.decision
    assert (decision.outcome, decision.complete) == (recnav_rules.Outcome.ACCEPT, True)
    first_contact = next(step for step in decision.next_steps if step.action == "first_contact")
    assert (str(first_contact.actual), first_contact.status) == ("2026-11-23", "met")
    assert result.guidance_response["status"] == "success"


def test_a_fact_the_bundle_does_not_mention_is_unknown_not_false(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    data["entry"] = [e for e in data["entry"] if e["resource"]["resourceType"] != "Consent"]
    facts = fhir.bundle_facts(hiu, data)
    assert "consent_to_referral" not in facts
    decision = hiu.evaluate(facts, as_of=AS_OF)
    assert not decision.complete
    assert "consent_to_referral" in decision.missing_facts


def test_refused_consent_is_false_and_confirmed_beats_refuted(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    resource(data, "Consent")["provision"]["type"] = "deny"
    second = copy.deepcopy(next(e for e in data["entry"] if e["resource"]["resourceType"] == "Condition"))
    second["fullUrl"] = "urn:uuid:11111111-2222-4333-8444-555555555555"
    second["resource"]["verificationStatus"]["coding"][0]["code"] = "refuted"
    data["entry"].append(second)
    facts = fhir.bundle_facts(hiu, data)
    assert facts["consent_to_referral"] is False
    assert facts["known_mental_health_disorder"] is True


def test_an_inactive_consent_is_not_read(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    resource(data, "Consent")["status"] = "inactive"
    assert "consent_to_referral" not in fhir.bundle_facts(hiu, data)


# --- the answer ----------------------------------------------------------------------------------------------


def parameters(response: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    contained = response["contained"][0]
    assert response["outputParameters"] == {"reference": f"#{contained['id']}"}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for parameter in contained["parameter"]:
        grouped.setdefault(parameter["name"], []).append(parameter)
    return grouped


def test_guidance_response_carries_outcome_reasons_and_links(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    result = fhir.evaluate_bundle(hiu, data, as_of=AS_OF)
    response = result.guidance_response
    assert response["resourceType"] == "GuidanceResponse"
    assert response["status"] == "success"
    assert response["moduleUri"] == f"{MODULE_URI_PREFIX}bnssg-hiu-pilot:{hiu.version}"
    assert response["occurrenceDateTime"] == "2026-11-20"
    assert response["subject"] == {"reference": data["entry"][0]["fullUrl"]}
    assert response["requestIdentifier"] == resource(data, "ServiceRequest")["identifier"][0]
    found = parameters(response)
    assert found["outcome"] == [{"name": "outcome", "valueCode": "accept"}]
    assert found["complete"] == [{"name": "complete", "valueBoolean": True}]
    reason = {part["name"]: next(v for k, v in part.items() if k.startswith("value")) for part in found["reason"][0]["part"]}
    assert reason["rule_id"] == "accept"
    assert reason["quote"] == result.decision.reasons[0].quote
    assert {p["valueString"] for p in found["policy_digest"]} == {hiu.digest}
    assert response["note"][0]["text"].startswith("accept: ")
    assert "dataRequirement" not in response


def test_incomplete_bundle_asks_for_data_by_resource_type(hiu: recnav_rules.Policy) -> None:
    result = fhir.evaluate_bundle(hiu, bundle("hiu-referral-partial"), as_of=AS_OF)
    response = result.guidance_response
    assert response["status"] == "data-required"
    assert {p["valueString"] for p in parameters(response)["missing_fact"]} == set(result.decision.missing_facts)
    mapping = fhir.load_mapping(hiu)
    wanted = [mapping.fact(name) for name in result.decision.missing_facts]
    assert response["dataRequirement"] == [{"type": f.resource, "mustSupport": [f.path_text]} for f in wanted if f is not None]
    assert {r["type"] for r in response["dataRequirement"]} >= {"Consent", "Condition"}


def test_no_personal_data_in_decision_or_response(hiu: recnav_rules.Policy) -> None:
    original = bundle("hiu-referral-accept")
    url = f"https://example.nhs.uk/fhir/Patient/{NHS_NUMBER}"  # some systems key patients by NHS number
    data = json.loads(json.dumps(original).replace(original["entry"][0]["fullUrl"], url))
    data["entry"][0]["resource"]["id"] = NHS_NUMBER
    result = fhir.evaluate_bundle(hiu, data, as_of=AS_OF)
    text = json.dumps(result.guidance_response) + result.decision.to_json() + result.decision.explain()
    for personal in (NHS_NUMBER, "TESTPATIENT", "01632 960000"):
        assert personal not in text
    assert "subject" not in result.guidance_response


# --- bad bundles ----------------------------------------------------------------------------------------------


def test_an_invalid_element_names_the_entry_resource_and_path(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    data["entry"][0]["resource"]["birthDate"] = "1988-13-01"
    del resource(data, "Consent")["scope"]
    with pytest.raises(recnav_rules.FactValidationError) as caught:
        fhir.read_bundle(data)
    assert caught.value.fields == ("entry[0].resource(Patient).birthDate", "entry[7].resource(Consent).scope")
    assert "1988-13-01" not in str(caught.value)
    assert [p.message for p in caught.value.problems][1] == "Field required"


def test_a_wrong_type_in_the_nhs_number_never_echoes_it(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    data["entry"][0]["resource"]["identifier"][0]["value"] = int(NHS_NUMBER)
    fields = bad_fields(hiu, data)
    assert fields == ("entry[0].resource(Patient).identifier[0].value",)


def test_an_nhs_number_failing_its_check_digit(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    data["entry"][0]["resource"]["identifier"][0]["value"] = "9000000008"
    with pytest.raises(recnav_rules.FactValidationError) as caught:
        fhir.evaluate_bundle(hiu, data, as_of=AS_OF)
    assert caught.value.fields == ("nhs_number",)
    assert "9000000008" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("{not json", "bundle", "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ("[]", "bundle", "must be a JSON object (a FHIR resource)"),
        ('{"resourceType": "Patient"}', "bundle.resourceType", "must be 'Bundle'"),
    ],
)
def test_not_a_bundle(hiu: recnav_rules.Policy, text: str, field: str, message: str) -> None:
    with pytest.raises(recnav_rules.FactValidationError) as caught:
        fhir.read_bundle(text)
    assert [(p.field, p.message) for p in caught.value.problems] == [(field, message)]


def test_two_patients_are_refused(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    other = copy.deepcopy(data["entry"][0])
    other["fullUrl"] = "urn:uuid:99999999-2222-4333-8444-555555555555"
    data["entry"].append(other)
    assert bad_fields(hiu, data) == ("entry[0].resource(Patient)", "entry[11].resource(Patient)")


def test_a_resource_about_someone_else_is_refused(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    resource(data, "Condition")["subject"] = {"reference": "Patient/someone-else"}
    assert bad_fields(hiu, data) == ("entry[3].resource(Condition).subject.reference",)


def test_conflicting_values_are_an_error_not_a_guess(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    second = copy.deepcopy(data["entry"][1])
    second["fullUrl"] = "urn:uuid:77777777-2222-4333-8444-555555555555"
    second["resource"]["authoredOn"] = "2026-11-19T09:00:00+00:00"
    data["entry"].append(second)
    with pytest.raises(recnav_rules.FactValidationError) as caught:
        fhir.evaluate_bundle(hiu, data, as_of=AS_OF)
    assert [p.render() for p in caught.value.problems] == [
        "ServiceRequest.authoredOn: the bundle gives 2 different values for fact 'referral_date'"
    ]


def test_an_unknown_code_and_a_partial_date(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    triage = resource(data, "QuestionnaireResponse")
    triage["item"][2]["answer"][0]["valueCoding"]["code"] = "admit"
    resource(data, "ServiceRequest")["authoredOn"] = "2026-11"
    with pytest.raises(recnav_rules.FactValidationError) as caught:
        fhir.bundle_facts(hiu, data)
    assert [p.render() for p in caught.value.problems] == [
        "entry[1].resource(ServiceRequest).authoredOn: fact 'referral_date' needs a full date (YYYY-MM-DD)",
        "entry[2].resource(QuestionnaireResponse).item[linkId=triage-outcome].answer.valueCoding.code: "
        "a code the mapping for 'mhsd_triage_outcome' does not know (known: self-care, signposting, specialist-referral, other)",
    ]


@settings(max_examples=60, deadline=None)
@given(number=st.from_regex(r"\A[0-9]{10}\Z"), born=st.dates(), gp=st.text(min_size=1, max_size=12))
def test_personal_values_never_leak_whatever_the_bundle_holds(number: str, born: Any, gp: str) -> None:
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    data = bundle("hiu-referral-accept")
    patient = data["entry"][0]["resource"]
    patient["identifier"][0]["value"] = number
    patient["birthDate"] = born.isoformat()
    patient["generalPractitioner"][0]["identifier"]["value"] = gp
    try:
        result = fhir.evaluate_bundle(policy, data, as_of=AS_OF)
    except recnav_rules.FactValidationError as exc:
        assert number not in str(exc)
        return
    assert number not in json.dumps(result.guidance_response) + result.decision.to_json()


@pytest.mark.parametrize("name", ["hiu-referral-accept", "hiu-referral-partial", "ctt-waiting-list-referral"])
def test_example_bundles_declare_the_uk_core_profiles_docs_fhir_md_names(name: str) -> None:
    for entry in bundle(name)["entry"]:
        kind = entry["resource"]["resourceType"]
        profiles = entry["resource"].get("meta", {}).get("profile", [])
        if kind == "Consent":
            assert profiles == []  # base R4 Consent: UK Core STU2 has no Consent profile
        else:
            assert profiles == [f"https://fhir.hl7.org.uk/StructureDefinition/UKCore-{kind}"]


def test_a_signposted_child_and_a_logged_decision_id(hiu: recnav_rules.Policy) -> None:
    data = bundle("hiu-referral-accept")
    data["entry"][0]["resource"]["birthDate"] = "2010-05-01"
    decision = fhir.evaluate_bundle(hiu, data, as_of=AS_OF).decision.with_decision_id("0b6c2d9e-8f71-4a3b-9c55-2e1f0a7d4b10")
    response = fhir.guidance_response(decision)
    assert response["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:0b6c2d9e-8f71-4a3b-9c55-2e1f0a7d4b10"}]
    assert decision.outcome is recnav_rules.Outcome.SIGNPOST
    signposts = [{p["name"]: p["valueString"] for p in s["part"]} for s in parameters(response)["signpost"]]
    assert signposts == [{"service_id": s.service_id, "name": s.name} for s in decision.signposts]
    assert signposts
    assert "subject" not in response and "requestIdentifier" not in response
