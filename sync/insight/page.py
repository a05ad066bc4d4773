"""The report as ONE self-contained HTML page: inline CSS, inline SVG charts, no script, no web font, no
image or stylesheet fetched from anywhere, so it opens offline, prints, and survives being mailed.

Every chart has a table of its numbers beside it (the tables carry `data-*` attributes naming what each
number is, which the browser test reads back). Text from the store (account names, owner ids, rules
versions) is escaped.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sync.insight import charts
from sync.insight.funnel import ALL, STAGES, Funnel
from sync.insight.reminders import COLUMNS as REMINDER_COLUMNS
from sync.insight.reminders import column_values
from sync.insight.report import ReportData
from sync.insight.sla import OUTCOMES, TouchTimes

MAX_ROWS = 50  # longest table of owners or breaches; the rest is counted

CSS = """
:root{color-scheme:light}
body{font-family:'DejaVu Sans','Liberation Sans',Arial,Helvetica,sans-serif;color:#1a1a1a;margin:0;
  background:#fff;line-height:1.4}
main{max-width:1280px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:1.6rem;margin:.2em 0}h2{font-size:1.25rem;margin:1.6em 0 .4em;border-bottom:2px solid #0072B2;
  padding-bottom:.15em}h3{font-size:1.05rem;margin:1.1em 0 .3em}
p.meta{color:#444;margin:.2em 0}p.note{background:#fff7e0;border-left:4px solid #E69F00;padding:.4em .7em}
.pair{display:grid;grid-template-columns:minmax(0,1.25fr) minmax(0,1fr);gap:20px;align-items:start}
.pair.wide{grid-template-columns:minmax(0,1fr)}
figure{margin:0}svg{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:.86rem;margin:.3em 0 1em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #bbb;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#eef3f8}td.name,th.name{text-align:left}tr.total td{font-weight:bold;background:#f6f6f6}
.scroll{overflow-x:auto}table.text-last td:last-child,table.text-last th:last-child{text-align:left}
.small{font-size:.8rem;color:#555}
.badge{display:inline-block;padding:0 .4em;border:1px solid #555;border-radius:3px;font-size:.75rem}
@media (max-width:900px){.pair{grid-template-columns:minmax(0,1fr)}}
@media print{main{max-width:none;padding:0}.pair{grid-template-columns:minmax(0,1fr)}
  figure,table{break-inside:avoid}h2{break-after:avoid}}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def pct(part: float | None, whole: float | None = None) -> str:
    if whole is not None:
        part = part / whole if whole else None
    return "-" if part is None else f"{100 * part:.0f}%"


def num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, table_id: str = "", caption: str = "",
          total: Sequence[str] | None = None, names: int = 1, text_last: bool = False) -> str:
    """A table whose cells are already HTML; the first `names` columns are left-aligned labels (and the last
    one when it is text, `text_last`)."""
    head = "".join(f'<th{" class=name" if i < names else ""} scope="col">{esc(h)}</th>'
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        body.append("<tr>" + "".join(f'<td class="name">{c}</td>' if i < names else f"<td>{c}</td>"
                                     for i, c in enumerate(row)) + "</tr>")
    if total is not None:
        body.append('<tr class="total">' + "".join(f'<td class="name">{c}</td>' if i < names else f"<td>{c}</td>"
                                                   for i, c in enumerate(total)) + "</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    ident += ' class="text-last"' if text_last else ""
    cap = f"<caption class=small>{esc(caption)}</caption>" if caption else ""
    return f'<div class="scroll"><table{ident}>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def pair(chart: str, tables: str, *, wide: bool = False) -> str:
    return f'<div class="pair{" wide" if wide else ""}"><figure>{chart}</figure><div>{tables}</div></div>'


def _cell(value: int, key: str, stage: str) -> str:
    return f'<span data-account="{esc(key)}" data-stage="{esc(stage)}">{value}</span>'


def funnel_now(data: ReportData) -> str:
    keys = data.account_keys
    rows = []
    for key in keys:
        counts = data.stages_now.get(key, Counter())
        whole = sum(counts[s] for s in STAGES)
        rows.append([esc(key), *(f"{_cell(counts[s], key, s)} <span class=small>{pct(counts[s], whole)}</span>"
                                 for s in STAGES), str(whole)])
    overall = data.stages_now[ALL]
    whole = sum(overall[s] for s in STAGES)
    total = ["all accounts", *(f"{_cell(overall[s], ALL, s)} <span class=small>{pct(overall[s], whole)}</span>"
                               for s in STAGES), str(whole)]
    chart = charts.grouped_bars("funnel-now", "Contacts per stage now, per CRM account", STAGES,
                                {key: [data.stages_now.get(key, Counter())[s] for s in STAGES] for key in keys}
                                or {"all": [0] * len(STAGES)})
    return pair(chart, table(["account", *STAGES, "total"], rows, table_id="funnel-now", total=total,
                             caption="managed contacts by the stage of their last decision"), wide=True)


def _weekly_series(funnel: Funnel) -> dict[str, list[int]]:
    return {stage: [week[stage] for week in funnel.weekly] for stage in STAGES}


def funnel_weekly(data: ReportData) -> str:
    labels = [w.label for w in data.weeks]
    parts = []
    for key in [ALL, *data.account_keys]:
        funnel = data.funnels.get(key)
        if funnel is None:
            continue
        series = _weekly_series(funnel)
        title = "All accounts" if key == ALL else key
        chart = charts.stacked_bars(f"funnel-weekly-{key}", f"{title}: contacts per stage at the end of each week",
                                    labels, series, [charts.STAGE_COLOURS[s] for s in STAGES])
        rows = [[esc(label), *(str(series[s][i]) for s in STAGES)] for i, label in enumerate(labels)]
        parts.append(f"<h3>{esc(title)}</h3>" + pair(chart, table(
            ["week of", *STAGES], rows, table_id=f"funnel-weekly-{key}", caption="stage at the end of the week")))
    return "".join(parts)


def conversions(data: ReportData) -> str:
    rows = []
    for key in [*data.account_keys, ALL]:
        funnel = data.funnels.get(key)
        if funnel is None:
            continue
        cells = [esc("all accounts" if key == ALL else key)]
        for conv in funnel.conversions:
            cells.append(f"{pct(conv.rate)} <span class=small>{conv.converted} of {conv.entered}</span>")
        for stay in funnel.times:
            cells.append(f"{num(stay.median_days)} <span class=small>n={stay.stays}</span>")
        rows.append(cells)
    if not rows:
        return "<p>No stage history in the period.</p>"
    any_funnel = next(iter(data.funnels.values()))
    headers = ["account", *(f"{c.source} → {c.target}" for c in any_funnel.conversions),
               *(f"median days as {t.stage}" for t in any_funnel.times)]
    return table(headers, rows, table_id="conversions", caption=(
        "conversion: contacts in the stage at some point of the period that reached the next one (or beyond) "
        "within it; time in stage: stays that ended in the period, both ends dated"))


def sla_weekly(data: ReportData) -> str:
    labels = [w.label for w in data.weeks]
    series = {o: [week[o] for week in data.sla_weekly] for o in OUTCOMES}
    chart = charts.stacked_bars("sla-weekly", "SLA outcomes of hand-offs by the week they were due", labels, series,
                                [charts.SLA_COLOURS[o] for o in OUTCOMES])
    rows = [[esc(label), *(str(series[o][i]) for o in OUTCOMES),
             pct(series["met"][i], series["met"][i] + series["late"][i] + series["breached"][i])]
            for i, label in enumerate(labels)]
    return pair(chart, table(["week of", *OUTCOMES, "met %"], rows, table_id="sla-weekly",
                             caption="hand-offs by the week their due time fell in"))


def _touch_section(rows: Sequence[TouchTimes], what: str, table_id: str) -> str:
    if not rows:
        return f"<p>No first touch recorded in the period ({esc(what)}).</p>"
    shown = list(rows[:MAX_ROWS])
    chart = charts.horizontal_bars(
        table_id, f"Hours from hand-off to first touch per {what}: median and 95th percentile",
        [r.name for r in shown[:20]], {"P50 hours": [round(r.p50_hours or 0, 1) for r in shown[:20]],
                                       "P95 hours": [round(r.p95_hours or 0, 1) for r in shown[:20]]},
        [charts.OKABE_ITO["blue"], charts.OKABE_ITO["orange"]])
    body = [[esc(r.name), str(r.touched), num(r.p50_hours), num(r.p95_hours), str(r.met), str(r.late)]
            for r in shown]
    more = f"<p class=small>{len(rows) - len(shown)} more not shown.</p>" if len(rows) > len(shown) else ""
    return pair(chart, table([what, "touched", "P50 h", "P95 h", "met", "late"], body, table_id=table_id,
                             caption="wall-clock hours, slowest P95 first") + more)


def breaches(data: ReportData) -> str:
    if not data.breaches:
        return "<p>No open breach.</p>"
    shown = data.breaches[:MAX_ROWS]
    rows = [[esc(f"{o.breach.crm}/{o.breach.account}"), esc(o.breach.contact_id), esc(o.breach.owner_id or "-"),
             esc(when(o.breach.due_at)), esc(o.text)] for o in shown]
    more = (f"<p class=small>{len(data.breaches) - len(shown)} more open breaches not shown.</p>"
            if len(data.breaches) > len(shown) else "")
    return table(["account", "contact", "owner", "was due", "overdue"], rows, table_id="breaches", names=3,
                 caption=f"{len(data.breaches)} open, oldest first") + more


def reminders(data: ReportData) -> str:
    if not data.reminders:
        return ("<p>No SLA reminder, escalation or breach webhook in the period (reminders are off unless "
                "<code>sla.reminder.enabled</code>; escalation is set per account).</p>")
    keys = [key for key in data.reminders if key != ALL]
    rows = [[esc(key), *(str(value) for value in column_values(data.reminders[key]))] for key in keys]
    total = ["all accounts", *(str(value) for value in column_values(data.reminders[ALL]))]
    return table(["account", *(heading for heading, _ in REMINDER_COLUMNS)], rows, table_id="reminders",
                 total=total, caption="tasks crmsync wrote into the CRMs (by when they were decided) and what became "
                 "of them, breach webhooks, and rows skipped (no owner, no one to escalate to, a breach too old)")


def scores(data: ReportData) -> str:
    if not data.scores:
        return "<p>No scored contact.</p>"
    colours = [charts.STAGE_COLOURS.get(s.stage, charts.OKABE_ITO["black"]) for s in data.scores]
    chart = charts.boxes("scores", "Score distribution per stage (0 to 100)", {s.stage: s.scores for s in data.scores},
                         colours, range=(0, 100))
    rows = [[esc(s.stage), str(s.count), *(num(s.at(q), 0) for q in (0.0, 0.25, 0.5, 0.75, 1.0))] for s in data.scores]
    return pair(chart, table(["stage", "contacts", "min", "P25", "median", "P75", "max"], rows, table_id="scores",
                             caption="last decided score of each managed contact"))


def versions(data: ReportData) -> str:
    rows = []
    for use in data.versions:
        moves = ", ".join(f"{esc(a or 'new')} → {esc(b)}: {n}" for (a, b), n in sorted(
            use.moves.items(), key=lambda item: (-item[1], str(item[0]))))
        rows.append([f"<code>{esc(use.version)}</code>", str(use.contacts_now), esc(when(use.first_run)),
                     esc(when(use.last_run)), moves or "-"])
    text = table(["rules version", "contacts decided now", "first run", "last run", "stage moves in the period"],
                 rows, table_id="versions", caption="which rules decided what", text_last=True)
    if data.changes:
        items = "".join(f"<li>{esc(when(c.at))}: {esc(c.crm)}/{esc(c.account)} "
                        f"{'started with' if c.before is None else f'<code>{esc(c.before)}</code> →'} "
                        f"<code>{esc(c.after)}</code></li>" for c in data.changes)
        text += f"<h3>When the rules changed</h3><ul id=version-changes>{items}</ul>"
    else:
        text += "<p>The rules did not change during the period.</p>"
    return text


def calibration(data: ReportData) -> str:
    stored = data.calibration
    if stored is None:
        return ("<p>No calibration yet. <code>crmsync rules calibrate --since 180d --output proposed.yaml</code> "
                "proposes weights from won and lost deals; a person reviews and publishes them.</p>")
    result = stored.result
    sample = result.get("sample", {})
    head = (f"<p class=meta>Calibrated {esc(when(stored.created_at))} on {esc(when(stored.period_start))} to "
            f"{esc(when(stored.period_end))}, rules <code>{esc(stored.rules_version)}</code>; "
            f"{sample.get('won', 0)} won, {sample.get('lost', 0)} lost, {sample.get('open', 0)} still open; "
            f"minimum sample {result.get('min_sample', '-')} per rule. Nothing was applied: "
            f"{'proposed version <code>' + esc(stored.proposed_version) + '</code>' if stored.proposed_version else 'no proposal written'}."
            "</p>")
    pr = result.get("precision_recall", {})
    if pr:
        rows = [[esc(name), pct(v.get("precision")), pct(v.get("recall")), str(v.get("predicted", 0))]
                for name, v in pr.items()]
        head += table([f"at the threshold ({result.get('threshold', '-')})", "precision", "recall", "predicted won"],
                      rows, table_id="calibration-pr")
    rules = result.get("rules", [])
    with_lift = [r for r in rules if r.get("lift") is not None]
    chart = ""
    if with_lift:
        chart = charts.horizontal_bars(
            "calibration", "Lift of each rule among closed deals, with its 95% Wilson interval",
            [r["name"] for r in with_lift],
            {"lift": [{"value": round(r["lift"], 2), "ci": {"low": round(r["lift_low"], 2),
                                                             "high": round(r["lift_high"], 2)}} for r in with_lift]},
            [charts.OKABE_ITO["blue"]])
    body = []
    for r in rules:
        fired = r.get("fired", {})
        lift = ("-" if r.get("lift") is None else
                f"{r['lift']:.2f} <span class=small>[{r['lift_low']:.2f}, {r['lift_high']:.2f}]</span>")
        proposed = "-" if r.get("proposed") is None else f"{r['proposed']:g}"
        body.append([esc(r["name"]), esc(r.get("dimension", "")), str(fired.get("won", 0)), str(fired.get("lost", 0)),
                     str(fired.get("open", 0)), str(r.get("sample", 0)), lift, f"{r.get('current', 0):g}", proposed,
                     esc(r.get("verdict", ""))])
    rules_table = table(["rule", "dimension", "fired: won", "lost", "open", "n", "lift [95% CI]", "points",
                         "proposed", "verdict"], body, table_id="calibration-rules", names=2, text_last=True)
    return head + (pair(chart, rules_table, wide=True) if chart else rules_table)


def render(data: ReportData) -> str:
    """The whole page."""
    accounts = ", ".join(esc(k) for k in data.account_keys) or "none yet"
    notes = "".join(f"<p class=note>{esc(n)}</p>" for n in data.notes)
    sections = [
        ("funnel-now-section", "The funnel now", funnel_now(data)),
        ("funnel-weekly-section", "The funnel week by week", funnel_weekly(data)),
        ("conversions-section", "Conversion and time in stage", conversions(data)),
        ("sla-section", "The marketing → sales SLA", sla_weekly(data)),
        ("touch-team-section", "Time to first touch per team", _touch_section(data.touch_by_team, "team",
                                                                                "touch-team")),
        ("touch-owner-section", "Time to first touch per owner", _touch_section(data.touch_by_owner, "owner",
                                                                                  "touch-owner")),
        ("breaches-section", "Open breaches", breaches(data)),
        ("reminders-section", "SLA reminders and escalations", reminders(data)),
        ("scores-section", "Scores per stage", scores(data)),
        ("versions-section", "Rules versions", versions(data)),
        ("calibration-section", "Latest calibration", calibration(data)),
    ]
    body = "".join(f'<section id="{sid}"><h2>{esc(title)}</h2>{content}</section>' for sid, title, content in sections)
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>crmsync report {esc(data.generated_at.strftime('%Y-%m-%d'))}</title><style>{CSS}</style></head>"
            f"<body><main><h1>crmsync: funnel and SLA report</h1>"
            f"<p class=meta>Generated {esc(when(data.generated_at))} · period {esc(when(data.period.start))} to "
            f"{esc(when(data.period.end))} ({data.period.days} days, {len(data.weeks)} weeks) · accounts: {accounts}</p>"
            f"{notes}{body}</main></body></html>\n")


__all__ = ["render"]
