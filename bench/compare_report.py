"""Draws bench/results/compare.png and rewrites README's comparison table from
bench/results/compare.json (written by bench/compare.py).

The table goes between `<!-- compare-table:start -->` and `<!-- compare-table:end -->` in
README.md; each cell is the median over the repetitions with the spread (min-max).
Needs matplotlib: `python3 -m uv run --group compare-bench python bench/compare_report.py`.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SYSTEMS = {"kubedag": "kubedag", "argo": "Argo (10 s requeue)", "argo-1s": "Argo (1 s requeue)"}
METRICS = {
    "wall_s": "wall time, create → all done (s)",
    "tasks_per_s": "tasks/s",
    "reaction_p50_ms": "upstream done → next pod created, p50 (ms)",
    "reaction_p95_ms": "upstream done → next pod created, p95 (ms)",
    "controller_cpu_ms_per_task": "controller CPU per task (ms)",
    "api_requests_per_task": "API requests per task (all clients)",
    "api_writes_per_task": "API writes per task (all clients)",
    "controller_peak_rss_mib": "controller peak RSS (MiB)",
}
DASH = "\N{EN DASH}"
START, END = "<!-- compare-table:start -->", "<!-- compare-table:end -->"


def cell(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "—"
    if stats["runs"] == 1 or stats["min"] == stats["max"]:
        return f"{stats['median']:g}"
    return f"{stats['median']:g} ({stats['min']:g}{DASH}{stats['max']:g})"


def table(data: dict[str, Any]) -> str:
    """A Markdown table: one row per scenario and metric, one column per system, and the
    kubedag/Argo ratios of the medians."""
    systems = [s for s in SYSTEMS if any(s in per for per in data["summary"].values())]
    ratios = [f"kubedag/{s}" for s in systems if s != "kubedag" and "kubedag" in systems]
    header = ["scenario", "metric", *(SYSTEMS[s] for s in systems), *ratios]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    sizes = data["conditions"]["sizes"]
    for scenario, per in data["summary"].items():
        label = scenario_label(scenario, sizes)
        for metric, title in METRICS.items():
            if not any(metric in per.get(s, {}) for s in systems):
                continue
            row = [label, title, *(cell(per.get(s, {}).get(metric)) for s in systems)]
            row += [f"{per[r][metric]:g}" if metric in per.get(r, {}) else "—" for r in ratios]
            lines.append("| " + " | ".join(row) + " |")
            label = ""
    return "\n".join(lines)


def scenario_label(scenario: str, sizes: dict[str, Any]) -> str:
    if scenario == "chain":
        return f"chain of {sizes['chain']}"
    if scenario == "wide":
        return f"{sizes['wide']} independent"
    if scenario == "huge":
        return f"{sizes['huge']} independent"
    if scenario == "lattice":
        width, depth = sizes["lattice"]
        return f"{width}\N{MULTIPLICATION SIGN}{depth} lattice"
    return f"{sizes['concurrent']} workflows of 3"


def chart(data: dict[str, Any], path: Path) -> None:
    """One panel per metric; bars per scenario and system, whiskers from min to max."""
    scenarios = list(data["summary"])
    systems = [s for s in SYSTEMS if any(s in per for per in data["summary"].values())]
    figure, grid = plt.subplots(4, 2, figsize=(15, 13))
    axes = list(grid.flat)
    width = 0.8 / max(1, len(systems))
    for axis, metric in zip(axes, METRICS, strict=True):
        for index, system in enumerate(systems):
            stats = [data["summary"][s].get(system, {}).get(metric) for s in scenarios]
            medians = [st["median"] if st else 0 for st in stats]
            low = [st["median"] - st["min"] if st else 0 for st in stats]
            high = [st["max"] - st["median"] if st else 0 for st in stats]
            positions = [i + index * width for i in range(len(scenarios))]
            axis.bar(positions, medians, width, yerr=[low, high], label=SYSTEMS[system])
        axis.set_title(METRICS[metric], fontsize=10)
        axis.set_xticks([i + width * (len(systems) - 1) / 2 for i in range(len(scenarios))])
        sizes = data["conditions"]["sizes"]
        axis.set_xticklabels([scenario_label(s, sizes) for s in scenarios], fontsize=8)
    axes[0].legend(fontsize=8)
    label = f" [{data['label']}]" if data.get("label") else ""
    figure.suptitle(f"kubedag and Argo Workflows, {data['conditions']['date']}{label}")
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    figure.savefig(path, dpi=80)


def update_readme(readme: Path, text: str) -> None:
    """Replaces what is between the markers; raises ValueError if they are missing."""
    content = readme.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(content):
        raise ValueError(f"{readme} has no {START} ... {END} markers")
    readme.write_text(pattern.sub(lambda _: f"{START}\n{text}\n{END}", content))


def shown(path: str) -> str:
    """The path relative to the repository when it is inside it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(resolved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", default=str(RESULTS / "compare.json"))
    parser.add_argument("--chart", default=str(RESULTS / "compare.png"))
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    args = parser.parse_args()
    data = json.loads(Path(args.input).read_text())
    chart(data, Path(args.chart))
    conditions = data["conditions"]
    label = f"**{data['label']}** — " if data.get("label") else ""
    note = (
        f"{label}`make bench-compare`, {conditions['date']}, kubedag {conditions['kubedag']}, "
        f"Argo Workflows v{conditions['argo_workflows']}, Kubernetes "
        f"{conditions['kubernetes']}, {conditions['machine']['cpus']} cores shared with the "
        f"control plane (the label says what else ran). Median (min{DASH}max) over "
        f"{max(r['rep'] for r in data['runs'])} repetition(s); raw runs and conditions in "
        f"`{shown(args.input)}`, chart in `{shown(args.chart)}`."
    )
    update_readme(Path(args.readme), note + "\n\n" + table(data))
    print(f"wrote {args.chart} and the table in {args.readme}")


if __name__ == "__main__":
    main()
