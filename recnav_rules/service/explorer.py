"""The policy explorer: server-rendered pages for policy owners and auditors, at ``/``.

The list of policies; each policy's rules, sources, parameters, facts and flowchart; "try a
referral" (a form generated from the fact declarations, its decision explained and traced, a
shareable link without personal facts, a printable report); the decision-log browser when the
service keeps a log. Trying a referral never writes to the decision log.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from recnav_rules import Decision, FactValidationError, Policy
from recnav_rules.engine.dates import today_in_london
from recnav_rules.service import _engine_view, forms
from recnav_rules.service.flowchart import flowchart_svg
from recnav_rules.service.store import PolicyStore

__all__ = ["render_error", "routes", "templates"]

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))
templates.env.globals["field_id"] = forms.field_id


def _store(request: Request) -> PolicyStore:
    store: PolicyStore = request.app.state.store
    return store


def _page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("has_log", _store(request).log is not None)
    return templates.TemplateResponse(request, name, context, status_code=status)


def render_error(request: Request, status: int, title: str, detail: str) -> Response:
    return _page(request, "error.html", status, title=title, detail=detail)


async def index(request: Request) -> Response:
    store = _store(request)
    policies = [(info, store.policies[info.id]) for info in store.infos.values()]
    return _page(request, "index.html", policies=policies)


async def policy_page(request: Request) -> Response:
    policy = _store(request).get(request.path_params["policy_id"])
    view = _engine_view.policy_view(policy)
    return _page(request, "policy.html", view=view, flowchart=flowchart_svg(view))


def _decide(store: PolicyStore, policy: Policy, form: forms.ReadForm) -> tuple[Decision | None, list[tuple[str, str]]]:
    """The decision (never logged: trying is not deciding), or the problems as (input id, message) pairs."""
    try:
        parameters = _engine_view.parameters_from_text(policy, form.parameters)
        return store.deciding(policy.id, parameters).evaluate(form.facts, as_of=form.as_of), []
    except FactValidationError as exc:
        return None, [(forms.locate(p, form), forms.message_for(p, form)) for p in exc.problems]


def _try_page(request: Request, policy: Policy, form: forms.ReadForm | None, *, run: bool) -> Response:
    view = _engine_view.policy_view(policy)
    decision: Decision | None = None
    problems: list[tuple[str, str]] = []
    if form is not None and run:
        decision, problems = _decide(_store(request), policy, form)
    share = forms.share_query(form, view.facts) if form is not None and decision is not None else ""
    status = 422 if problems else 200
    return _page(
        request, "try.html", status,
        view=view, form=form, values=forms.values_for(form), decision=decision, problems=problems,
        errors=dict(problems[::-1]), share=share, today=today_in_london().isoformat(),
        rows=form.rows if form is not None else {}, min_rows=forms.MIN_ROWS,
    )


async def try_referral(request: Request) -> Response:
    policy = _store(request).get(request.path_params["policy_id"])
    view = _engine_view.policy_view(policy)
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", errors="replace")
        pairs = parse_qsl(body, keep_blank_values=True)
        form = forms.read_form(pairs, view.facts)
        action = dict(pairs).get("action", "decide")
        if action.startswith("more:"):
            forms.add_rows(form, action.removeprefix("more:"))
        return _try_page(request, policy, form, run=action == "decide")
    pairs = list(request.query_params.multi_items())
    if not pairs:
        return _try_page(request, policy, None, run=False)
    form = forms.read_form(pairs, view.facts, from_link=True)
    return _try_page(request, policy, form, run=any(name.startswith("f.") for name, _ in pairs) or "as_of" in dict(pairs))


async def report(request: Request) -> Response:
    policy = _store(request).get(request.path_params["policy_id"])
    view = _engine_view.policy_view(policy)
    form = forms.read_form(request.query_params.multi_items(), view.facts, from_link=True)
    decision, problems = _decide(_store(request), policy, form)
    if decision is None:
        return render_error(request, 422, "These facts cannot be evaluated", "; ".join(message for _, message in problems))
    return _page(request, "report.html", view=view, decision=decision, dropped=form.dropped_personal)


def _verify_text(log: Any) -> tuple[bool, str]:
    try:
        result = log.verify()
    except Exception as exc:  # noqa: BLE001  # a broken log is shown as broken, not as a server error
        return False, f"the log could not be verified ({exc.__class__.__name__})"
    ok = bool(getattr(result, "ok", result))
    detail = str(getattr(result, "message", "") or ("every record checks out" if ok else "the log does not verify"))
    return ok, detail


_NO_LOG = "Start the service with --log FILE to keep and browse decisions."


async def decision_log(request: Request) -> Response:
    """Search the log by decision id, policy and decision date; show whether the log verifies."""
    log = _store(request).log
    if log is None:
        return render_error(request, 404, "No decision log", _NO_LOG)
    query = request.query_params
    wanted = query.get("id", "").strip()
    if wanted:
        return await _one_decision(request, wanted)
    policy = query.get("policy", "").strip() or None
    problems: list[str] = []
    bounds: dict[str, str | None] = {}
    for key, shift in (("since", 0), ("until", 1)):  # the log's "until" is exclusive; the form's is inclusive
        text = query.get(key, "").strip()
        try:
            bounds[key] = (dt.date.fromisoformat(text) + dt.timedelta(days=shift)).isoformat() if text else None
        except ValueError:
            bounds[key] = None
            problems.append(f"{key}: not a date (YYYY-MM-DD)")
    entries = [] if problems else log.find(policy_id=policy, since=bounds["since"], until=bounds["until"], limit=100)
    ok, detail = _verify_text(log)
    return _page(
        request, "decisions.html", 422 if problems else 200, entries=entries, problems=problems, verified=ok,
        verify_detail=detail, query={k: query.get(k, "") for k in ("id", "policy", "since", "until")},
        policy_ids=list(_store(request).infos),
    )


async def _one_decision(request: Request, decision_id: str) -> Response:
    entry = _store(request).log.get(decision_id)
    if entry is None:
        return render_error(request, 404, "No such decision", "No decision with this id is in the log.")
    record = entry.to_dict()
    body = record.get("decision", {})
    return _page(request, "log_entry.html", entry=entry, body=body, record_json=json.dumps(record, indent=2, ensure_ascii=False))


async def one_decision(request: Request) -> Response:
    if _store(request).log is None:
        return render_error(request, 404, "No decision log", _NO_LOG)
    return await _one_decision(request, request.path_params["decision_id"])


def routes() -> list[Route | Mount]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/policies/{policy_id}", policy_page, methods=["GET"]),
        Route("/policies/{policy_id}/try", try_referral, methods=["GET", "POST"]),
        Route("/policies/{policy_id}/report", report, methods=["GET"]),
        Route("/decisions", decision_log, methods=["GET"]),
        Route("/decisions/{decision_id}", one_decision, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
