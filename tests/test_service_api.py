"""The decision service over real HTTP: a uvicorn server on 127.0.0.1, talked to with httpx."""

from __future__ import annotations

import copy
import json
import logging
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import recnav_rules
from recnav_rules import FactProblem
from recnav_rules.service.config import ServiceConfig
from recnav_rules.service.running import running_service

EXAMPLE = json.loads((Path(__file__).parent.parent / "examples" / "hiu-referral.json").read_text())
AS_OF = "2026-11-20"
HIU = "bnssg-hiu-pilot"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_service(ServiceConfig(port=0)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as session:
        yield session


def library_decision(facts: dict[str, Any], policy: str = HIU, as_of: str = AS_OF) -> dict[str, Any]:
    decision: dict[str, Any] = recnav_rules.load_policy(policy).evaluate(facts, as_of=as_of).to_dict()
    return decision


def test_health_reports_policies(client: httpx.Client) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "policies": len(recnav_rules.list_policies()), "log": False}


def test_policy_list_matches_the_library(client: httpx.Client) -> None:
    reply = client.get("/v1/policies")
    assert reply.status_code == 200
    listed = reply.json()["policies"]
    assert [(p["id"], p["version"], p["title"]) for p in listed] == [
        (i.id, i.version, i.title) for i in recnav_rules.list_policies()
    ]
    assert listed[0]["href"] == f"/v1/policies/{listed[0]['id']}"


def test_policy_document_has_typed_facts_rules_in_order_citations_and_parameters(client: httpx.Client) -> None:
    policy = recnav_rules.load_policy(HIU)
    body = client.get(f"/v1/policies/{HIU}").json()
    assert [r["id"] for r in body["rules"]] == list(policy.rule_ids)
    assert [r["number"] for r in body["rules"]] == list(range(1, len(policy.rule_ids) + 1))
    facts = {f["name"]: f for f in body["facts"]}
    assert set(facts) == set(policy.facts)
    assert facts["mhsd_triage_outcome"]["type"] == "enum"
    assert facts["mhsd_triage_outcome"]["values"] == list(policy.facts["mhsd_triage_outcome"].values)
    assert facts["nhs_number"]["personal"] is True
    assert [f["name"] for f in facts["emergency_calls"]["fields"]] == ["at", "category", "location"]
    for rule in body["rules"]:
        cited = rule["citation"]
        assert (cited["quote"] and cited["source"]) or cited["assumption"], rule["id"]
    names = {p["name"]: p for p in body["parameters"]}
    assert names["adult_age"]["value"] == "18"
    assert body["ready"] is True
    assert body["sources"] and {"key", "file", "title"} <= set(body["sources"][0])
    assert body["sources"][0]["file"] in {r["citation"]["source"] for r in body["rules"]}


def test_decision_is_exactly_the_library_decision(client: httpx.Client) -> None:
    reply = client.post(f"/v1/policies/{HIU}/decisions", json={"facts": EXAMPLE, "as_of": AS_OF})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == library_decision(EXAMPLE)
    assert reply.json()["outcome"] == "accept"


def test_as_of_changes_the_decision_like_the_library(client: httpx.Client) -> None:
    later = "2027-01-20"
    facts = {k: v for k, v in EXAMPLE.items() if k != "referral_date"}
    reply = client.post(f"/v1/policies/{HIU}/decisions", json={"facts": facts, "as_of": later})
    assert reply.json() == library_decision(facts, as_of=later)
    assert reply.json()["as_of"] == later


def test_bad_facts_are_422_problem_json_with_every_problem_of_the_library(client: httpx.Client) -> None:
    facts = {**EXAMPLE, "age": "x", "date_of_birth": "2026-02-30", "nmae": "Alice"}
    facts["emergency_calls"] = [*EXAMPLE["emergency_calls"][:2], {"at": "soon", "category": "urgent"}]
    reply = client.post(f"/v1/policies/{HIU}/decisions", json={"facts": facts, "as_of": AS_OF})
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    body = reply.json()
    with pytest.raises(recnav_rules.FactValidationError) as caught:
        recnav_rules.load_policy(HIU).evaluate(facts, as_of=AS_OF)
    assert body["errors"] == [p.to_dict() for p in caught.value.problems]
    fields = {e["field"] for e in body["errors"]}
    assert {"age", "date_of_birth", "nmae", "emergency_calls[2].at", "emergency_calls[2].location"} <= fields
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == 422 and body["type"] == "urn:recnav-rules:problem:bad-facts"
    assert body["instance"] == f"/v1/policies/{HIU}/decisions"
    assert "Alice" not in reply.text


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"facts"}),
        ({"facts": []}, {"facts"}),
        ({"facts": {}, "as_of": 20261120}, {"as_of"}),
        ({"facts": {}, "paramters": {}}, {"paramters"}),
        ({"facts": {}, "parameters": [1]}, {"parameters"}),
        ([1, 2], {"<body>"}),
    ],
)
def test_a_badly_shaped_request_names_each_bad_member(client: httpx.Client, body: Any, fields: set[str]) -> None:
    reply = client.post(f"/v1/policies/{HIU}/decisions", json=body)
    assert reply.status_code == 422
    assert {e["field"] for e in reply.json()["errors"]} == fields


def test_unknown_member_gets_a_did_you_mean(client: httpx.Client) -> None:
    reply = client.post(f"/v1/policies/{HIU}/decisions", json={"facts": {}, "as_f": AS_OF})
    assert reply.json()["errors"] == [FactProblem("as_f", "unknown member", "as_of", code="unknown-member").to_dict()]


def test_bad_as_of_is_a_located_problem(client: httpx.Client) -> None:
    reply = client.post(f"/v1/policies/{HIU}/decisions", json={"facts": {}, "as_of": "2026-13-01"})
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == ["as_of"]


def test_body_that_is_not_json_is_400(client: httpx.Client) -> None:
    reply = client.post(f"/v1/policies/{HIU}/decisions", content=b'{"facts": ', headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["detail"].startswith("the body is not JSON at line 1")


def test_form_encoded_body_is_415(client: httpx.Client) -> None:
    reply = client.post(f"/v1/policies/{HIU}/decisions", data={"facts": "{}"})
    assert reply.status_code == 415


def test_unknown_policy_is_404_with_a_suggestion(client: httpx.Client) -> None:
    for method, path in (("GET", "/v1/policies/bnssg-hiu-pilo"), ("POST", "/v1/policies/bnssg-hiu-pilo/decisions")):
        reply = client.request(method, path, json={"facts": {}})
        assert reply.status_code == 404, path
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["type"] == "urn:recnav-rules:problem:unknown-policy"
        assert "did you mean 'bnssg-hiu-pilot'" in reply.json()["detail"]


def test_a_path_is_never_loaded_as_a_policy(client: httpx.Client) -> None:
    reply = client.post("/v1/policies/..%2Fpolicies%2Fbnssg.yaml/decisions", json={"facts": {}})
    assert reply.status_code == 404


def test_unknown_route_and_wrong_method_are_problems(client: httpx.Client) -> None:
    assert client.get("/v1/nothing").status_code == 404
    assert client.get("/v1/nothing").headers["content-type"] == "application/problem+json"
    wrong = client.get(f"/v1/policies/{HIU}/decisions")
    assert wrong.status_code == 405
    assert wrong.json()["type"] == "urn:recnav-rules:problem:method-not-allowed"


def test_parameters_in_a_request_set_an_unset_parameter(client: httpx.Client) -> None:
    pcn = "bnssg-network4-pcn"
    missing = client.post(f"/v1/policies/{pcn}/decisions", json={"facts": {}, "as_of": AS_OF})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["parameters.network4_pcn_code"]
    given = client.post(f"/v1/policies/{pcn}/decisions", json={"facts": {}, "as_of": AS_OF, "parameters": {"network4_pcn_code": "U12345"}})
    assert given.status_code == 200
    expected = recnav_rules.load_policy(pcn, parameters={"network4_pcn_code": "U12345"}).evaluate({}, as_of=AS_OF).to_dict()
    assert given.json() == expected
    unknown = client.post(f"/v1/policies/{HIU}/decisions", json={"facts": {}, "parameters": {"adult_ag": 21}})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "parameters.adult_ag"
    assert unknown.json()["errors"][0]["suggestion"] == "adult_age"


def test_request_parameters_change_the_decision(client: httpx.Client) -> None:
    facts = {**EXAMPLE, "date_of_birth": "2006-01-01"}  # 20 on the referral date
    adult = client.post(f"/v1/policies/{HIU}/decisions", json={"facts": facts, "as_of": AS_OF}).json()
    older = client.post(f"/v1/policies/{HIU}/decisions", json={"facts": facts, "as_of": AS_OF, "parameters": {"adult_age": 21}}).json()
    assert adult["outcome"] == "accept"
    assert older["outcome"] != "accept"
    assert "under-18" in [r["rule_id"] for r in older["reasons"]]


def test_explorer_tries_parameter_values_and_names_bad_ones(client: httpx.Client) -> None:
    facts = {"as_of": AS_OF, "f.age": "20"}
    older = client.post(f"/policies/{HIU}/try", data={**facts, "p.adult_age": "21"}).text
    younger = client.post(f"/policies/{HIU}/try", data={**facts, "p.adult_age": "18"}).text
    assert "under-18" in older.split('id="explanation"')[1].split("</pre>")[0].split("How each check")[0]
    assert "under-18" not in younger.split('id="explanation"')[1].split("</pre>")[0].split("How each check")[0]
    bad = client.post(f"/policies/{HIU}/try", data={**facts, "p.adult_age": "old"})
    assert bad.status_code == 422
    assert '<a href="#param-adult_age">' in bad.text
    unset = client.post("/policies/bnssg-network4-pcn/try", data=facts)
    assert unset.status_code == 422 and '<a href="#param-network4_pcn_code">' in unset.text
    given = client.post("/policies/bnssg-network4-pcn/try", data={**facts, "p.network4_pcn_code": "U12345"})
    assert given.status_code == 200 and "p.network4_pcn_code=U12345" in given.text


def referrals(count: int) -> list[dict[str, Any]]:
    """Varied referrals: a different number of calls, age and flags each."""
    out = []
    for i in range(count):
        facts = copy.deepcopy(EXAMPLE)
        facts["emergency_calls"] = facts["emergency_calls"][: i % 7]
        facts["date_of_birth"] = f"{1950 + i % 60}-06-15"
        facts["risk_of_violence"] = i % 5 == 0
        if i % 3 == 0:
            facts.pop("consent_to_referral")
        out.append(facts)
    return out


def test_concurrent_requests_give_the_library_decisions(base_url: str) -> None:
    items = referrals(96)

    def post(facts: dict[str, Any]) -> dict[str, Any]:
        with httpx.Client(base_url=base_url, timeout=60) as session:
            reply = session.post(f"/v1/policies/{HIU}/decisions", json={"facts": facts, "as_of": AS_OF})
            assert reply.status_code == 200
            body: dict[str, Any] = reply.json()
            return body

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(post, items))
    assert answers == [library_decision(f) for f in items]
    assert {a["outcome"] for a in answers} >= {"accept", "reject", "signpost"}


def test_batch_streams_lines_in_order_with_errors_per_line(client: httpx.Client) -> None:
    items = referrals(5)
    lines = [json.dumps(items[0]), "", json.dumps(items[1]), "[1]", '{"age": "x"}', "{not json", json.dumps(items[2])]
    reply = client.post(f"/v1/policies/{HIU}/batch?as_of={AS_OF}", content=("\n".join(lines) + "\n").encode())
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/x-ndjson")
    out = [json.loads(line) for line in reply.text.splitlines()]
    assert [o["line"] for o in out] == [1, 3, 4, 5, 6, 7]
    assert out[0] == {"line": 1, **library_decision(items[0])}
    assert out[1] == {"line": 3, **library_decision(items[1])}
    assert out[2] == {"line": 4, "error": "expected a JSON object of facts"}
    with pytest.raises(recnav_rules.FactValidationError) as caught:
        recnav_rules.load_policy(HIU).evaluate({"age": "x"}, as_of=AS_OF)
    assert out[3]["errors"] == [p.to_dict() for p in caught.value.problems]
    assert [e["field"] for e in out[3]["errors"]] == ["age"]
    assert out[4] == {"line": 6, "error": "not JSON"}
    assert out[5] == {"line": 7, **library_decision(items[2])}


def test_batch_reads_a_streamed_body_without_a_length(client: httpx.Client) -> None:
    items = referrals(40)

    def chunks() -> Iterator[bytes]:
        for facts in items:
            text = json.dumps(facts) + "\n"
            yield text[:10].encode()
            yield text[10:].encode()

    reply = client.post(f"/v1/policies/{HIU}/batch?as_of={AS_OF}", content=chunks())
    out = [json.loads(line) for line in reply.text.splitlines()]
    assert [o["outcome"] for o in out] == [library_decision(f)["outcome"] for f in items]


def test_batch_bad_as_of_and_unready_policy_are_422(client: httpx.Client) -> None:
    assert client.post(f"/v1/policies/{HIU}/batch?as_of=tomorrow", content=b"{}\n").status_code == 422
    reply = client.post("/v1/policies/bnssg-network4-pcn/batch", content=b"{}\n")
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "parameters.network4_pcn_code"


def test_openapi_document_describes_the_routes_and_every_ref_resolves(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert {
        "/v1/policies", "/v1/policies/{policy_id}", "/v1/policies/{policy_id}/decisions",
        "/v1/policies/{policy_id}/batch", "/v1/decisions/{decision_id}", "/healthz",
    } <= set(doc["paths"])
    responses = doc["paths"]["/v1/policies/{policy_id}/decisions"]["post"]["responses"]
    assert {"200", "404", "413", "422"} <= set(responses)
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref


def test_openapi_decision_schema_accepts_a_real_decision(client: httpx.Client) -> None:
    import jsonschema

    doc = client.get("/openapi.json").json()
    schema = {"$ref": "#/components/schemas/Decision", "components": doc["components"]}
    decision = client.post(f"/v1/policies/{HIU}/decisions", json={"facts": EXAMPLE, "as_of": AS_OF}).json()
    jsonschema.validate(decision, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**decision, "outcome": 3}, schema)


def test_access_log_has_neither_facts_nor_query_strings(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    facts = {**EXAMPLE, "name": "Alice Example", "nhs_number": "9434765919", "contact_details": "07700 900123"}
    with caplog.at_level(logging.INFO, logger="recnav_rules.service.access"):
        assert client.post(f"/v1/policies/{HIU}/decisions", json={"facts": facts, "as_of": AS_OF}).status_code == 200
        client.get(f"/policies/{HIU}/try", params={"f.name": "Alice Example", "f.age": "40"})
    lines = [r.getMessage() for r in caplog.records if r.name == "recnav_rules.service.access"]
    assert any(line.startswith(f"POST /v1/policies/{HIU}/decisions 200 ") for line in lines)
    assert any(line.startswith(f"GET /policies/{HIU}/try 200 ") for line in lines)
    text = "\n".join(lines)
    for secret in ("Alice", "9434765919", "07700", "1988-02-29", "?", "f.age"):
        assert secret not in text


def test_responses_are_not_cached_and_send_no_referrer(client: httpx.Client) -> None:
    for reply in (
        client.post(f"/v1/policies/{HIU}/decisions", json={"facts": EXAMPLE, "as_of": AS_OF}),
        client.get(f"/policies/{HIU}/try", params={"f.age": "40"}),
        client.get("/v1/nothing"),
    ):
        assert reply.headers["cache-control"] == "no-store"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'self'" in reply.headers["content-security-policy"]
    static = client.get("/static/explorer.css")
    assert static.status_code == 200 and "cache-control" not in static.headers
    assert static.headers["x-content-type-options"] == "nosniff"


def test_decision_log_route_without_a_log_is_404(client: httpx.Client) -> None:
    reply = client.get("/v1/decisions/0150ddad-34fb-4ca2-be31-56112fbc70d1")
    assert reply.status_code == 404
    assert reply.json()["type"] == "urn:recnav-rules:problem:no-log"


# --- limits and the token: servers of their own ---------------------------------------------------


def test_body_over_the_limit_is_413_declared_or_streamed() -> None:
    with running_service(ServiceConfig(port=0, max_body_bytes=2000)) as url, httpx.Client(base_url=url, timeout=30) as session:
        big = {"facts": {**EXAMPLE, "notes": "x" * 3000}, "as_of": AS_OF}
        declared = session.post(f"/v1/policies/{HIU}/decisions", json=big)
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"
        assert declared.json()["detail"] == "the body must be at most 2000 bytes"
        streamed = session.post(
            f"/v1/policies/{HIU}/decisions", content=iter([json.dumps(big).encode()]), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        small = session.post(f"/v1/policies/{HIU}/decisions", json={"facts": {"age": 40}, "as_of": AS_OF})
        assert small.status_code == 200
        line = (json.dumps({"age": 40, "pad": "y" * 2500}) + "\n" + json.dumps({"age": 17}) + "\n").encode()
        out = [json.loads(x) for x in session.post(f"/v1/policies/{HIU}/batch?as_of={AS_OF}", content=line).text.splitlines()]
        assert out[0] == {"line": 1, "error": "line longer than 2000 bytes"}
        assert out[1]["line"] == 2 and out[1]["outcome"] == "signpost"


def test_batch_over_its_limit_stops_with_a_message() -> None:
    config = ServiceConfig(port=0, max_batch_bytes=3000)
    with running_service(config) as url, httpx.Client(base_url=url, timeout=30) as session:
        declared = session.post(f"/v1/policies/{HIU}/batch", content=b"{}\n" * 1001)
        assert declared.status_code == 413
        lines = iter([b'{"age": 40}\n' * 100] * 5)
        out = [json.loads(x) for x in session.post(f"/v1/policies/{HIU}/batch", content=lines).text.splitlines()]
        assert out[-1]["error"].startswith("the body is over the batch limit of 3000 bytes")
        assert all("outcome" in o for o in out[:-1]) and len(out) - 1 <= 250


def test_a_request_that_does_not_finish_in_time_is_503() -> None:
    with running_service(ServiceConfig(port=0, request_timeout=0.5)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(
                f"POST /v1/policies/{HIU}/decisions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 100\r\n\r\n{\"facts\":".encode()
            )
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503")
    assert json.loads(body)["detail"] == "the request took longer than 0.5 seconds"


def test_token_is_required_on_every_route_but_health(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-0123456789\n")
    with running_service(ServiceConfig(port=0, token_file=str(token_file))) as url, httpx.Client(base_url=url, timeout=30) as session:
        assert session.get("/healthz").status_code == 200
        for path in ("/v1/policies", "/", f"/policies/{HIU}", "/openapi.json"):
            refused = session.get(path)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"].startswith("Bearer")
        assert session.get("/v1/policies", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
        assert session.get("/v1/policies", headers={"Authorization": "Bearer s3cret-token-0123456789"}).status_code == 200


def test_binding_beyond_loopback_without_a_token_is_refused() -> None:
    from recnav_rules.service.app import create_app

    with pytest.raises(ValueError, match="needs a bearer token"):
        create_app(ServiceConfig(host="0.0.0.0"))


def test_with_a_log_decisions_get_ids_and_can_be_fetched(tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.db"
    with running_service(ServiceConfig(port=0, log_path=str(log_path))) as url, httpx.Client(base_url=url, timeout=30) as session:
        facts = {**EXAMPLE, "name": "Alice Example"}
        made = session.post(f"/v1/policies/{HIU}/decisions", json={"facts": facts, "as_of": AS_OF}).json()
        assert made["decision_id"]
        expected = library_decision(facts)
        assert {**made, "decision_id": None} == expected
        fetched = session.get(f"/v1/decisions/{made['decision_id']}")
        assert fetched.status_code == 200
        record = fetched.json()
        assert record["decision_id"] == made["decision_id"]
        assert record["decision"]["outcome"] == "accept"
        assert "Alice" not in fetched.text
        assert session.get("/v1/decisions/00000000-0000-0000-0000-000000000000").json()["type"] == "urn:recnav-rules:problem:unknown-decision"
        page = session.get("/decisions", params={"policy": HIU, "since": "2000-01-01"})
        assert page.status_code == 200
        assert made["decision_id"] in page.text
        assert "verified" in page.text and "NOT verified" not in page.text
        assert made["decision_id"] not in session.get("/decisions", params={"policy": "somerset-waiting-list"}).text
        assert session.get("/decisions", params={"since": "yesterday"}).status_code == 422
        one = session.get("/decisions", params={"id": made["decision_id"]})
        assert one.status_code == 200 and 'id="outcome">accept' in one.text
        assert session.get("/decisions/not-an-id").status_code == 404
