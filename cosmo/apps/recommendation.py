"""Session-based next-item recommendation (paper section 4.2, Table 8): popularity, session item-kNN
and SR-GNN (Wu et al. 2019), the latter with and without the knowledge of the session's queries (the
intentions COSMO holds for them), scored by Hits, NDCG and MRR at a cut-off over several seeds.

Cases follow SR-GNN's preprocessing: a training session of items (i1..in) gives every prefix with its
next item, ([i1] -> i2, ..., [i1..in-1] -> in); a test session gives one case, all but its last item ->
its last item. Sessions, not cases, are split between training and test, by a seeded hash of the
session id, so that one session's prefixes never sit on both sides and the split does not depend on
the order of the input. Only items seen in training have an index (and an embedding): test cases whose
target is unseen are kept and count as misses (every model is scored on the same cases; the share is
reported as ``unseen_targets``), and unseen items are dropped from test prefixes (a prefix left empty
gets the popularity ranking from every model)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Collection, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmo.apps.knowledge import Knowledge
from cosmo.apps.metrics import Spread, ranking_metrics, spread
from cosmo.apps.report import Section, figure_png, pyplot
from cosmo.errors import DataError
from cosmo.loaders.tabular import require_columns

logger = logging.getLogger(__name__)

ITEM_EVENTS = ("view", "click", "add_to_cart", "purchase")
MODELS = ("popularity", "item_knn", "sr_gnn", "sr_gnn_knowledge")
MODEL_TITLES = {"popularity": "Popularity", "item_knn": "Item-kNN", "sr_gnn": "SR-GNN",
                "sr_gnn_knowledge": "SR-GNN + COSMO"}


@dataclass(frozen=True)
class RecommendationParams:
    """Every setting of the harness. ``max_sessions`` caps the sessions used per dataset (a seeded hash
    sample, so the cap keeps a fair cross-section; ``None`` uses them all); ``test_share`` is the share of
    sessions held out; ``split_seed`` fixes the split and the sample, so the spread over seeds is SR-GNN's
    training variance alone; ``torch_threads`` is the intra-op threads while SR-GNN trains and scores."""

    epochs: int = 5
    hidden: int = 64
    batch_size: int = 100
    lr: float = 3e-3
    weight_decay: float = 1e-5
    gnn_steps: int = 1
    # NISER (Gupta et al. 2019): item and session vectors on the unit sphere, scores scaled by this
    # factor; it lifts the long tail that plain dot products bury under popular items. None: plain SR-GNN.
    normalised_scale: float | None = 12.0
    # GCE-GNN (Wang et al. 2020): each session node also reads its items' neighbours in the global graph
    # of all training sessions (items within this many steps of each other); None: session graph only.
    global_window: int | None = 2
    # The share of training cases that read the global graph without their own session's pairs, as a
    # test session (new to the graph) does; with none left out, a training target is always a neighbour
    # and the model leans on the graph more than test sessions bear out.
    global_holdout: float = 0.25
    lr_decay: float = 1.0
    # NISER's dropout on the session's item embeddings while training: SR-GNN overfits a few thousand
    # sessions' ids without it.
    dropout: float = 0.3
    k: int = 10
    max_sessions: int | None = 5_000
    test_share: float = 0.2
    split_seed: int = 0
    # SR-GNN's steps are many small tensor ops: intra-op threads cost more in hand-offs than they save
    # (badly so on a busy machine), so one thread is the default.
    torch_threads: int = 1


@dataclass
class Sessions:
    """Item sequences (ids as strings, in time order, no item twice in a row) and, per session, the
    queries searched in it (first occurrence order; empty where the source has none)."""

    session_ids: list[str]
    items: list[list[str]]
    queries: list[list[str]]

    def __len__(self) -> int:
        return len(self.session_ids)


@dataclass
class Cases:
    """Next-item cases: ``prefixes[i]`` the item indices seen so far, ``targets[i]`` the next item's index
    (-1 where the item was never seen in training), ``knowledge[i]`` the session's intention indices
    (>= 1; 0 is padding); ``sessions[i]`` the index in ``Split.train_sessions`` of a training case's
    session (None for test cases, whose sessions are not in training)."""

    prefixes: list[np.ndarray]
    targets: np.ndarray
    knowledge: list[np.ndarray]
    sessions: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, index: np.ndarray) -> Cases:
        return Cases([self.prefixes[i] for i in index], self.targets[index], [self.knowledge[i] for i in index],
                     None if self.sessions is None else self.sessions[index])


@dataclass
class Split:
    """Training sessions (as item indices) and cases, test cases, and the vocabularies: ``items[j]`` is
    item index j's id, ``intentions[m - 1]`` intention index m's id. ``popularity`` counts each item's
    occurrences in training sessions."""

    items: list[str]
    intentions: list[str]
    train_sessions: list[np.ndarray]
    train: Cases
    test: Cases
    popularity: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_intentions(self) -> int:
        return len(self.intentions)


def _collapse(items: list[str]) -> list[str]:
    """Consecutive repeats of an item as one (a reload or a second click is not a new step)."""
    return [item for position, item in enumerate(items) if position == 0 or item != items[position - 1]]


def sessions_from_events(events: pa.Table, *, min_items: int = 2) -> Sessions:
    """Sessions of the catalogue's ``behaviour_events``: the items viewed, clicked, added to cart or
    bought, in time order (the table's order breaks ties), with the queries searched up to the last of
    them; sessions with fewer than ``min_items`` items are dropped (they have no next item to predict)."""
    require_columns(events, "behaviour_events", ["session_id", "ts", "event_type", "query", "product_id"])
    table = pa.table({"session_id": events.column("session_id"), "ts": events.column("ts"),
                      "event_type": events.column("event_type"), "query": events.column("query"),
                      "product_id": events.column("product_id"),
                      "_row": pa.array(np.arange(events.num_rows), pa.int64())})
    table = table.sort_by([("session_id", "ascending"), ("ts", "ascending"), ("_row", "ascending")])
    is_item = pc.and_(pc.is_in(table.column("event_type"), pa.array(ITEM_EVENTS)),
                      pc.invert(pc.is_null(table.column("product_id"))))
    items: dict[str, list[str]] = {}
    queries: dict[str, list[str]] = {}
    # Only queries up to the session's last item event: a later search comes after the test target,
    # which no recommender could have seen.
    queries_before_last_item: dict[str, int] = {}
    for session, query, product, item_event in zip(table.column("session_id").to_pylist(),
                                                   table.column("query").to_pylist(),
                                                   table.column("product_id").to_pylist(),
                                                   is_item.to_pylist(), strict=True):
        items.setdefault(session, [])
        queries.setdefault(session, [])
        if query and query.strip() and query not in queries[session]:
            queries[session].append(query)
        if item_event:
            items[session].append(product)
            queries_before_last_item[session] = len(queries[session])
    kept = [s for s in items if len(_collapse(items[s])) >= min_items]
    return Sessions(kept, [_collapse(items[s]) for s in kept],
                    [queries[s][:queries_before_last_item[s]] for s in kept])


def sessions_from_table(table: pa.Table, *, min_items: int = 2) -> Sessions:
    """Id-only sessions of a public dataset: Amazon-M2's (``items``, a list per session, see
    :func:`cosmo.loaders.amazon_m2.load_sessions`) or Diginetica's item views (one row per view, ordered,
    see :func:`cosmo.loaders.diginetica.load_item_views`)."""
    if "items" in table.column_names:
        ids = table.column("session_id").cast(pa.string()).to_pylist()
        sequences = table.column("items").to_pylist()
    else:
        require_columns(table, "item views", ["session_id", "item_id"])
        grouped: dict[str, list[str]] = {}
        for session, item in zip(table.column("session_id").cast(pa.string()).to_pylist(),
                                 table.column("item_id").cast(pa.string()).to_pylist(), strict=True):
            grouped.setdefault(session, []).append(item)
        ids, sequences = list(grouped), list(grouped.values())
    kept = [(session, _collapse(items)) for session, items in zip(ids, sequences, strict=True)]
    kept = [(session, items) for session, items in kept if len(items) >= min_items]
    return Sessions([s for s, _ in kept], [i for _, i in kept], [[] for _ in kept])


def _unit_hash(text: str) -> float:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2.0**64


def split_sessions(sessions: Sessions, *, test_share: float = 0.2, seed: int = 0,
                   knowledge: Knowledge | None = None, max_sessions: int | None = None,
                   test_ids: Collection[str] | None = None) -> Split:
    """Next-item cases of ``sessions`` split by session (see the module's docstring); ``test_ids`` names
    the held-out sessions instead of the hash (fixed benchmarks, tests). With ``knowledge``, each case
    carries the intentions of its session's queries (only intentions met in training get an index)."""
    if not 0.0 < test_share < 1.0 and test_ids is None:
        raise ValueError(f"test_share must lie in (0, 1), got {test_share}")
    order = range(len(sessions))
    if max_sessions is not None and len(sessions) > max_sessions:
        order = sorted(order, key=lambda i: _unit_hash(f"sample/{seed}/{sessions.session_ids[i]}"))[:max_sessions]
        order = sorted(order)
    held_out = set(test_ids) if test_ids is not None else None
    train_rows, test_rows = [], []
    for i in order:
        session = sessions.session_ids[i]
        is_test = (session in held_out) if held_out is not None else _unit_hash(f"split/{seed}/{session}") < test_share
        (test_rows if is_test else train_rows).append(i)
    if not train_rows or not test_rows:
        raise DataError(f"{len(train_rows)} training and {len(test_rows)} test sessions; need both")

    def intention_ids(i: int) -> list[str]:
        if knowledge is None:
            return []
        found = [intent.intention_id for query in sessions.queries[i] for intent in knowledge.for_query(query)]
        return list(dict.fromkeys(found))

    items: dict[str, int] = {}
    intentions: dict[str, int] = {}
    for i in train_rows:
        for item in sessions.items[i]:
            items.setdefault(item, len(items))
        for intention in intention_ids(i):
            intentions.setdefault(intention, len(intentions) + 1)
    popularity = np.zeros(len(items), dtype=np.int64)
    train_sessions = []
    train = Cases([], np.zeros(0, dtype=np.int64), [])
    train_targets = []
    for i in train_rows:
        sequence = np.array([items[item] for item in sessions.items[i]], dtype=np.int64)
        np.add.at(popularity, sequence, 1)
        train_sessions.append(sequence)
        bag = np.array([intentions[m] for m in intention_ids(i)], dtype=np.int64)
        for end in range(1, len(sequence)):
            train.prefixes.append(sequence[:end])
            train.knowledge.append(bag)
            train_targets.append(sequence[end])
    train.targets = np.array(train_targets, dtype=np.int64)
    train.sessions = np.repeat(np.arange(len(train_sessions)), [len(s) - 1 for s in train_sessions])
    test = Cases([], np.zeros(0, dtype=np.int64), [])
    test_targets = []
    for i in test_rows:
        *seen, last = sessions.items[i]
        test.prefixes.append(np.array([items[item] for item in seen if item in items], dtype=np.int64))
        test.knowledge.append(np.array([intentions[m] for m in intention_ids(i) if m in intentions], dtype=np.int64))
        test_targets.append(items.get(last, -1))
    test.targets = np.array(test_targets, dtype=np.int64)
    counts = {"sessions": len(order), "train_sessions": len(train_rows), "test_sessions": len(test_rows),
              "items": len(items), "intentions": len(intentions), "train_cases": len(train),
              "test_cases": len(test), "unseen_targets": int((test.targets < 0).sum()),
              "empty_prefixes": sum(1 for p in test.prefixes if not len(p)),
              "test_cases_with_knowledge": sum(1 for b in test.knowledge if len(b))}
    return Split(list(items), list(intentions), train_sessions, train, test, popularity, counts)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k highest scores, best first (equal scores: lower index first)."""
    k = min(k, scores.shape[1])
    chosen = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(scores, chosen, axis=1)
    order = np.lexsort((chosen, -picked), axis=1)
    return np.take_along_axis(chosen, order, axis=1)


def _popularity_ranking(split: Split, k: int) -> np.ndarray:
    return _top_k(split.popularity[None, :].astype(np.float64), k)[0]


class PopularityRecommender:
    """The items most often seen in training sessions, the same list for every case."""

    def fit(self, split: Split) -> PopularityRecommender:
        self.ranking = _popularity_ranking(split, split.n_items)
        return self

    def recommend(self, cases: Cases, k: int = 10) -> np.ndarray:
        return np.tile(self.ranking[:k], (len(cases), 1))


class ItemKNNRecommender:
    """Session-based item-kNN (Ludewig & Jannach 2018): items are similar when they share training
    sessions (cosine of their session-incidence vectors); a candidate scores its similarity to the
    session's items, the most recent weighing most (weight 1 / steps back from the end, the last item 1).
    An item's similarity to itself is left out: repeats are collapsed, so the next item is never the
    last one. Popularity breaks ties (and ranks cases with no known item)."""

    def __init__(self, *, batch_size: int = 1024) -> None:
        self.batch_size = batch_size

    def fit(self, split: Split) -> ItemKNNRecommender:
        from scipy import sparse

        rows = np.concatenate([np.full(len(np.unique(s)), r) for r, s in enumerate(split.train_sessions)])
        cols = np.concatenate([np.unique(s) for s in split.train_sessions])
        incidence = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                      shape=(len(split.train_sessions), split.n_items))
        co = (incidence.T @ incidence).tocsr()
        norms = np.sqrt(np.asarray(incidence.sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        scale = sparse.diags((1.0 / norms).astype(np.float32))
        similarity = (scale @ co @ scale).tolil()
        similarity.setdiag(0.0)
        self.similarity = similarity.tocsr()
        self.similarity.eliminate_zeros()
        popularity = split.popularity.astype(np.float64)
        # Small enough never to outrank a shared session, big enough to order the rest by popularity.
        self.tie_break = popularity / (popularity.max() + 1.0) * 1e-6
        self.n_items = split.n_items
        return self

    def recommend(self, cases: Cases, k: int = 10) -> np.ndarray:
        from scipy import sparse

        ranked = []
        for start in range(0, len(cases), self.batch_size):
            prefixes = cases.prefixes[start:start + self.batch_size]
            rows = np.concatenate([np.full(len(p), r) for r, p in enumerate(prefixes)] + [np.zeros(0, int)])
            cols = np.concatenate([*prefixes, np.zeros(0, dtype=np.int64)])
            weights = np.concatenate([1.0 / np.arange(len(p), 0, -1) for p in prefixes] + [np.zeros(0)])
            # Duplicates sum, so an item met twice in the session counts with both weights.
            session = sparse.csr_matrix((weights, (rows, cols)), shape=(len(prefixes), self.n_items))
            scores = np.asarray((session @ self.similarity).todense()) + self.tie_break[None, :]
            ranked.append(_top_k(scores, k))
        return np.concatenate(ranked) if ranked else np.zeros((0, min(k, self.n_items)), dtype=np.int64)


def _graph_batch(prefixes: Sequence[np.ndarray]):
    """SR-GNN's session graphs for a batch: node item ids (+1, 0 pads), the normalised in/out adjacency
    (batch, nodes, 2 x nodes), each position's node (alias) and the position mask."""
    nodes_per = [np.unique(p, return_inverse=True) for p in prefixes]
    n_nodes = max(len(nodes) for nodes, _ in nodes_per)
    length = max(len(p) for p in prefixes)
    batch = len(prefixes)
    node_items = np.zeros((batch, n_nodes), dtype=np.int64)
    adjacency = np.zeros((batch, n_nodes, 2 * n_nodes), dtype=np.float32)
    alias = np.zeros((batch, length), dtype=np.int64)
    mask = np.zeros((batch, length), dtype=np.float32)
    last = np.zeros(batch, dtype=np.int64)
    for b, (nodes, inverse) in enumerate(nodes_per):
        node_items[b, :len(nodes)] = nodes + 1
        alias[b, :len(inverse)] = inverse
        mask[b, :len(inverse)] = 1.0
        last[b] = len(inverse) - 1
        edges = np.zeros((n_nodes, n_nodes), dtype=np.float32)
        edges[inverse[:-1], inverse[1:]] = 1.0
        in_degree = edges.sum(axis=0)
        out_degree = edges.sum(axis=1)
        adjacency[b, :, :n_nodes] = edges.T / np.maximum(in_degree, 1.0)[:, None]
        adjacency[b, :, n_nodes:] = edges / np.maximum(out_degree, 1.0)[:, None]
    return node_items, adjacency, alias, mask, last


@contextmanager
def _torch_threads(threads: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _window_pairs(sequence: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of every pair of a session's items at most ``window`` steps apart (no self-pairs)."""
    sources, targets = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for step in range(1, window + 1):
        if len(sequence) > step:
            sources += [sequence[:-step], sequence[step:]]
            targets += [sequence[step:], sequence[:-step]]
    source, target = np.concatenate(sources), np.concatenate(targets)
    keep = source != target
    return source[keep], target[keep]


class GlobalGraph:
    """GCE-GNN's global item graph (Wang et al. 2020) over padded ids (0 pads, item j is j + 1): items
    within ``window`` steps of each other in a training session are neighbours, weighted by how often; a
    node reads the weighted mean of its item's neighbours."""

    def __init__(self, sessions: Sequence[np.ndarray], n_items: int, window: int) -> None:
        from scipy import sparse

        self.pairs = [_window_pairs(sequence, window) for sequence in sessions]
        source = np.concatenate([s for s, _ in self.pairs] + [np.zeros(0, dtype=np.int64)]) + 1
        target = np.concatenate([t for _, t in self.pairs] + [np.zeros(0, dtype=np.int64)]) + 1
        self.counts = sparse.csr_matrix((np.ones(len(source), dtype=np.float32), (source, target)),
                                        shape=(n_items + 1, n_items + 1))

    def neighbours(self, node_items: np.ndarray, left_out: Sequence[int] = ()):
        """Row-normalised neighbour weights (scipy COO, one row per node slot of the ``node_items`` batch,
        (batch, nodes)); ``left_out`` pairs (batch row, training session): that row reads the graph
        without the session's own pairs."""
        from scipy import sparse

        rows = self.counts[node_items.ravel()]
        if len(left_out):
            n_nodes = node_items.shape[1]
            own_rows, own_cols = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
            for b, session in left_out:
                source, target = self.pairs[session]
                nodes = node_items[b][node_items[b] > 0]  # sorted: np.unique made them
                position = np.minimum(np.searchsorted(nodes, source + 1), len(nodes) - 1)
                found = nodes[position] == source + 1
                own_rows.append(b * n_nodes + position[found])
                own_cols.append(target[found] + 1)
            own_row, own_col = np.concatenate(own_rows), np.concatenate(own_cols)
            rows = rows - sparse.csr_matrix((np.ones(len(own_row), dtype=np.float32), (own_row, own_col)),
                                            shape=rows.shape)
            rows.eliminate_zeros()
        degree = np.asarray(rows.sum(axis=1)).ravel()
        degree[degree == 0] = 1.0
        return (sparse.diags((1.0 / degree).astype(np.float32)) @ rows).tocoo()


def _build_srgnn(n_items: int, n_intentions: int, hidden: int, steps: int, use_knowledge: bool,
                 normalised_scale: float | None = None, use_global: bool = False, dropout: float = 0.0):
    import torch
    from torch import nn
    from torch.nn import functional

    class GatedGraphCell(nn.Module):
        """One propagation step of the gated graph network: messages along in- and out-edges, then a
        GRU-style update of each node."""

        def __init__(self) -> None:
            super().__init__()
            self.edge_in = nn.Linear(hidden, hidden)
            self.edge_out = nn.Linear(hidden, hidden)
            self.input_gates = nn.Linear(2 * hidden, 3 * hidden)
            self.hidden_gates = nn.Linear(hidden, 3 * hidden)

        def forward(self, adjacency, nodes):
            n = adjacency.shape[1]
            incoming = torch.matmul(adjacency[:, :, :n], self.edge_in(nodes))
            outgoing = torch.matmul(adjacency[:, :, n:], self.edge_out(nodes))
            input_reset, input_update, input_new = self.input_gates(torch.cat([incoming, outgoing], 2)).chunk(3, 2)
            hidden_reset, hidden_update, hidden_new = self.hidden_gates(nodes).chunk(3, 2)
            reset = torch.sigmoid(input_reset + hidden_reset)
            update = torch.sigmoid(input_update + hidden_update)
            candidate = torch.tanh(input_new + reset * hidden_new)
            return candidate + update * (nodes - candidate)

    class SRGNNModule(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(n_items + 1, hidden, padding_idx=0)
            self.cell = GatedGraphCell()
            self.query_last = nn.Linear(hidden, hidden)
            self.query_nodes = nn.Linear(hidden, hidden)
            self.attention = nn.Linear(hidden, 1, bias=False)
            self.hybrid = nn.Linear(2 * hidden, hidden)
            if use_global:
                self.global_in = nn.Linear(hidden, hidden, bias=False)
            if use_knowledge:
                self.intentions = nn.EmbeddingBag(n_intentions + 1, hidden, mode="mean", padding_idx=0)
                # No bias: a session without knowledge keeps its plain SR-GNN representation.
                self.knowledge_in = nn.Linear(hidden, hidden, bias=False)
                self.knowledge_gate = nn.Linear(2 * hidden, hidden)
            bound = 1.0 / hidden**0.5
            for weight in self.parameters():
                nn.init.uniform_(weight, -bound, bound)

        def forward(self, node_items, adjacency, alias, mask, last, neighbours=None, bags=None, offsets=None):
            items = self.embedding.weight
            if normalised_scale is not None:
                items = functional.normalize(items, dim=-1)
            nodes = functional.dropout(functional.embedding(node_items, items, padding_idx=0), dropout,
                                       self.training)
            for _ in range(steps):
                nodes = self.cell(adjacency, nodes)
            if use_global:
                nodes = nodes + self.global_in(torch.sparse.mm(neighbours, items).view(nodes.shape))
            sequence = torch.gather(nodes, 1, alias.unsqueeze(-1).expand(-1, -1, hidden))
            local = sequence[torch.arange(len(last)), last]
            weights = self.attention(torch.sigmoid(self.query_last(local).unsqueeze(1) + self.query_nodes(sequence)))
            global_ = (weights * sequence * mask.unsqueeze(-1)).sum(1)
            session = self.hybrid(torch.cat([global_, local], 1))
            if use_knowledge:
                known = self.knowledge_in(self.intentions(bags, offsets))
                session = session + torch.sigmoid(self.knowledge_gate(torch.cat([session, known], 1))) * known
            if normalised_scale is not None:
                session = normalised_scale * functional.normalize(session, dim=-1)
            scores = session @ items[1:].T
            # Repeats are collapsed, so the next item is never the session's last one (item-kNN leaves
            # an item's similarity to itself out for the same reason).
            last_item = node_items.gather(1, alias.gather(1, last.unsqueeze(1))) - 1
            return scores.scatter(1, last_item, float("-inf"))

    return SRGNNModule()


class SRGNN:
    """SR-GNN (Wu et al. 2019) trained with cross-entropy over all items by Adam, by default with NISER's
    normalised item and session vectors (``normalised_scale``); with ``use_knowledge``
    the session representation also reads the mean embedding of the session's intentions, through a gate
    (no knowledge, no change). Seeded: the same seed and data give the same model."""

    def __init__(self, params: RecommendationParams | None = None, *, seed: int = 0,
                 use_knowledge: bool = False) -> None:
        self.params = params or RecommendationParams()
        self.seed = seed
        self.use_knowledge = use_knowledge
        self.graph = None

    def _tensors(self, cases: Cases, index: np.ndarray, rng: np.random.Generator | None = None):
        """The model's inputs for ``cases[index]``; while training (``rng`` given), a ``global_holdout``
        share of the cases reads the global graph without its own session."""
        import torch

        node_items, adjacency, alias, mask, last = _graph_batch([cases.prefixes[i] for i in index])
        tensors = [torch.from_numpy(node_items), torch.from_numpy(adjacency), torch.from_numpy(alias),
                   torch.from_numpy(mask), torch.from_numpy(last), None]
        if self.graph is not None:
            left_out = []
            if rng is not None and cases.sessions is not None:
                drawn = np.flatnonzero(rng.random(len(index)) < self.params.global_holdout)
                left_out = list(zip(drawn, cases.sessions[index[drawn]], strict=True))
            rows = self.graph.neighbours(node_items, left_out)
            tensors[-1] = torch.sparse_coo_tensor(np.vstack([rows.row, rows.col]).astype(np.int64), rows.data,
                                                  rows.shape, check_invariants=False)
        if self.use_knowledge:
            bags = [cases.knowledge[i] for i in index]
            lengths = np.array([len(b) for b in bags], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            flat = np.concatenate([*bags, np.zeros(0, dtype=np.int64)]).astype(np.int64)
            tensors += [torch.from_numpy(flat), torch.from_numpy(offsets)]
        return tensors

    def fit(self, split: Split) -> SRGNN:
        with _torch_threads(self.params.torch_threads):
            return self._fit(split)

    def recommend(self, cases: Cases, k: int = 10) -> np.ndarray:
        with _torch_threads(self.params.torch_threads):
            return self._recommend(cases, k)

    def _fit(self, split: Split) -> SRGNN:
        import torch

        if self.use_knowledge and not split.n_intentions:
            logger.warning("SR-GNN with knowledge: no training session has any intention; it learns ids only")
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        params = self.params
        self.n_items = split.n_items
        self.fallback = _popularity_ranking(split, split.n_items)
        self.graph = (GlobalGraph(split.train_sessions, split.n_items, params.global_window)
                      if params.global_window else None)
        self.model = _build_srgnn(split.n_items, split.n_intentions, params.hidden, params.gnn_steps,
                                  self.use_knowledge, params.normalised_scale, self.graph is not None,
                                  params.dropout)
        optimiser = torch.optim.Adam(self.model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=params.lr_decay)
        loss_fn = torch.nn.CrossEntropyLoss()
        targets = torch.from_numpy(split.train.targets)
        self.model.train()
        for epoch in range(params.epochs):
            started = time.perf_counter()
            order = rng.permutation(len(split.train))
            total, batches = 0.0, 0
            for start in range(0, len(order), params.batch_size):
                index = order[start:start + params.batch_size]
                optimiser.zero_grad()
                loss = loss_fn(self.model(*self._tensors(split.train, index, rng)), targets[index])
                loss.backward()
                optimiser.step()
                total += loss.item()
                batches += 1
            schedule.step()
            logger.info("SR-GNN%s seed %d epoch %d/%d: loss %.4f (%.1fs)", " + knowledge" * self.use_knowledge,
                        self.seed, epoch + 1, params.epochs, total / max(batches, 1), time.perf_counter() - started)
        self.model.eval()
        return self

    def _recommend(self, cases: Cases, k: int) -> np.ndarray:
        import torch

        k = min(k, self.n_items)
        ranked = np.tile(self.fallback[:k], (len(cases), 1))
        known = np.array([i for i, p in enumerate(cases.prefixes) if len(p)], dtype=np.int64)
        with torch.no_grad():
            for start in range(0, len(known), 4 * self.params.batch_size):
                index = known[start:start + 4 * self.params.batch_size]
                scores = self.model(*self._tensors(cases, index))
                ranked[index] = torch.topk(scores, k, dim=1).indices.numpy()
        return ranked


@dataclass
class DatasetEvaluation:
    """One dataset's figures: ``scores[model][metric]`` over the seeds (deterministic models repeat one
    value), and the split's counts."""

    dataset: str
    scores: dict[str, dict[str, Spread]]
    counts: dict[str, int]
    seconds: float = 0.0


def _score(model, split: Split, k: int) -> dict[str, float]:
    return ranking_metrics(model.recommend(split.test, k), split.test.targets, k=k)


def _evaluate(dataset: str, split: Split, seeds: Sequence[int], params: RecommendationParams,
              with_knowledge: bool) -> DatasetEvaluation:
    started = time.perf_counter()
    logger.info("%s: %s", dataset, ", ".join(f"{key} {value}" for key, value in split.counts.items()))
    runs: dict[str, list[dict[str, float]]] = {
        "popularity": [_score(PopularityRecommender().fit(split), split, params.k)],
        "item_knn": [_score(ItemKNNRecommender().fit(split), split, params.k)],
    }
    variants = [("sr_gnn", False), ("sr_gnn_knowledge", True)] if with_knowledge else [("sr_gnn", False)]
    for name, use_knowledge in variants:
        runs[name] = [_score(SRGNN(params, seed=seed, use_knowledge=use_knowledge).fit(split), split, params.k)
                      for seed in seeds]
    scores = {name: {metric: spread(run[metric] for run in values) for metric in values[0]}
              for name, values in runs.items()}
    return DatasetEvaluation(dataset, scores, dict(split.counts), time.perf_counter() - started)


def evaluate_generated(events: pa.Table, knowledge: Knowledge, *, seeds: Sequence[int] = (0, 1, 2),
                       params: RecommendationParams | None = None,
                       dataset: str = "generated") -> DatasetEvaluation:
    """Popularity, item-kNN, and SR-GNN without and with the sessions' query knowledge, on the generated
    shop's behaviour log (SR-GNN once per seed)."""
    params = params or RecommendationParams()
    split = split_sessions(sessions_from_events(events), test_share=params.test_share, seed=params.split_seed,
                           knowledge=knowledge, max_sessions=params.max_sessions)
    return _evaluate(dataset, split, seeds, params, with_knowledge=True)


def evaluate_real(name: str, sessions_table: pa.Table, *, seeds: Sequence[int] = (0, 1, 2),
                  params: RecommendationParams | None = None) -> DatasetEvaluation:
    """Popularity, item-kNN and id-only SR-GNN on a public dataset's sessions (Amazon-M2's session table or
    Diginetica's item views; see :func:`sessions_from_table`), capped at ``params.max_sessions``."""
    params = params or RecommendationParams()
    split = split_sessions(sessions_from_table(sessions_table), test_share=params.test_share,
                           seed=params.split_seed, max_sessions=params.max_sessions)
    return _evaluate(name, split, seeds, params, with_knowledge=False)


METRIC_COLUMNS = {"hits": "Hits", "ndcg": "NDCG", "mrr": "MRR"}


def results_table(evaluations: Sequence[DatasetEvaluation], k: int = 10) -> list[dict]:
    """Table 8's layout: one row per dataset and model, each metric's mean and standard deviation."""
    rows = []
    for evaluation in evaluations:
        for model in MODELS:
            if model not in evaluation.scores:
                continue
            row = {"dataset": evaluation.dataset, "model": MODEL_TITLES[model],
                   "seeds": len(evaluation.scores[model][f"mrr@{k}"].values)}
            for metric, title in METRIC_COLUMNS.items():
                figure = evaluation.scores[model][f"{metric}@{k}"]
                row[f"{title}@{k} mean"] = figure.mean
                row[f"{title}@{k} std"] = figure.std
            rows.append(row)
    return rows


def results_plot(evaluations: Sequence[DatasetEvaluation], k: int = 10) -> bytes:
    """PNG: Hits@k and MRR@k per dataset (groups) and model (bars), with the spread over seeds."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(MODELS)
    for axis, metric in zip(axes, ("hits", "mrr"), strict=True):
        for position, model in enumerate(MODELS):
            shown = [(d, e.scores[model][f"{metric}@{k}"]) for d, e in enumerate(evaluations) if model in e.scores]
            if not shown:
                continue
            axis.bar([d + (position - (len(MODELS) - 1) / 2) * width for d, _ in shown],
                     [figure.mean for _, figure in shown], width, yerr=[figure.std for _, figure in shown],
                     capsize=3, label=MODEL_TITLES[model])
        axis.set_xticks(range(len(evaluations)), [e.dataset for e in evaluations])
        axis.set_ylabel(f"{METRIC_COLUMNS[metric]}@{k}")
        axis.set_title(f"Next-item {METRIC_COLUMNS[metric]}@{k}")
        axis.legend(fontsize=8)
    return figure_png(fig)


def recommendation_section(evaluations: Sequence[DatasetEvaluation],
                           params: RecommendationParams | None = None) -> Section:
    """The report's session-recommendation section: Table 8 (metrics per dataset and model), the datasets'
    split counts, and the bar plot."""
    params = params or RecommendationParams()
    k = params.k
    counts = [{"dataset": e.dataset, **e.counts, "seconds": round(e.seconds, 1)} for e in evaluations]
    summary = {e.dataset: {model: {metric: figures.mean for metric, figures in scores.items()}
                           for model, scores in e.scores.items()} for e in evaluations}
    return Section(
        name="recommendation",
        title="Session-based recommendation",
        description=(f"Next-item prediction (SR-GNN protocol: every prefix of a training session predicts its next "
                     f"item; a test session's last item is the target) by popularity, session item-kNN and "
                     f"SR-GNN, with and without the intentions of the session's queries. Hits, NDCG and MRR at "
                     f"{k}, mean and standard deviation over seeds; targets unseen in training count as misses. "
                     f"Settings: {params}."),
        tables={"next_item": results_table(evaluations, k), "datasets": counts},
        figures={"next_item.png": results_plot(evaluations, k)},
        summary=summary,
    )
