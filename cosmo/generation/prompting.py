"""From sampled behaviour pairs to the prompts of one day."""

from __future__ import annotations

from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.config import GenerationSettings
from cosmo.generation.base import PromptStyle
from cosmo.generation.prompts import Prompt, build_instruction_prompt, build_prompt
from cosmo.generation.relations import get_relation


def _top(table: pa.Table, column: str, limit: int | None) -> pa.Table:
    """The ``limit`` rows with the highest ``column`` (ties by row order), or all rows."""
    if limit is None or table.num_rows <= limit:
        return table
    order = pc.sort_indices(table, sort_keys=[(column, "descending")])
    return table.take(order[:limit])


def prompts_for_pairs(search_buy: pa.Table, co_buy: pa.Table, settings: GenerationSettings,
                      style: PromptStyle = "fig3") -> list[Prompt]:
    """One prompt per (pair, relation) for the configured behaviour types and relations, in the
    teacher's Fig. 3 style or COSMO-LM's instruction style."""
    for name in settings.relations:
        get_relation(name)  # unknown names fail here, before any work
    builders = {"fig3": partial(build_prompt, few_shot=settings.few_shot), "instruction": build_instruction_prompt}
    if style not in builders:
        raise ValueError(f"unknown prompt style {style!r}; expected fig3 or instruction")
    build = builders[style]
    prompts: list[Prompt] = []
    if settings.domains:  # co-buy pairs count when either product is in a chosen domain
        chosen = pa.array(settings.domains, pa.string())
        search_buy = search_buy.filter(pc.is_in(search_buy.column("domain"), value_set=chosen))
        co_buy = co_buy.filter(pc.or_(pc.is_in(co_buy.column("domain_a"), value_set=chosen),
                                      pc.is_in(co_buy.column("domain_b"), value_set=chosen)))
    if "search_buy" in settings.behaviours:
        for row in _top(search_buy, "sampling_weight", settings.max_pairs_per_day).to_pylist():
            for relation in settings.relations:
                prompts.append(build("search_buy", relation, row["query"], row["query"], row["product_id"],
                                     row["title"]))
    if "co_buy" in settings.behaviours:
        for row in _top(co_buy, "support", settings.max_pairs_per_day).to_pylist():
            for relation in settings.relations:
                prompts.append(build("co_buy", relation, row["product_a"], row["title_a"], row["product_b"],
                                     row["title_b"]))
    return prompts
