"""How well do the critic and the kept graph recover a generated shop's planted intentions?

Every kept edge (candidate) is matched to the planted intentions of its product types with the
oracle's rule (:class:`~cosmo.annotation.machine.PlantedWorld`). An edge is *correct* when its tail
names an intention (or that intention's parent) planted for its product types under its relation.
Precision is the share of correct edges; recall is the share of planted (product type, relation,
intention) triples that some kept edge names, out of the triples the day could reach (product
types and relations that the day's candidates asked about). Both are given for the edges the
coarse filter kept and for those the critic kept, so the critic's own contribution shows; the
critic's plausibility is also scored against the oracle's plausible/implausible verdicts (ROC AUC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.annotation.machine import PlantedWorld, ProductTypes
from cosmo.catalog import CRITIC_SCORES, FILTERED_CANDIDATES, PLANTED_INTENTIONS, PRODUCTS
from cosmo.config import OracleSettings, Settings
from cosmo.storage import Storage, as_date


@dataclass(frozen=True)
class SelectionRecovery:
    selection: str
    edges: int
    correct_edges: int
    recovered_triples: int
    reachable_triples: int

    @property
    def precision(self) -> float:
        return self.correct_edges / self.edges if self.edges else 0.0

    @property
    def recall(self) -> float:
        return self.recovered_triples / self.reachable_triples if self.reachable_triples else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "precision": round(self.precision, 4), "recall": round(self.recall, 4)}


@dataclass(frozen=True)
class RecoveryReport:
    ds: str
    planted_triples: int
    reachable_triples: int
    selections: list[SelectionRecovery] = field(default_factory=list)
    plausibility_auc: float | None = None
    oracle_verdicts: int = 0
    critic_model: str | None = None

    def to_dict(self) -> dict:
        return {"ds": self.ds, "planted_triples": self.planted_triples, "reachable_triples": self.reachable_triples,
                "plausibility_auc": self.plausibility_auc, "oracle_verdicts": self.oracle_verdicts,
                "critic_model": self.critic_model, "selections": [s.to_dict() for s in self.selections]}


def _edges(candidates: pa.Table, types: ProductTypes) -> list[dict]:
    rows = candidates.select(["candidate_id", "behaviour", "relation", "head_text", "product_text", "tail"]).to_pylist()
    for row in rows:
        row["types"] = types.of(row)
    return [r for r in rows if r["types"]]


def recovery_from_tables(candidates: pa.Table, scores: pa.Table | None, planted: pa.Table, products: pa.Table,
                         *, ds: str = "", oracle: OracleSettings | None = None) -> RecoveryReport:
    """The report for one day's filtered candidates and (optionally) their critic scores."""
    from sklearn.metrics import roc_auc_score

    world = PlantedWorld(planted, token_similarity=(oracle or OracleSettings()).token_similarity)
    types = ProductTypes(products, candidates)
    kept = candidates.filter(pc.fill_null(candidates.column("kept"), False))
    edges = _edges(kept, types)
    asked = {(t, e["relation"]) for e in edges for t in e["types"]}
    reachable = {triple for triple in world.triples if (triple[0], triple[1]) in asked}
    matches = {e["candidate_id"]: world.match(e["tail"], e["relation"], e["types"]) for e in edges}

    def selection(name: str, chosen: list[dict]) -> SelectionRecovery:
        correct, recovered = 0, set()
        for edge in chosen:
            match = matches[edge["candidate_id"]]
            if match.kind != "planted":
                continue
            correct += 1
            if not match.coarse:
                recovered.update((t, edge["relation"], match.intention) for t in edge["types"]
                                 if (t, edge["relation"], match.intention) in world.triples)
        return SelectionRecovery(name, len(chosen), correct, len(recovered & reachable), len(reachable))

    selections = [selection("coarse filter", edges)]
    auc, verdicts, model = None, 0, None
    if scores is not None and scores.num_rows:
        by_id = {r["candidate_id"]: r for r in scores.select(["candidate_id", "plausibility", "kept",
                                                               "critic_model"]).to_pylist()}
        selections.append(selection("critic", [e for e in edges if by_id.get(e["candidate_id"], {}).get("kept")]))
        model = next(iter(by_id.values()))["critic_model"]
        truth, predicted = [], []
        for edge in edges:
            kind = matches[edge["candidate_id"]].kind
            if edge["candidate_id"] in by_id and kind in ("planted", "other_relation", "other_types", "nothing"):
                truth.append(kind in ("planted", "other_relation"))  # the oracle's plausible yes / no
                predicted.append(by_id[edge["candidate_id"]]["plausibility"])
        verdicts = len(truth)
        if 0 < sum(truth) < len(truth):
            auc = round(float(roc_auc_score(truth, predicted)), 4)
    return RecoveryReport(ds, len(world.triples), len(reachable), selections, auc, verdicts, model)


def measure_recovery(ds: dt.date | str, settings: Settings) -> RecoveryReport:
    """Read the day's filtered candidates, critic scores (if published), planted intentions and
    products, and measure the recovery of the planted intentions."""
    storage = Storage.from_settings(settings)
    if not storage.has_partition(PLANTED_INTENTIONS, ds):
        raise FileNotFoundError(f"no planted intentions for {as_date(ds)} under {storage.root}: recovery is "
                                "measured on generated shops only")
    scores = storage.read(CRITIC_SCORES, ds) if storage.has_partition(CRITIC_SCORES, ds) else None
    return recovery_from_tables(storage.read(FILTERED_CANDIDATES, ds), scores, storage.read(PLANTED_INTENTIONS, ds),
                                storage.read(PRODUCTS, ds), ds=as_date(ds).isoformat(), oracle=settings.critic.oracle)


def print_recovery(report: RecoveryReport, console=None) -> None:
    """The report as a table (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"Recovery of planted intentions {report.ds} ({report.reachable_triples} of "
                        f"{report.planted_triples} planted triples reachable)")
    for column in ("selection", "edges", "correct", "precision", "recovered", "recall"):
        table.add_column(column, justify="left" if column == "selection" else "right")
    for s in report.selections:
        table.add_row(s.selection, str(s.edges), str(s.correct_edges), f"{s.precision:.3f}",
                      str(s.recovered_triples), f"{s.recall:.3f}")
    console.print(table)
    if report.critic_model:
        auc = "n/a (one class)" if report.plausibility_auc is None else f"{report.plausibility_auc:.3f}"
        console.print(f"critic {report.critic_model}: plausibility ROC AUC against the oracle {auc} "
                      f"over {report.oracle_verdicts} candidates")

