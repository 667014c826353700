"""Charts for the manager's page, drawn on the server as SVG (no script, nothing fetched): the scores'
distribution of each wave, NPS with its 95 % interval by wave, conversion by quarter. Each takes the
figures the reports computed and returns markup; every text in it is escaped."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

BAR, GAP, TOP, BOTTOM, LEFT = 14, 4, 12, 18, 30


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
                  f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>')


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 10) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="#3c434a">'
            f'{escape(str(text))}</text>')


def distribution(waves: list[dict], title: str) -> Markup:
    """For each wave, the count of each score 1-10 as bars (a wave a group, the latest on the right)."""
    height = 110
    groups = [w for w in waves if w.get("distribution")]
    top = max([max(w["distribution"].values()) for w in groups] + [1])
    group_w = 10 * BAR + GAP
    width = LEFT + len(groups) * (group_w + 3 * GAP) + GAP
    plot = height - TOP - BOTTOM
    body = [f'<line x1="{LEFT}" y1="{height - BOTTOM}" x2="{width}" y2="{height - BOTTOM}" stroke="#8c8f94"/>',
            _text(LEFT - 4, TOP + 4, top, "end"), _text(LEFT - 4, height - BOTTOM, 0, "end")]
    for g, w in enumerate(groups):
        x0 = LEFT + GAP + g * (group_w + 3 * GAP)
        for score in range(1, 11):
            n = w["distribution"].get(str(score), 0)
            h = plot * n / top
            colour = "#d63638" if score <= 6 else "#dba617" if score <= 8 else "#00a32a"
            x = x0 + (score - 1) * BAR
            body.append(f'<rect x="{x}" y="{height - BOTTOM - h:.1f}" width="{BAR - 2}" height="{h:.1f}" '
                        f'fill="{colour}"><title>{score}: {n}</title></rect>')
        body.append(_text(x0 + group_w / 2, height - 4, f'{w["wave"]}'))
    return _svg(width, height, title, body)


def nps_by_wave(waves: list[dict], title: str) -> Markup:
    """NPS of each wave as a point, its 95 % interval as a line through it, on a scale -100..100."""
    height, step = 130, 44
    shown = [w for w in waves if w.get("nps") is not None]
    width = LEFT + max(len(shown), 1) * step + GAP

    def y(v: float) -> float:
        return TOP + (100 - v) * (height - TOP - BOTTOM) / 200

    body = [f'<line x1="{LEFT}" y1="{y(0):.1f}" x2="{width}" y2="{y(0):.1f}" stroke="#c3c4c7"/>',
            _text(LEFT - 4, y(100) + 4, 100, "end"), _text(LEFT - 4, y(0) + 4, 0, "end"),
            _text(LEFT - 4, y(-100), -100, "end")]
    for i, w in enumerate(shown):
        x = LEFT + step / 2 + i * step
        low, high = w.get("nps_ci") or (w["nps"], w["nps"])
        body.append(f'<line x1="{x:.1f}" y1="{y(low):.1f}" x2="{x:.1f}" y2="{y(high):.1f}" stroke="#2271b1" '
                    f'stroke-width="2"/>')
        body.append(f'<circle cx="{x:.1f}" cy="{y(w["nps"]):.1f}" r="4" fill="#2271b1">'
                    f'<title>{w["nps"]} ({low}…{high})</title></circle>')
        body.append(_text(x, height - 4, w["wave"]))
    return _svg(width, height, title, body)


def conversion(rows: list[dict], title: str) -> Markup:
    """A doctor's conversion (the share of first-time patients who came back) by quarter, as bars 0-100 %."""
    height, step = 110, 40
    width = LEFT + max(len(rows), 1) * step + GAP
    plot = height - TOP - BOTTOM
    body = [f'<line x1="{LEFT}" y1="{height - BOTTOM}" x2="{width}" y2="{height - BOTTOM}" stroke="#8c8f94"/>',
            _text(LEFT - 4, TOP + 4, "100%", "end", 9), _text(LEFT - 4, height - BOTTOM, "0", "end", 9)]
    for i, r in enumerate(rows):
        share = r.get("conversion")
        x = LEFT + GAP + i * step
        if share is not None:
            h = plot * share
            body.append(f'<rect x="{x}" y="{height - BOTTOM - h:.1f}" width="{step - 2 * GAP}" height="{h:.1f}" '
                        f'fill="{"#2271b1" if r.get("final") else "#72aee6"}"><title>{round(share * 100)} % '
                        f'({r.get("returned")}/{r.get("first_time")})</title></rect>')
        body.append(_text(x + (step - 2 * GAP) / 2, height - 4, str(r.get("quarter", ""))[-2:]))
    return _svg(width, height, title, body)
