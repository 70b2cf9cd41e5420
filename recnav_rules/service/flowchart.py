"""The decision flowchart of a policy, drawn as inline SVG (no script, no external library).

Rules are checked in priority order: each is a box; "holds" leads right to its outcome, "does
not hold" leads down to the next rule; the last leads to the fallback outcome.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from recnav_rules.service._engine_view import PolicyView

__all__ = ["flowchart_svg"]

_WIDTH = 760
_BOX_W, _BOX_H, _GAP = 380, 44, 26
_OUT_X, _OUT_W = 470, 250
_COLOURS = {"accept": "#007f3b", "reject": "#d5281b", "signpost": "#005eb8"}


def _text(x: float, y: float, text: str, *, anchor: str = "middle", weight: str = "normal", fill: str = "#212b32", size: int = 14) -> str:
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
        f'fill="{fill}">{escape(text)}</text>'
    )


def _clip(text: str, limit: int = 44) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flowchart_svg(view: PolicyView) -> Markup:
    """An accessible SVG: a title, a description, and a box per rule in priority order."""
    parts: list[str] = []
    y = 10
    left = 20
    centre = left + _BOX_W / 2
    parts.append(f'<rect x="{left}" y="{y}" width="{_BOX_W}" height="{_BOX_H - 8}" rx="18" fill="#e8edee" stroke="#425563"/>')
    parts.append(_text(centre, y + 23, "Referral facts"))
    y += _BOX_H - 8
    for rule in view.rules:
        parts.append(f'<line x1="{centre}" y1="{y}" x2="{centre}" y2="{y + _GAP}" stroke="#425563" marker-end="url(#arrow)"/>')
        if rule.number > 1:
            parts.append(_text(centre + 8, y + 17, "does not hold", anchor="start", size=12, fill="#4c6272"))
        y += _GAP
        parts.append(f'<rect x="{left}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" fill="#ffffff" stroke="#425563" stroke-width="2"/>')
        parts.append(_text(left + 12, y + 27, _clip(f"{rule.number}. {rule.id}?"), anchor="start", weight="bold"))
        mid = y + _BOX_H / 2
        colour = _COLOURS.get(rule.outcome, "#425563")
        parts.append(f'<line x1="{left + _BOX_W}" y1="{mid}" x2="{_OUT_X}" y2="{mid}" stroke="#425563" marker-end="url(#arrow)"/>')
        parts.append(_text(left + _BOX_W + 6, mid - 6, "holds", anchor="start", size=12, fill="#4c6272"))
        parts.append(f'<rect x="{_OUT_X}" y="{y + 6}" width="{_OUT_W}" height="{_BOX_H - 12}" rx="4" fill="{colour}"/>')
        parts.append(_text(_OUT_X + _OUT_W / 2, y + 28, rule.outcome.upper(), weight="bold", fill="#ffffff"))
        y += _BOX_H
    parts.append(f'<line x1="{centre}" y1="{y}" x2="{centre}" y2="{y + _GAP}" stroke="#425563" marker-end="url(#arrow)"/>')
    parts.append(_text(centre + 8, y + 17, "none holds", anchor="start", size=12, fill="#4c6272"))
    y += _GAP
    colour = _COLOURS.get(view.otherwise.outcome, "#425563")
    parts.append(f'<rect x="{left}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="4" fill="{colour}"/>')
    parts.append(_text(centre, y + 27, f"Otherwise: {view.otherwise.outcome.upper()}", weight="bold", fill="#ffffff"))
    y += _BOX_H + 18
    parts.append(
        _text(
            left, y,
            f"A rule that cannot be settled (a fact not known) and could change the outcome gives {view.incomplete.outcome.upper()}, naming the missing facts.",
            anchor="start", size=12, fill="#4c6272",
        )
    )
    height = y + 12
    description = "; ".join(f"rule {r.number}, {r.id}: if it holds, {r.outcome}" for r in view.rules)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="flow-title flow-desc" '
        f'viewBox="0 0 {_WIDTH} {height}" width="100%" class="flowchart">'
        f'<title id="flow-title">Decision flowchart of {escape(view.title)}</title>'
        f'<desc id="flow-desc">Rules in priority order: {escape(description)}; otherwise {escape(view.otherwise.outcome)}.</desc>'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#425563"/></marker></defs>'
    )
    return Markup(head + "".join(parts) + "</svg>")
