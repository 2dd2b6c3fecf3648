"""The step registry is the one statement of the pipeline's order: sound declarations, the docs
generated from it, the runner's order and skips, run params as settings, and package layering."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from cosmo.catalog import DATASETS
from cosmo.pipeline import registry
from cosmo.pipeline.registry import FLOWS, STEPS, check_registry, flow_steps, get_step, upstream

REPO = Path(__file__).resolve().parents[2]


def test_declarations_are_sound():
    assert check_registry(DATASETS) == []
    assert list(FLOWS) == ["daily_refresh", "annotation", "retrain", "deploy", "feedback", "evaluate"]


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.name)
def test_every_step_names_a_function(step):
    assert callable(getattr(importlib.import_module(step.module), step.function))


def test_daily_refresh_order_follows_the_data():
    order = [s.name for s in flow_steps("daily_refresh")]
    for before, after in (("ingest", "sample"), ("sample", "generate_candidates"),
                          ("generate_candidates", "filter_candidates"), ("filter_candidates", "score_candidates")):
        assert order.index(before) < order.index(after)
        assert before in upstream(get_step(after))
    assert upstream(get_step("ingest")) == ["generate_sample_shop", "wait_for_raw_logs"]
    assert "smoke_test_critic" in upstream(get_step("rescore_candidates"))


def test_flows_are_chained_by_what_they_publish():
    published = {a for s in STEPS for a in s.announces}
    assert FLOWS["annotation"].triggered_by == ("filtered_candidates",)
    assert "annotation_labels" not in get_step("machine_annotate").announces  # only once the batch is reviewed
    assert set(FLOWS["retrain"].triggered_by) <= published and set(FLOWS["deploy"].triggered_by) <= published


def test_params_become_settings_overrides():
    overrides = registry.overrides_from_params(FLOWS["daily_refresh"], {
        "relations": ["USED_FOR_EVE"], "max_pairs_per_day": 5, "domains": [], "critic_alias": None,
        "config_overrides": {"generation": {"temperature": 0.2}}})
    assert overrides == {"generation": {"temperature": 0.2, "relations": ["USED_FOR_EVE"], "max_pairs_per_day": 5}}
    from cosmo.config import Settings

    assert Settings(**overrides).generation.relations == ["USED_FOR_EVE"]


def test_the_docs_are_generated_from_the_registry():
    from cosmo.pipeline.docs import pipeline_markdown

    assert (REPO / "docs" / "pipeline.md").read_text() == pipeline_markdown(), \
        "docs/pipeline.md is stale: run `cosmo steps docs --out docs/pipeline.md`"


def test_unknown_steps_are_named():
    with pytest.raises(KeyError, match="unknown step 'nope'; known: generate_sample_shop"):
        get_step("nope")
    assert get_step("filter-candidates").name == "filter_candidates"


def test_a_skipped_step_skips_what_needs_it(monkeypatch, settings):
    from cosmo.errors import StepSkipped
    from cosmo.pipeline import runner

    ran = []

    def fake(step):
        def function(ds, settings):
            ran.append(step.name)
            if step.where == "wait":
                return True, "ready"
            if step.name == "generate_candidates":
                raise StepSkipped("nothing sampled")
            return {}
        return function

    monkeypatch.setattr(runner, "step_function", fake)
    outcomes = {o.step: o for o in runner.run_flow("daily_refresh", "2026-11-21", settings)}
    assert outcomes["generate_sample_shop"].skipped.startswith("off")  # its param is off; ingest still runs
    assert "ingest" in ran and "report_sampling" in ran
    assert outcomes["generate_candidates"].skipped == "nothing sampled"
    assert outcomes["filter_candidates"].skipped == "upstream generate_candidates was skipped"
    assert "filter_candidates" not in ran


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_two_packages_import_each_other():
    packages = [p.name for p in (REPO / "cosmo").iterdir() if (p / "__init__.py").is_file()]
    edges = set()
    for package in packages:
        for path in (REPO / "cosmo" / package).rglob("*.py"):
            for module in _imports(path):
                parts = module.split(".")
                if parts[0] == "cosmo" and len(parts) > 1 and parts[1] in packages and parts[1] != package:
                    edges.add((package, parts[1]))
    mutual = sorted((a, b) for a, b in edges if (b, a) in edges and a < b)
    assert not mutual, f"packages importing each other: {mutual}"
    assert ("annotation", "critics") not in edges  # critics learn from annotation, never the reverse
    assert all(a != "core" for a, _ in edges)


def test_refinement_modules_do_not_import_each_other():
    report = _imports(REPO / "cosmo" / "refinement" / "report.py")
    assert "cosmo.refinement.filtering" not in report


def test_the_graph_steps_declare_every_graph_dataset():
    from cosmo.catalog import DATASETS
    from cosmo.pipeline.registry import GRAPH_DATASETS, get_step

    graph = {name for name in DATASETS if name.startswith("graph_")}
    assert set(GRAPH_DATASETS) == graph
    assert GRAPH_DATASETS[-1] == "graph_edges"  # written last: it marks the day as built
    for step in ("build_graph", "rebuild_graph"):
        assert set(get_step(step).writes) == graph
