"""bench/latest.json and the table printed beside it: the same figures, two faces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scripts.bench.figures import CLIENT_BOUND_SHARE


def write_json(path: Path, machine: dict[str, Any], figures: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"machine": machine, "figures": figures}, indent=2) + "\n")
    temporary.replace(path)


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "error"
    if unit in ("ms", "KiB"):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,.0f}"


def _span(values: list[float] | None, unit: str) -> str:
    if not values:
        return ""
    low, high = values
    return f" ({_number(low, unit)}-{_number(high, unit)})"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _target(entry: dict[str, Any]) -> str:
    target = entry["target"]
    if target is None:
        return "-"
    sign = ">=" if entry["better"] == "higher" else "<="
    text = f"{sign} {target:g}"
    if "target_p99_ms" in entry:
        text += f" or < {entry['target_p99_ms']:g} ms"
    return text


def _met(entry: dict[str, Any]) -> str:
    met = entry.get("met")
    return "-" if met is None else ("yes" if met else "no")


def rows(figures: dict[str, Any]) -> list[list[str]]:
    table = [
        [
            "figure",
            "unit",
            "server (range)",
            "baseline (range)",
            "ratio",
            "target",
            "met",
            "client-bound",
            "others",
        ]
    ]
    for name, entry in figures.items():
        unit = entry["unit"]
        bound = ", ".join(entry["client_bound_sides"]) if entry["client_bound"] else "no"
        table.append(
            [
                name,
                unit,
                _number(entry["server"], unit) + _span(entry["server_range"], unit),
                _number(entry["baseline"], unit) + _span(entry["baseline_range"], unit),
                _ratio(entry["ratio"]),
                _target(entry),
                _met(entry),
                bound,
                _cores(entry.get("other_cpu_max")),
            ]
        )
        if "baseline_queued" in entry:
            table.append(
                [
                    f"{name} vs queued fan-out",
                    unit,
                    "",
                    _number(entry["baseline_queued"], unit)
                    + _span(entry["baseline_queued_range"], unit),
                    _ratio(entry["ratio_baseline_queued"]),
                    "-",
                    "-",
                    "",
                    "",
                ]
            )
    return table


def markdown(figures: dict[str, Any]) -> str:
    table = rows(figures)
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in table[1:]]
    return "\n".join(lines)


def text(machine: dict[str, Any], figures: dict[str, Any]) -> str:
    table = rows(figures)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [
        f"pm-server benchmark ({machine['profile']}, {machine['date']}, commit"
        f" {machine['commit']}{' + local changes' if machine['work_tree_dirty'] else ''})",
        f"{machine['cores']} cores {machine['cpu_model']}, {machine['memory_gib']} GiB,"
        f" kernel {machine['kernel']}, data on {machine['data_disk']}",
        f"Python {machine['python']} "
        + " ".join(f"{k} {v}" for k, v in machine["python_packages"].items())
        + f", SQLite {machine['sqlite']}",
        f"Node {machine['node']} "
        + " ".join(f"{k} {v}" for k, v in machine["node_packages"].items())
        + f"; RLIMIT_NOFILE {machine['rlimit_nofile']}",
        "",
    ]
    for index, row in enumerate(table):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines += [
        "",
        "ratio = median(server) / median(baseline); ranges are min-max over rounds;",
        f"client-bound: a load generator used more than {CLIENT_BOUND_SHARE:.0%} of a core;",
        "others: most cores other processes of the machine took during a measured window.",
    ]
    errors = [(name, e) for name, entry in figures.items() for e in entry.get("errors", [])]
    if errors:
        lines += ["", "errors:"] + [f"  {name}: {e.splitlines()[0][:200]}" for name, e in errors]
    return "\n".join(lines)
