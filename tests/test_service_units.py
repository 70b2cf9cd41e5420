"""The service's pieces without a server: the form reader, configuration, problems, flowchart, --param."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import recnav_rules
from recnav_rules import FactProblem
from recnav_rules.service import _engine_view, forms
from recnav_rules.service.commands import parse_params
from recnav_rules.service.config import ServiceConfig, is_loopback, read_token
from recnav_rules.service.flowchart import flowchart_svg
from recnav_rules.service.problems import problem_body

HIU = recnav_rules.load_policy("bnssg-hiu-pilot")
VIEW = _engine_view.policy_view(HIU)
FACTS = VIEW.facts


def test_empty_inputs_are_not_known_and_left_out() -> None:
    form = forms.read_form([("as_of", "2026-11-20"), ("f.age", ""), ("f.in_custody", "  "), ("f.risk_of_violence", "")], FACTS)
    assert form.facts == {}
    assert form.as_of == "2026-11-20"


def test_inputs_become_the_types_the_engine_expects() -> None:
    form = forms.read_form(
        [("f.age", "40"), ("f.in_custody", "false"), ("f.consent_to_referral", "true"), ("f.mhsd_triage_outcome", "signposting"),
         ("f.date_of_birth", "1988-02-29"), ("f.gp_practice_code", "L81004")],
        FACTS,
    )
    assert form.facts == {
        "age": 40, "in_custody": False, "consent_to_referral": True, "mhsd_triage_outcome": "signposting",
        "date_of_birth": "1988-02-29", "gp_practice_code": "L81004",
    }


def test_values_that_do_not_parse_reach_the_engine_as_text_so_it_names_them() -> None:
    form = forms.read_form([("f.age", "forty"), ("f.in_custody", "maybe")], FACTS)
    assert form.facts == {"age": "forty", "in_custody": "maybe"}
    with pytest.raises(recnav_rules.FactValidationError) as caught:
        HIU.evaluate(form.facts, as_of="2026-11-20")
    assert set(caught.value.fields) == {"age", "in_custody"}


def test_unknown_names_and_malformed_record_names_are_ignored() -> None:
    form = forms.read_form([("f.nope", "1"), ("f.emergency_calls.x.at", "2026-11-01T10:00"), ("f.emergency_calls.0.nope", "1"), ("other", "1")], FACTS)
    assert form.facts == {}
    assert "f.nope" not in form.raw


def test_list_rows_skip_blanks_and_map_back_to_form_rows() -> None:
    pairs = [
        ("f.emergency_calls.1.at", "2026-11-02T03:40:00Z"), ("f.emergency_calls.1.category", "urgent"),
        ("f.emergency_calls.1.location", "other"), ("f.emergency_calls.4.at", "bad"),
    ]
    form = forms.read_form(pairs, FACTS)
    assert form.facts["emergency_calls"] == [
        {"at": "2026-11-02T03:40:00Z", "category": "urgent", "location": "other"},
        {"at": "bad"},
    ]
    assert form.kept_rows["emergency_calls"] == [1, 4]
    assert form.rows["emergency_calls"] == 6  # the last row used, and one more
    problem = FactProblem("emergency_calls[1].at", "not a date")
    assert forms.locate(problem, form) == "fact-emergency_calls-4-at"
    assert forms.message_for(problem, form) == "emergency calls, row 5, at: not a date"
    assert forms.locate(FactProblem("age", "x"), form) == "fact-age"
    assert forms.locate(FactProblem("as_of", "x"), form) == "as_of"


def test_no_rows_is_not_known_but_there_are_none_is_an_empty_list() -> None:
    assert "emergency_calls" not in forms.read_form([], FACTS).facts
    assert forms.read_form([("f.emergency_calls.none", "yes")], FACTS).facts == {"emergency_calls": []}
    assert forms.read_form([], FACTS).rows["emergency_calls"] == forms.MIN_ROWS
    assert forms.read_form([("rows.emergency_calls", "9")], FACTS).rows["emergency_calls"] == 9
    assert forms.read_form([("rows.emergency_calls", "100000")], FACTS).rows["emergency_calls"] == forms.MAX_ROWS


def test_personal_facts_are_taken_from_a_form_but_never_from_a_link() -> None:
    pairs = [("f.name", "Alice Example"), ("f.nhs_number", "9434765919"), ("f.age", "40")]
    posted = forms.read_form(pairs, FACTS)
    assert posted.facts == {"name": "Alice Example", "nhs_number": "9434765919", "age": 40}
    linked = forms.read_form(pairs, FACTS, from_link=True)
    assert linked.facts == {"age": 40}
    assert linked.dropped_personal == ["name", "nhs_number"]


def test_share_query_leaves_personal_facts_out() -> None:
    form = forms.read_form([("as_of", "2026-11-20"), ("f.name", "Alice Example"), ("f.age", "40"), ("f.nhs_number", "9434765919")], FACTS)
    assert forms.share_query(form, FACTS) == "as_of=2026-11-20&f.age=40"


names = st.sampled_from(["as_of", "f.age", "f.name", "f.nhs_number", "f.in_custody", "f.emergency_calls.0.at", "f.emergency_calls.3.category", "f.contact_details", "rows.emergency_calls", "f.x"])


@given(st.lists(st.tuples(names | st.text(max_size=20), st.text(max_size=30))))
def test_any_submission_reads_without_error_and_links_never_carry_personal_facts(pairs: list[tuple[str, str]]) -> None:
    form = forms.read_form(pairs, FACTS)
    query = forms.share_query(form, FACTS)
    personal = [f.name for f in FACTS if f.personal]
    assert personal
    for name in personal:
        assert f"f.{name}=" not in query
    assert set(form.facts) <= {f.name for f in FACTS}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("example.org", False)],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert ServiceConfig(host=host).needs_token is not loopback


def test_token_file_rules(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_text("  0123456789abcdef-xyz \n")
    assert read_token(str(good)) == "0123456789abcdef-xyz"
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(ValueError, match="at least 16 characters"):
        read_token(str(short))
    spaced = tmp_path / "spaced"
    spaced.write_text("0123456789 abcdef0123")
    with pytest.raises(ValueError, match="one line without spaces"):
        read_token(str(spaced))
    with pytest.raises(ValueError, match="cannot read the token file"):
        read_token(str(tmp_path / "missing"))


def test_config_round_trips_through_the_worker_environment() -> None:
    config = ServiceConfig(host="0.0.0.0", port=9000, workers=2, log_path="/tmp/x.db", parameters={"a": "1"}, token_file="/t", max_body_bytes=10)
    assert ServiceConfig.from_env(config.to_env()) == config
    assert "token" not in config.to_env().replace("token_file", "")


def test_params_parse_and_refuse_bad_ones() -> None:
    assert parse_params(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    for bad in (["a"], ["=1"], ["a=1", "a=2"]):
        with pytest.raises(ValueError, match="--param"):
            parse_params(bad)


def test_problem_body_is_rfc_9457_shaped() -> None:
    body = problem_body(422, "bad-facts", "2 bad facts", instance="/v1/x", errors=[FactProblem("age", "bad").to_dict()])
    assert body == {
        "type": "urn:recnav-rules:problem:bad-facts", "title": "The facts cannot be evaluated", "status": 422,
        "detail": "2 bad facts", "instance": "/v1/x", "errors": [FactProblem("age", "bad").to_dict()],
    }
    assert "errors" not in problem_body(404, "not-found", "x")


def test_flowchart_has_a_box_per_rule_in_order_and_escapes_text() -> None:
    svg = str(flowchart_svg(VIEW))
    positions = [svg.index(f"{rule.number}. {rule.id[:30]}") for rule in VIEW.rules]
    assert positions == sorted(positions)
    assert svg.count("<rect") == 2 * len(VIEW.rules) + 2
    assert f"Otherwise: {VIEW.otherwise.outcome.upper()}" in svg
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    hostile = _engine_view.PolicyView(**{**{f: getattr(VIEW, f) for f in VIEW.__dataclass_fields__}, "title": "<script>x</script>"})
    assert "<script>" not in str(flowchart_svg(hostile))


def test_view_marks_a_policy_without_parameter_values_as_not_ready() -> None:
    pcn = _engine_view.policy_view(_engine_view.unchecked("bnssg-network4-pcn"))
    assert pcn.ready is False
    assert {p.name: p.value for p in pcn.parameters}["network4_pcn_code"] is None
    assert VIEW.ready is True


def test_add_rows_grows_one_list_up_to_the_cap() -> None:
    form = forms.read_form([("rows.emergency_calls", "3")], FACTS)
    forms.add_rows(form, "emergency_calls")
    assert form.rows["emergency_calls"] == 6
    forms.add_rows(form, "age")
    assert "age" not in form.rows
    forms.add_rows(form, "emergency_calls", 10_000)
    assert form.rows["emergency_calls"] == forms.MAX_ROWS


def test_parameter_inputs_are_read_located_and_shared() -> None:
    form = forms.read_form([("p.adult_age", "21"), ("p.", "x"), ("f.name", "Alice Example"), ("f.age", "20")], FACTS)
    assert form.parameters == {"adult_age": "21"}
    assert forms.share_query(form, FACTS) == "p.adult_age=21&f.age=20"
    assert forms.locate(FactProblem("parameters.adult_age", "x"), form) == "param-adult_age"
    assert _engine_view.parameters_from_text(HIU, {"adult_age": "21", "nope": "1"}) == {"adult_age": 21, "nope": "1"}


def _nodelay_of_accepted(sock: object) -> int:
    """TCP_NODELAY as asyncio leaves it on a connection accepted from ``sock``."""
    import asyncio
    import socket

    async def run() -> int:
        seen: list[int] = []

        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)  # type: ignore[arg-type]
        _, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        while not seen:
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        return seen[0]

    return asyncio.run(run())


def test_worker_socket_gives_connections_tcp_nodelay() -> None:
    import socket

    from recnav_rules.service.workers import TcpConfig

    fixed = TcpConfig("x:y", host="127.0.0.1", port=0).bind_socket()
    assert fixed.proto == socket.IPPROTO_TCP and fixed.get_inheritable()
    assert _nodelay_of_accepted(fixed) != 0
