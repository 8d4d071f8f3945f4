"""The report you look at: one self-contained HTML page per scenario (inline CSS and SVG, no script, no
network), the same events as JSON for machines, and an index of a suite's pages.

The page draws `Report.events` (see `events.py`) as a timeline, one lane per function, topic and alarm,
lists the expectations, each linked to its deadline on the timeline and to the events it is about, and
shows each attempt's function log lines, linked from its bar.
"""

from __future__ import annotations

import fnmatch
import json
import re
from html import escape
from pathlib import Path
from typing import Any

from harness.format.catalog import FUNCTIONS, TOPICS

from .report import Outcome, Report

FUNCTION_LANES = tuple(FUNCTIONS)
TOPIC_LANES = tuple(TOPICS)
COLOURS = {"ok": "#2e7d32", "error": "#c62828", "killed": "#6a1b9a", "timeout": "#ef6c00", "running": "#9e9e9e"}
LEFT, WIDTH, LANE, TOP, SLOT = 170, 1000, 34, 30, 24
# The events an expectation is about: (event type, lane) pairs it reads, by kind.
LINKS_PER_OUTCOME = 12

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } .pass { color: #2e7d32; } .fail { color: #c62828; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 3px 6px;
vertical-align: top; text-align: left; } tr.fail td { background: #fdecea; } tr:target td { background: #fff8c4; }
svg text { font: 11px sans-serif; } .lane-label { font-weight: bold; } .legend span { padding: 0 0.6em; }
.note { color: #666; } code { font-size: 0.95em; }
details.attempt-log pre { background: #f5f5f5; padding: 6px; overflow-x: auto; margin: 0.3em 0 0.8em 1.5em; }
details.attempt-log:target summary { background: #fff8c4; }
svg :target { stroke: #000; stroke-width: 3; }
"""


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "scenario"


def scenario_data(name: str, report: Report | None, error: str | None = None, seconds: float = 0.0,
                  source_file: str = "") -> dict[str, Any]:
    """What the JSON file holds: the verdict, the outcomes with their linked events, and the events."""
    outcomes = report.outcomes if report is not None else []
    events = report.events if report is not None else []
    return {
        "scenario": name,
        "file": source_file,
        "passed": error is None and report is not None and report.passed,
        "error": error,
        "seconds": seconds,
        "elapsed": report.elapsed if report is not None else None,
        "timing": report.timing if report is not None else "",
        "pending": report.pending if report is not None else [],
        "expectations": [
            {"index": index, "kind": outcome.kind, "location": outcome.location, "passed": outcome.passed,
             "expected": outcome.expected, "observed": outcome.observed, "note": outcome.note,
             "deadline": outcome.deadline, "decided_at": outcome.decided_at,
             "events": linked_events(outcome, events)}
            for index, outcome in enumerate(outcomes)
        ],
        "events": events,
    }


def linked_events(outcome: Outcome, events: list[dict[str, Any]]) -> list[str]:
    """IDs of the events an expectation is about, by the lanes its kind names (`report_lanes`)."""
    wanted = outcome.expectation.report_lanes()
    return [event["id"] for event in events
            if any(event["type"] == kind and fnmatch.fnmatchcase(event["lane"], lane) for kind, lane in wanted)]


def lanes(events: list[dict[str, Any]]) -> list[str]:
    """The timeline's lanes: the job, then the seed pipeline's functions and topics in their order, then
    every other lane as the events name them."""
    names = ["job", *FUNCTION_LANES, *TOPIC_LANES]
    names = [name for name in names if name == "job" or any(event["lane"] == name for event in events)]
    names += sorted({event["lane"] for event in events} - set(names))
    return names


def render_page(data: dict[str, Any]) -> str:
    name = data["scenario"]
    verdict = "passed" if data["passed"] else "FAILED"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"/>',
        f"<title>{escape(name)}: {verdict}</title><style>{CSS}</style></head><body>",
        f'<h1>Scenario <code>{escape(name)}</code> <span class="{"pass" if data["passed"] else "fail"}">'
        f"{verdict}</span></h1>",
        f'<p class="note">{escape(data["file"])}; {data["seconds"]:.1f} s; '
        f'<a href="{escape(safe_name(name))}.json">events as JSON</a>; <a href="index.html">all scenarios</a></p>',
    ]
    if data.get("timing"):
        parts.append(f'<p id="timing" class="note">Time: {escape(data["timing"])}</p>')
    if data["error"]:
        parts.append(f'<pre class="fail">{escape(data["error"])}</pre>')
    parts.append("<h2>Timeline</h2>")
    parts.append(_legend())
    parts.append(render_svg(data["events"], data["expectations"]))
    parts.append("<h2>Expectations</h2>")
    parts.append(_expectations_table(data["expectations"]))
    if data["pending"]:
        parts.append("<p>Not settled when evaluation stopped:</p><ul>")
        parts += [f"<li>{escape(reason)}</li>" for reason in data["pending"]]
        parts.append("</ul>")
    parts.append(_log_section(data["events"]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _log_section(events: list[dict[str, Any]]) -> str:
    """Each attempt's function log lines, START to REPORT, linked from its bar on the timeline."""
    attempts = [event for event in events if event["type"] == "attempt"]
    parts = ['<h2 id="logs">Function log lines</h2>']
    if not attempts:
        parts.append('<p class="note">No attempts.</p>')
    for event in attempts:
        lines = event.get("log") or []
        summary = (f'+{event["t"]:.2f} s {escape(event["function"])} attempt {event["attempt"]} '
                   f'(request {escape(str(event["request_id"]))}), {escape(event["status"])}')
        body = (f'<pre>{escape(chr(10).join(lines))}</pre>' if lines else
                '<p class="note">No lines: CloudWatch Logs had none for this attempt when the report was made.</p>')
        parts.append(f'<details id="log-{event["id"]}" class="attempt-log" data-of="{event["id"]}" '
                     f'data-lines="{len(lines)}"><summary><a href="#{event["id"]}">{summary}</a> '
                     f"({len(lines)} lines)</summary>{body}</details>")
    return "\n".join(parts)


def _legend() -> str:
    items = "".join(f'<span style="color:{colour}">&#9632; {status}</span>' for status, colour in COLOURS.items())
    return (f'<p class="legend">{items}<span>| &#9679; message</span><span>&#9670; alarm state</span>'
            "<span>&#9650; decision</span><span>&#8594; re-shard</span><span>| dashed: deadline</span></p>")


def render_svg(events: list[dict[str, Any]], expectations: list[dict[str, Any]]) -> str:
    names = lanes(events)
    slot = _slots(events)
    heights = {lane: LANE + SLOT * max([slot[e["id"]] for e in events if e["lane"] == lane and e["id"] in slot] or [0])
               for lane in names}
    row: dict[str, float] = {}
    y = float(TOP)
    for lane in names:
        row[lane], y = y, y + heights[lane]
    moments = [0.0] + [event["t"] for event in events] + [event.get("end", event["t"]) for event in events]
    moments += [item["deadline"] for item in expectations] + [item["decided_at"] for item in expectations]
    t0, t1 = min(moments), max(moments)
    span = max(t1 - t0, 1.0)

    def x(moment: float) -> float:
        return round(LEFT + (moment - t0) / span * WIDTH, 2)

    height = round(y) + 10
    out = [f'<svg id="timeline" width="{LEFT + WIDTH + 30}" height="{height}" '
           f'viewBox="0 0 {LEFT + WIDTH + 30} {height}" role="img">',
           '<defs><marker id="arrowhead" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
           '<path d="M0,0 L8,4 L0,8 z" fill="#1565c0"/></marker></defs>']
    for lane in names:
        y = row[lane]
        out.append(f'<g id="lane-{escape(lane.replace(":", "-"))}" class="lane" data-lane="{escape(lane)}">'
                   f'<rect x="0" y="{y}" width="{LEFT + WIDTH + 30}" height="{heights[lane]}" '
                   f'fill="{_shade(names, lane)}"/>'
                   f'<text class="lane-label" x="6" y="{y + LANE / 2 + 4}">{escape(lane)}</text></g>')
    for second in _ticks(t0, t1):
        out.append(f'<line x1="{x(second)}" y1="{TOP - 4}" x2="{x(second)}" y2="{height - 10}" stroke="#ddd"/>'
                   f'<text x="{x(second)}" y="{TOP - 8}" text-anchor="middle">{second:g} s</text>')
    by_id = {event["id"]: event for event in events}
    for event in events:
        out.append(_event_svg(event, row[event["lane"]] + SLOT * slot.get(event["id"], 0), x))
    for event in events:
        for child in event.get("child_attempts", []):
            target = by_id[child]
            out.append(
                f'<line id="arrow-{event["id"]}-{child}" class="reshard-arrow" data-from="{event["id"]}" '
                f'data-to="{child}" x1="{x(event["t"])}" y1="{row[event["lane"]] + LANE / 2}" x2="{x(target["t"])}" '
                f'y2="{row[target["lane"]] + SLOT * slot[child] + LANE / 2}" stroke="#1565c0" stroke-width="1.5" '
                f'marker-end="url(#arrowhead)"><title>re-shard {escape(str(event["shard_id"]))} -&gt; '
                f'{escape(str(target["shard_id"]))}</title></line>')
    for item in expectations:
        colour = COLOURS["ok"] if item["passed"] else COLOURS["error"]
        out.append(f'<line id="deadline-{item["index"]}" class="deadline" data-t="{item["deadline"]:.3f}" '
                   f'x1="{x(item["deadline"])}" y1="{TOP}" x2="{x(item["deadline"])}" y2="{height - 10}" '
                   f'stroke="{colour}" stroke-dasharray="4 3"><title>deadline of expectation {item["index"] + 1} '
                   f'({escape(item["kind"])} at {escape(item["location"])}): +{item["deadline"]:.2f} s</title></line>')
    out.append("</svg>")
    return "\n".join(out)


def _slots(events: list[dict[str, Any]]) -> dict[str, int]:
    """A sub-row per attempt, so attempts that overlap in time on one lane are drawn one above the other."""
    slots: dict[str, int] = {}
    busy_until: dict[str, list[float]] = {}
    for event in events:
        if event["type"] != "attempt":
            continue
        ends = busy_until.setdefault(event["lane"], [])
        free = next((i for i, end in enumerate(ends) if end <= event["t"]), len(ends))
        if free == len(ends):
            ends.append(0.0)
        ends[free] = max(event["end"], event["t"] + 0.05)
        slots[event["id"]] = free
    return slots


def _shade(names: list[str], lane: str) -> str:
    return "#f7f7f7" if names.index(lane) % 2 else "#ffffff"


def _ticks(t0: float, t1: float) -> list[float]:
    span = t1 - t0
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1e9) if span / s <= 20)
    first = int(t0 // step) * step
    return [first + i * step for i in range(int((t1 - first) / step) + 1) if first + i * step >= t0]


def _event_svg(event: dict[str, Any], y: float, x: Any) -> str:
    eid, moment, middle = event["id"], event["t"], y + LANE / 2
    common = f'id="{eid}" data-t="{moment:.3f}" data-lane="{escape(event["lane"])}"'
    title = f"<title>+{moment:.2f} s {escape(_describe(event))}</title>"
    if event["type"] == "attempt":
        colour = COLOURS.get(event["status"], "#000")
        start, end = x(moment), x(event["end"])
        svg = (f'<a href="#log-{eid}"><rect {common} class="attempt status-{event["status"]}" '
               f'data-end="{event["end"]:.3f}" x="{start}" y="{y + 6}" width="{max(end - start, 2)}" '
               f'height="{LANE - 12}" fill="{colour}" fill-opacity="0.8">{title}</rect></a>')
        if event["status"] in ("timeout", "killed"):
            limit = x(event["timeout_at"])
            svg += (f'<line class="timeout-mark" data-of="{eid}" data-t="{event["timeout_at"]:.3f}" x1="{limit}" '
                    f'y1="{y + 2}" x2="{limit}" y2="{y + LANE - 2}" stroke="#b71c1c" stroke-width="2">'
                    f"<title>Timeout at +{event['timeout_at']:.2f} s</title></line>")
        return svg
    if event["type"] == "alarm":
        cx = x(moment)
        colour = {"ALARM": "#c62828", "OK": "#2e7d32"}.get(event["new_state"], "#9e9e9e")
        return (f'<path {common} class="marker alarm" d="M{cx},{middle - 7} L{cx + 7},{middle} L{cx},{middle + 7} '
                f'L{cx - 7},{middle} z" fill="{colour}">{title}</path>'
                f'<text x="{cx + 9}" y="{middle + 4}">{escape(str(event["new_state"]))}</text>')
    if event["type"] == "decision":
        cx = x(moment)
        return (f'<path {common} class="marker decision" d="M{cx},{y + 3} L{cx + 7},{y + 15} L{cx - 7},{y + 15} z" '
                f'fill="#1565c0">{title}</path>')
    colour = {"dlq": "#c62828", "error_handler_dlq": "#880e4f", "run": "#000"}.get(
        event.get("topic") or event["type"], "#455a64")
    kind = "dead-letter" if event.get("topic") in ("dlq", "error_handler_dlq") else event["type"]
    return (f'<circle {common} class="marker {kind}" cx="{x(moment)}" cy="{middle}" r="5" fill="{colour}">'
            f"{title}</circle>")


def _describe(event: dict[str, Any]) -> str:
    kind = event["type"]
    if kind == "run":
        return f"run {event['run']} of the job submitted"
    if kind == "attempt":
        files = _files(event["file_ids"])
        return (f"{event['function']} attempt {event['attempt']} (request {event['request_id']}) "
                f"{event.get('unit') or 'shard ' + str(event['shard_id'])} {files}: fault {event['fault'] or 'none'}, "
                f"{event['status']}, "
                f"until +{event['end']:.2f} s")
    if kind == "message":
        text = f"{event['topic']}: {event['subject'] or ''} shard {event['shard_id']} {_files(event['file_ids'])}"
        return text + (f" ErrorMessage={event['error_message']}" if event["error_message"] else "")
    if kind == "alarm":
        return f"alarm {event['alarm']}: {event['old_state']} -> {event['new_state']}: {event['reason']}"
    children = ", ".join(event["child_shards"])
    return (f"error handler: {event['action']} shard {event['shard_id']} ({event['reason']})"
            + (f" into {children}" if children else "") + (f": {event['detail']}" if event["detail"] else ""))


def _files(files: list[str]) -> str:
    if not files:
        return ""
    return f"{files[0]}..{files[-1]} ({len(files)} files)" if len(files) > 1 else files[0]


def _expectations_table(expectations: list[dict[str, Any]]) -> str:
    rows = ['<table id="expectations"><tr><th>#</th><th>verdict</th><th>kind</th><th>location</th>'
            "<th>expected</th><th>observed</th><th>deadline</th><th>decided</th><th>events</th></tr>"]
    for item in expectations:
        verdict = "pass" if item["passed"] else "fail"
        links = [f'<a href="#deadline-{item["index"]}">deadline</a>']
        links += [f'<a href="#{eid}">{eid}</a>' for eid in item["events"][:LINKS_PER_OUTCOME]]
        if len(item["events"]) > LINKS_PER_OUTCOME:
            links.append(f"and {len(item['events']) - LINKS_PER_OUTCOME} more")
        observed = item["observed"] + (f" ({item['note']})" if item["note"] else "")
        rows.append(
            f'<tr id="exp-{item["index"]}" class="expectation {verdict}" data-verdict="{verdict}">'
            f'<td>{item["index"] + 1}</td><td class="{verdict}">{verdict.upper()}</td><td>{escape(item["kind"])}</td>'
            f'<td><code>{escape(item["location"])}</code></td><td>{escape(item["expected"])}</td>'
            f'<td>{escape(observed)}</td><td>+{item["deadline"]:.2f} s</td><td>+{item["decided_at"]:.2f} s</td>'
            f'<td>{" ".join(links)}</td></tr>')
    rows.append("</table>")
    return "\n".join(rows)


def render_index(entries: list[dict[str, Any]], earlier: list[dict[str, Any]] | None = None) -> str:
    """The index of this run's pages, then of the pages earlier runs left in the same folder."""
    passed = sum(1 for entry in entries if entry["passed"])
    parts = [f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/><title>harness: {passed} of '
             f"{len(entries)} passed</title><style>{CSS}</style></head><body>\n"
             f"<h1>{passed} of {len(entries)} scenarios passed</h1>\n", _index_table("scenarios", entries)]
    if earlier:
        parts.append(f"<h2>Earlier runs in this folder ({len(earlier)} pages, kept)</h2>\n")
        parts.append(_index_table("earlier", earlier))
    return "".join(parts) + "</body></html>\n"


def _index_table(table_id: str, entries: list[dict[str, Any]]) -> str:
    rows = "\n".join(
        f'<tr class="{"pass" if e["passed"] else "fail"}"><td><a href="{escape(e["page"])}">{escape(e["scenario"])}'
        f'</a></td><td>{"passed" if e["passed"] else "FAILED"}</td><td>{e["seconds"]:.1f}</td>'
        f'<td><a href="{escape(e["json"])}">json</a></td></tr>'
        for e in entries
    )
    return (f'<table id="{table_id}"><tr><th>scenario</th><th>result</th><th>seconds</th><th>events</th></tr>\n'
            f"{rows}\n</table>\n")


def write_scenario_report(directory: Path, result: Any) -> dict[str, Any]:
    """Write `<scenario>.html` and `<scenario>.json` for one result (a `harness.runner.ScenarioResult`);
    returns its entry for the index."""
    directory.mkdir(parents=True, exist_ok=True)
    name = result.scenario.name
    data = scenario_data(name, getattr(result, "report", None), error=getattr(result, "error", None),
                         seconds=float(getattr(result, "seconds", 0.0)),
                         source_file=str(getattr(result.scenario, "source_file", "") or ""))
    stem = safe_name(name)
    (directory / f"{stem}.json").write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    (directory / f"{stem}.html").write_text(render_page(data), encoding="utf-8")
    return index_entry(data, directory / f"{stem}.html")


def index_entry(data: dict[str, Any], page: Path) -> dict[str, Any]:
    return {"scenario": data["scenario"], "passed": data["passed"], "seconds": data["seconds"],
            "page": page.name, "json": page.with_suffix(".json").name, "path": page}


def entry_of_page(page: Path) -> dict[str, Any]:
    """The index entry of a page written earlier (by another process: a pytest-xdist worker), from its JSON."""
    return index_entry(json.loads(page.with_suffix(".json").read_text(encoding="utf-8")), page)


def write_index(directory: Path, entries: list[dict[str, Any]]) -> Path:
    """`index.html`: the pages of `entries`, then every other page an earlier run left in the folder."""
    directory.mkdir(parents=True, exist_ok=True)
    index = directory / "index.html"
    index.write_text(render_index(entries, _earlier_pages(directory, {e["page"] for e in entries})), encoding="utf-8")
    return index


def _earlier_pages(directory: Path, current: set[str]) -> list[dict[str, Any]]:
    earlier = []
    for page in sorted(directory.glob("*.html")):
        if page.name == "index.html" or page.name in current or not page.with_suffix(".json").is_file():
            continue
        try:
            earlier.append(entry_of_page(page))
        except (ValueError, KeyError):
            continue  # not one of ours
    return earlier


def write_reports(directory: Path, results: list[Any]) -> dict[str, Path]:
    """Write `<scenario>.html`, `<scenario>.json` per result and `index.html`; returns each page by scenario."""
    entries = [write_scenario_report(directory, result) for result in results]
    write_index(directory, entries)
    return {entry["scenario"]: entry["path"] for entry in entries}
