"""A soak's outcome for a person: a table per night in the terminal, and an HTML page (a calendar of nights with
their faults, what the pipeline decided, and every message a person received, each marked a true or a false
alarm; totals per kind of message) with the JSON beside it."""

from __future__ import annotations

import datetime
import html
import json
from pathlib import Path
from typing import Any

from rich.table import Table

_KIND_NAMES = {
    "job_failed": "JOB FAILED message", "job_succeeded": "JOB SUCCEEDED message",
    "job_not_run_alarm": "JOB NOT RUN alarm", "job_not_run_ok": "JOB NOT RUN back to OK",
    "job_failed_alarm": "JOB FAILED alarm", "job_failed_ok": "JOB FAILED alarm back to OK",
    "job_not_run_insufficient_data": "JOB NOT RUN insufficient data",
    "job_failed_insufficient_data": "JOB FAILED alarm insufficient data",
    "error_handler_dead_letter": "dead letter the error handler kept",
}


def kind_name(kind: str) -> str:
    return _KIND_NAMES.get(kind, kind)


def night_table(outcome: dict[str, Any]) -> Table:
    """One row per night: date, job, faults, what happened, what a person received (true/false alarms)."""
    table = Table(title=f"soak {outcome['soak']}: {len(outcome['nights'])} nights", title_justify="left")
    for column in ("night", "date", "job", "faults", "loaded", "quarantined", "alerts (true/false)", "checks"):
        table.add_column(column, overflow="fold")
    for night in outcome["nights"]:
        alerts = [item for item in night["received"] if item["true_alarm"] is not None]
        true = sum(1 for item in alerts if item["true_alarm"])
        text = f"{len(alerts)} ({true}/{len(alerts) - true})" if alerts else "-"
        job = f"{night['files']} files" if night["ran"] else "skipped"
        checks = "-" if not night["ran"] else ("held" if night["passed"] else "BROKEN")
        table.add_row(str(night["night"]), night["date"], job, ", ".join(night["faults"]) or "-",
                      str(night["loaded"]) if night["ran"] else "-", str(len(night["quarantined"])) if night["ran"]
                      else "-", text, checks)
    return table


def totals_table(outcome: dict[str, Any]) -> Table:
    table = Table(title="what a person received", title_justify="left")
    for column in ("message", "total", "true alarms", "false alarms"):
        table.add_column(column)
    for kind, counts in outcome["totals"].items():
        informative = "information" in counts
        table.add_row(kind_name(kind), str(counts["total"]), "-" if informative else str(counts.get("true", 0)),
                      "-" if informative else str(counts.get("false", 0)))
    return table


def write_page(outcome: dict[str, Any], folder: Path) -> Path:
    """`<soak>.html` and `<soak>.json` in `folder`; returns the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{outcome['soak']}.json").write_text(json.dumps(outcome, indent=2, default=str), encoding="utf-8")
    page = folder / f"{outcome['soak']}.html"
    page.write_text(_page(outcome), encoding="utf-8")
    return page


_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px} table{border-collapse:collapse}
.calendar{display:grid;grid-template-columns:repeat(7,minmax(150px,1fr));gap:6px;margin:16px 0}
.weekday{font-weight:600;text-align:center;color:#555}
.night{border:1px solid #ccc;border-radius:6px;padding:6px;min-height:90px;background:#fff}
.night.skipped{background:#f3f3f3;color:#666}
.night.broken{border:2px solid #c62828}
.night h3{margin:0 0 4px;font-size:13px}
.fault{display:inline-block;background:#fff3e0;border-radius:4px;padding:0 4px;margin:1px;font-size:12px}
.msg{font-size:12px;margin:2px 0}
.true{color:#b71c1c} .false{color:#6a1b9a;font-style:italic} .info{color:#2e7d32}
.totals td,.totals th,.checks td,.checks th{border:1px solid #ccc;padding:4px 8px}
.held{color:#2e7d32} .brokentext{color:#c62828;font-weight:600}
"""


def _page(outcome: dict[str, Any]) -> str:
    nights = outcome["nights"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>soak {_e(outcome['soak'])}</title>",
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>Soak {_e(outcome['soak'])}: {len(nights)} nights, seed {outcome['seed']}</h1>",
             f"<p>{_e(outcome.get('file') or '')}: {outcome['wall_seconds']} s of wall time.</p>",
             _checks(outcome), _totals(outcome), "<h2>Nights</h2>", _deploy(outcome), _calendar(nights),
             "</body></html>"]
    return "\n".join(parts)


def _checks(outcome: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{_e(check['name'])}</td><td class='{'held' if check['held'] else 'brokentext'}'>"
                   f"{'held' if check['held'] else 'BROKEN'}</td><td>{_e(check['detail'])}</td></tr>"
                   for check in outcome["invariants"])
    return ("<h2>Invariants</h2><table class='checks'><tr><th>invariant</th><th>outcome</th><th>detail</th></tr>"
            f"{rows}</table>")


def _totals(outcome: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{_e(kind_name(kind))}</td><td>{counts['total']}</td><td>{counts.get('true', '-')}</td>"
                   f"<td>{counts.get('false', '-')}</td></tr>" for kind, counts in outcome["totals"].items())
    rows = rows.replace("<td>-</td><td>-</td></tr>", "<td colspan='2'>information</td></tr>")
    return ("<h2>What a person received</h2><table class='totals'><tr><th>message</th><th>total</th>"
            f"<th>true alarms</th><th>false alarms</th></tr>{rows}</table>")


def _deploy(outcome: dict[str, Any]) -> str:
    """What came before the first night: the alarms' evaluation at their creation."""
    items = "".join(_message(item) for item in outcome.get("before_first_night", []))
    if not items:
        return ""
    return f"<div class='night deploy' data-night='0'><h3>At the deploy, before the first night</h3>{items}</div>"


def _calendar(nights: list[dict[str, Any]]) -> str:
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    cells = [f"<div class='weekday'>{day}</div>" for day in days]
    if nights:
        first = datetime.date.fromisoformat(nights[0]["date"])
        cells += ["<div></div>"] * first.weekday()
    cells += [_night_cell(night) for night in nights]
    return f"<div class='calendar'>{''.join(cells)}</div>"


def _night_cell(night: dict[str, Any]) -> str:
    classes = "night" + ("" if night["ran"] else " skipped") + ("" if night["passed"] else " broken")
    faults = "".join(f"<span class='fault'>{_e(kind)}</span>" for kind in night["faults"])
    summary = (f"{night['files']} files, {night['loaded']} loaded, {len(night['quarantined'])} quarantined"
               if night["ran"] else "job not run")
    messages = "".join(_message(item) for item in night["received"] if item["kind"] != "job_succeeded")
    succeeded = sum(1 for item in night["received"] if item["kind"] == "job_succeeded")
    if succeeded:
        messages += f"<div class='msg info'>{succeeded} JOB SUCCEEDED</div>"
    broken = ("" if night["passed"] else
              f"<div class='msg brokentext'>invariant broken: replay {_e(night['replay'])}</div>")
    if night["passed"] and night["replay"]:
        broken = f"<div class='msg brokentext'>no JOB NOT RUN page: replay {_e(night['replay'])}</div>"
    return (f"<div class='{classes}' data-night='{night['night']}'><h3>{night['night']}: {night['date']}</h3>"
            f"{faults}<div class='msg'>{summary}</div>{messages}{broken}</div>")


def _message(item: dict[str, Any]) -> str:
    mark = "info" if item["true_alarm"] is None else ("true" if item["true_alarm"] else "false")
    label = {"info": "", "true": "true alarm: ", "false": "false alarm: "}[mark]
    return f"<div class='msg {mark}' title='{_e(item['why'])}'>{label}{_e(kind_name(item['kind']))}</div>"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
