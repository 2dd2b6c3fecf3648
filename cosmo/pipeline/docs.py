"""The pipeline's documentation, generated from the registry (``cosmo steps docs``; docs/pipeline.md
is this text, and a test keeps it so)."""

from __future__ import annotations

from cosmo.pipeline.registry import FLOWS, asset_uri, assets, flow_params, flow_steps, upstream


def _starts(flow) -> str:
    parts = []
    if flow.schedule:
        parts.append(f"on the schedule `{flow.schedule}`")
    if flow.triggered_by:
        parts.append("when " + " or ".join(f"`{a}`" for a in flow.triggered_by) + " is published")
    return " and ".join(parts) or "when triggered"


def pipeline_markdown() -> str:
    from cosmo.catalog import DATASETS

    lines = ["# The pipeline", "",
             "Generated from the step registry (`cosmo/pipeline/registry.py`) by `cosmo steps docs`: do not edit.",
             "Each flow is an Airflow DAG (`dags/`), each step one of its tasks and `cosmo step NAME`; "
             "`cosmo refresh` runs the daily refresh and the flows it sets off, in this order.", ""]
    for flow in FLOWS.values():
        lines += [f"## `{flow.dag_id}`", "", f"{flow.doc} Starts {_starts(flow)}.", "",
                  "| step | runs | after | reads | writes | publishes | timeout, retries |",
                  "|---|---|---|---|---|---|---|"]
        for step in flow_steps(flow.name):
            cells = [f"`{step.name}`", step.where, ", ".join(upstream(step)) or "-", ", ".join(step.reads) or "-",
                     ", ".join(step.writes) or "-", ", ".join(step.announces) or "-",
                     f"{step.timeout_minutes} min, {step.retries}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [""]
        for step in flow_steps(flow.name):
            lines.append(f"- `{step.name}`: {step.doc}" + (f" Only with the param `{step.enabled_by}`."
                                                          if step.enabled_by else ""))
        lines += ["", "Params (the trigger form):", ""]
        for param in flow_params(flow):
            setting = f" (sets `{param.setting}`)" if param.setting else ""
            lines.append(f"- `{param.name}`: {param.description}{setting}")
        lines.append("")
    lines += ["## Assets", "", "| asset | URI | what |", "|---|---|---|"]
    for name, description in assets().items():
        what = description or (DATASETS[name].description if name in DATASETS else "")
        lines.append(f"| `{name}` | `{asset_uri(name)}` | {what} |")
    return "\n".join(lines) + "\n"
