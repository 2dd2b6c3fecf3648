"""Behaviour sampling (COSMO paper, section 3.2.1).

From one day of behaviour events and the catalogue, select the search-buy pairs (query,
purchased product) and co-buy pairs (product, product) worth asking an LLM about:

search-buy
  * the product must be *top-tier* in its (domain, product type) by purchases;
  * click rate clicks(q,p)/searches(q) and purchase rate purchases(q,p)/clicks(q,p) above
    thresholds, except for *low-engagement* queries (too few searches for a rate to mean
    anything), which are kept up to a quota because they carry the long tail;
  * query specificity 1 - H/ln(K), H the entropy of the product types engaged with after the
    query: broad queries ("camping") state no product, so they are favoured in sampling;
  * de-duplication: at most N pairs per (query, product type).
co-buy
  * products whose co-bought product types are spread evenly over the day's types are random
    purchases (batteries);
  * pairs of one product type are variants, not a shared intention;
  * cross-check by product type: the pair's type pair must be bought together more often than
    independence predicts (lift) and be corroborated by other product pairs;
  * both products top-tier; de-duplication: at most N pairs per product-type pair.

Every candidate that is not kept is written to ``dropped_pairs`` with its reason. Sampling is
weighted (Efraimidis-Spirakis keys) with hash-based randomness, so a rerun of a day gives the
same pairs. Feedback on served knowledge multiplies the weights of the behaviours it touched. The engine is DuckDB with a memory cap, reading the committed Parquet files.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from cosmo.catalog import (
    BEHAVIOUR_EVENTS,
    CO_BUY_PAIRS,
    DOMAIN_STATISTICS,
    DROPPED_PAIRS,
    PRODUCTS,
    QUERY_KEY_SQL,
    SEARCH_BUY_PAIRS,
)
from cosmo.config import FeedbackSettings, SamplingSettings
from cosmo.feedback_signals import EMPTY_BOOSTS, behaviour_boosts
from cosmo.storage import Storage, as_date, conform

UNIFORM = "((hash({key}, {seed}) % 1000000007)::DOUBLE + 1.0) / 1000000008.0"


@dataclass
class SamplingResult:
    uris: dict[str, str]
    kept: dict[str, int]
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    statistics: pa.Table | None = None


def _connect(storage: Storage, cfg: SamplingSettings) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"memory_limit": cfg.memory_limit, "threads": cfg.threads,
                                 "preserve_insertion_order": False})
    if not storage.is_local:
        con.register_filesystem(storage.fs)
    return con


def _files_sql(storage: Storage, dataset, ds: dt.date) -> str:
    files = [storage.uri(f) for f in storage.partition_files(dataset, ds)]
    if not files:
        columns = ", ".join(f"NULL::{_duck_type(f.type)} AS {f.name}" for f in dataset.schema)
        return f"(SELECT {columns} WHERE false)"
    quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return f"read_parquet([{quoted}])"


def _duck_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    return "VARCHAR"


def _prepare(con: duckdb.DuckDBPyConnection, storage: Storage, ds: dt.date, cfg: SamplingSettings) -> None:
    events = _files_sql(storage, BEHAVIOUR_EVENTS, ds)
    products = _files_sql(storage, PRODUCTS, ds)
    con.execute(f"CREATE TEMP TABLE products AS SELECT product_id, title, domain, product_type FROM {products}")
    if cfg.attribute_to_last_search:
        query = ("coalesce(query, last_value(CASE WHEN event_type = 'search' THEN query END IGNORE NULLS) "
                 "OVER (PARTITION BY session_id ORDER BY ts, event_type = 'search' DESC "
                 "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))")
    else:
        query = "query"
    con.execute(f"""
        CREATE TEMP TABLE engaged AS
        SELECT session_id, event_type, product_id, {query} AS query
        FROM {events} WHERE event_type IN ('search', 'click', 'purchase')""")
    con.execute("""
        CREATE TEMP TABLE product_purchases AS
        SELECT product_id, count(*) AS purchases FROM engaged
        WHERE event_type = 'purchase' GROUP BY product_id""")
    # Top tier per (domain, product type); rules that need a type skip untyped products.
    con.execute(f"""
        CREATE TEMP TABLE top_tier AS
        SELECT product_id,
               product_type IS NULL
               OR tier_rank <= greatest({cfg.top_tier_min_products}, ceil({cfg.top_tier_share} * tier_size))
               AS top_tier
        FROM (
            SELECT pp.product_id, p.product_type,
                   row_number() OVER (PARTITION BY p.domain, p.product_type
                                      ORDER BY pp.purchases DESC, pp.product_id) AS tier_rank,
                   count(*) OVER (PARTITION BY p.domain, p.product_type) AS tier_size
            FROM product_purchases pp JOIN products p USING (product_id))""")


def _search_buy(con, cfg: SamplingSettings) -> tuple[str, str]:
    """Returns SQL for (kept, dropped) search-buy pairs."""
    u = UNIFORM.format(key="c.query || '|' || c.product_id", seed=cfg.seed)
    con.execute("""
        CREATE TEMP TABLE query_stats AS
        SELECT query, count(*) FILTER (WHERE event_type = 'search') AS searches
        FROM engaged WHERE query IS NOT NULL GROUP BY query""")
    con.execute("""
        CREATE TEMP TABLE pair_stats AS
        SELECT query, product_id,
               count(*) FILTER (WHERE event_type = 'click') AS clicks,
               count(*) FILTER (WHERE event_type = 'purchase') AS purchases
        FROM engaged
        WHERE query IS NOT NULL AND product_id IS NOT NULL AND event_type IN ('click', 'purchase')
        GROUP BY query, product_id""")
    con.execute(f"""
        CREATE TEMP TABLE query_specificity AS
        WITH type_counts AS (
            SELECT ps.query, p.product_type, sum(ps.clicks + ps.purchases)::DOUBLE AS n
            FROM pair_stats ps JOIN products p USING (product_id)
            WHERE p.product_type IS NOT NULL GROUP BY ps.query, p.product_type),
        shares AS (SELECT query, n / sum(n) OVER (PARTITION BY query) AS share FROM type_counts)
        -- rounded: a parallel sum's order changes the last bits, and with them the weighted sample
        SELECT query, round(1.0 - least(1.0, -sum(share * ln(share)) / ln({cfg.specificity_max_types})), 12)
               AS specificity
        FROM shares GROUP BY query""")
    con.execute(f"""
        CREATE TEMP TABLE sb_candidates AS
        SELECT ps.query, ps.product_id, p.title, p.domain, p.product_type,
               coalesce(qs.searches, 0) AS searches, ps.clicks, ps.purchases,
               ps.clicks / greatest(coalesce(qs.searches, 0), 1)::DOUBLE AS click_rate,
               ps.purchases / greatest(ps.clicks, ps.purchases, 1)::DOUBLE AS purchase_rate,
               coalesce(sp.specificity, 1.0) AS query_specificity,
               coalesce(qs.searches, 0) < {cfg.min_query_searches} AS low_engagement,
               exp({cfg.specificity_weight} * (1.0 - coalesce(sp.specificity, 1.0)))
                 * CASE WHEN coalesce(qs.searches, 0) < {cfg.min_query_searches}
                        THEN {cfg.low_engagement_boost} ELSE 1.0 END
                 * coalesce(fp.multiplier, 1.0) * coalesce(fq.multiplier, 1.0) AS sampling_weight,
               CASE
                 WHEN p.product_id IS NULL THEN 'unknown_product'
                 WHEN ps.purchases < {cfg.min_pair_purchases} THEN 'too_few_purchases'
                 WHEN NOT tt.top_tier THEN 'product_not_top_tier'
                 WHEN coalesce(qs.searches, 0) >= {cfg.min_query_searches}
                      AND ps.clicks / greatest(qs.searches, 1)::DOUBLE < {cfg.min_click_rate}
                   THEN 'low_click_rate'
                 WHEN coalesce(qs.searches, 0) >= {cfg.min_query_searches}
                      AND ps.purchases / greatest(ps.clicks, ps.purchases, 1)::DOUBLE < {cfg.min_purchase_rate}
                   THEN 'low_purchase_rate'
               END AS reason
        FROM pair_stats ps
        LEFT JOIN query_stats qs USING (query)
        LEFT JOIN products p USING (product_id)
        LEFT JOIN top_tier tt USING (product_id)
        LEFT JOIN query_specificity sp USING (query)
        LEFT JOIN feedback_boost fp ON fp.query_key = {QUERY_KEY_SQL.format(column='ps.query')}
                                   AND fp.product_id = ps.product_id
        LEFT JOIN feedback_boost fq ON fq.query_key = {QUERY_KEY_SQL.format(column='ps.query')}
                                   AND fq.product_id IS NULL
        WHERE ps.purchases > 0""")
    con.execute(f"""
        CREATE TEMP TABLE sb_ranked AS
        SELECT c.*, ln({u}) / c.sampling_weight AS sample_key,
               CASE WHEN c.reason IS NULL THEN row_number() OVER (
                   PARTITION BY c.reason IS NULL, c.query, coalesce(c.product_type, c.product_id)
                   ORDER BY c.purchases DESC, c.clicks DESC, {u}) END AS type_rank
        FROM sb_candidates c""")
    con.execute(f"""
        UPDATE sb_ranked SET reason = 'duplicate_type_pair'
        WHERE reason IS NULL AND type_rank > {cfg.max_pairs_per_type_pair}""")
    regular, low = con.execute("""
        SELECT count(*) FILTER (WHERE NOT low_engagement), count(*) FILTER (WHERE low_engagement)
        FROM sb_ranked WHERE reason IS NULL""").fetchall()[0]
    share = cfg.low_engagement_share
    low_cap = low if share >= 1 else math.floor(share / (1 - share) * regular)
    low_kept = min(low, low_cap, math.floor(share * cfg.max_search_buy_pairs))
    regular_kept = min(regular, cfg.max_search_buy_pairs - low_kept)
    con.execute(f"""
        UPDATE sb_ranked SET reason = CASE WHEN low_engagement THEN 'low_engagement_quota'
                                           ELSE 'over_daily_limit' END
        FROM (SELECT query AS q, product_id AS pid,
                     row_number() OVER (PARTITION BY low_engagement ORDER BY sample_key DESC) AS r,
                     low_engagement AS le
              FROM sb_ranked WHERE reason IS NULL) s
        WHERE sb_ranked.query = s.q AND sb_ranked.product_id = s.pid
          AND s.r > CASE WHEN s.le THEN {low_kept} ELSE {regular_kept} END""")
    columns = ", ".join(SEARCH_BUY_PAIRS.columns)
    kept = f"SELECT {columns} FROM sb_ranked WHERE reason IS NULL ORDER BY query, product_id"
    dropped = f"""
        SELECT 'search_buy' AS behaviour, query AS head, product_id, reason,
               CASE reason
                 WHEN 'low_click_rate' THEN printf('click_rate=%.4f < %s', click_rate, '{cfg.min_click_rate}')
                 WHEN 'low_purchase_rate' THEN printf('purchase_rate=%.4f < %s', purchase_rate, '{cfg.min_purchase_rate}')
                 WHEN 'duplicate_type_pair' THEN printf('rank %d for (query, %s)', type_rank, product_type)
                 WHEN 'too_few_purchases' THEN printf('purchases=%d', purchases)
               END AS detail
        FROM sb_ranked WHERE reason IS NOT NULL"""
    return kept, dropped


def _co_buy(con, cfg: SamplingSettings) -> tuple[str, str]:
    u = UNIFORM.format(key="c.product_a || '|' || c.product_b", seed=cfg.seed)
    con.execute(f"""
        CREATE TEMP TABLE baskets AS
        WITH bought AS (SELECT DISTINCT session_id, product_id FROM engaged WHERE event_type = 'purchase')
        SELECT * FROM bought WHERE session_id IN (
            SELECT session_id FROM bought GROUP BY session_id
            HAVING count(*) BETWEEN 2 AND {cfg.max_basket_products})""")
    con.execute("""
        CREATE TEMP TABLE cobuy AS
        SELECT a.product_id AS product_a, b.product_id AS product_b, count(*) AS support
        FROM baskets a JOIN baskets b ON a.session_id = b.session_id AND a.product_id < b.product_id
        GROUP BY a.product_id, b.product_id""")
    # Random purchases (batteries) are bought with anything: the product types bought with them are spread
    # as evenly as the day's baskets allow. The spread is the entropy of those types (Miller-Madow
    # corrected, as few partners understate it) over ln(types in the day's baskets), so it means the
    # same at any volume, where a count of distinct partner types grows with traffic.
    con.execute("""
        CREATE TEMP TABLE partner_type_counts AS
        SELECT product, partner_type, sum(support)::DOUBLE AS n FROM (
            SELECT c.product_a AS product, p.product_type AS partner_type, c.support
            FROM cobuy c JOIN products p ON p.product_id = c.product_b
            UNION ALL
            SELECT c.product_b, p.product_type, c.support FROM cobuy c JOIN products p ON p.product_id = c.product_a)
        WHERE partner_type IS NOT NULL GROUP BY product, partner_type""")
    con.execute("""
        CREATE TEMP TABLE partner_types AS
        WITH shares AS (
            SELECT product, n, sum(n) OVER (PARTITION BY product) AS total,
                   count(*) OVER (PARTITION BY product) AS n_types
            FROM partner_type_counts),
        day_types AS (
            SELECT count(DISTINCT p.product_type) AS t FROM (SELECT DISTINCT product_id FROM baskets) b
            JOIN products p USING (product_id) WHERE p.product_type IS NOT NULL)
        SELECT product, any_value(n_types) AS n_types,
               -- rounded: a parallel sum's order changes the last bits
               round(CASE WHEN any_value(t) < 2 THEN 0.0
                          ELSE (-sum(n / total * ln(n / total)) + (any_value(n_types) - 1) / (2 * any_value(total)))
                               / ln(any_value(t)) END, 12) AS type_spread
        FROM shares, day_types GROUP BY product""")
    # A type pair's lift over independence: baskets with both types against what the types' own
    # frequencies predict. Shared intentions (tent + sleeping bag) are far above 1, chance
    # pairs and random purchases near or below it, at any volume.
    con.execute("""
        CREATE TEMP TABLE basket_types AS
        SELECT DISTINCT b.session_id, p.product_type FROM baskets b JOIN products p USING (product_id)
        WHERE p.product_type IS NOT NULL""")
    con.execute("""
        CREATE TEMP TABLE type_pair_lift AS
        WITH n_baskets AS (SELECT count(DISTINCT session_id)::DOUBLE AS n FROM baskets),
        marginal AS (SELECT product_type, count(*)::DOUBLE AS n FROM basket_types GROUP BY product_type),
        together AS (
            SELECT a.product_type AS type_a, b.product_type AS type_b, count(*)::DOUBLE AS n
            FROM basket_types a JOIN basket_types b
              ON a.session_id = b.session_id AND a.product_type < b.product_type
            GROUP BY a.product_type, b.product_type)
        SELECT t.type_a || ' + ' || t.type_b AS type_pair, round(t.n * nb.n / (ma.n * mb.n), 12) AS lift
        FROM together t CROSS JOIN n_baskets nb
        JOIN marginal ma ON ma.product_type = t.type_a JOIN marginal mb ON mb.product_type = t.type_b""")
    same_type = "pa.product_type = pb.product_type" if cfg.drop_same_type_cobuy else "false"
    con.execute(f"""
        CREATE TEMP TABLE cb_candidates AS
        SELECT c.product_a, c.product_b, pa.title AS title_a, pb.title AS title_b,
               pa.domain AS domain_a, pb.domain AS domain_b,
               pa.product_type AS product_type_a, pb.product_type AS product_type_b, c.support,
               least(pa.product_type, pb.product_type) || ' + ' || greatest(pa.product_type, pb.product_type)
                 AS type_pair,
               greatest(coalesce(ta.type_spread, 0), coalesce(tb.type_spread, 0)) AS type_spread,
               CASE WHEN coalesce(ta.type_spread, 0) >= coalesce(tb.type_spread, 0)
                    THEN coalesce(ta.n_types, 0) ELSE coalesce(tb.n_types, 0) END AS partner_types,
               CASE
                 WHEN pa.product_id IS NULL OR pb.product_id IS NULL THEN 'unknown_product'
                 WHEN coalesce(ta.type_spread, 0) > {cfg.max_cobuy_type_spread}
                      OR coalesce(tb.type_spread, 0) > {cfg.max_cobuy_type_spread} THEN 'random_cobuy_product'
                 WHEN {same_type} THEN 'same_product_type'
                 WHEN c.support < {cfg.min_cobuy_support} THEN 'low_support'
               END AS reason,
               coalesce(xa.top_tier, false) AND coalesce(xb.top_tier, false) AS both_top_tier
        FROM cobuy c
        LEFT JOIN products pa ON pa.product_id = c.product_a
        LEFT JOIN products pb ON pb.product_id = c.product_b
        LEFT JOIN partner_types ta ON ta.product = c.product_a
        LEFT JOIN partner_types tb ON tb.product = c.product_b
        LEFT JOIN top_tier xa ON xa.product_id = c.product_a
        LEFT JOIN top_tier xb ON xb.product_id = c.product_b""")
    # Cross-check by product type: the type pair is bought together more than chance predicts (lift), and
    # enough distinct product pairs (random buyers and variants aside) back it for that to mean anything.
    # Untyped pairs cannot be cross-checked and pass.
    con.execute("""
        CREATE TEMP TABLE type_pair_support AS
        SELECT type_pair, count(*) AS type_pair_support FROM cb_candidates
        WHERE type_pair IS NOT NULL
          AND (reason IS NULL OR reason = 'low_support') GROUP BY type_pair""")
    con.execute(f"""
        CREATE TEMP TABLE cb_ranked AS
        SELECT c.*, coalesce(t.type_pair_support, 0) AS type_pair_support, coalesce(l.lift, 0) AS type_pair_lift,
               CASE
                 WHEN c.reason IS NOT NULL THEN c.reason
                 WHEN c.type_pair IS NOT NULL AND (coalesce(t.type_pair_support, 0) < {cfg.min_type_pair_support}
                                                   OR coalesce(l.lift, 0) < {cfg.min_type_pair_lift})
                   THEN 'type_pair_not_corroborated'
                 WHEN NOT c.both_top_tier THEN 'product_not_top_tier'
               END AS final_reason,
               {u} AS u,
               greatest(coalesce(fa.multiplier, 1.0), coalesce(fb.multiplier, 1.0)) AS feedback_weight
        FROM cb_candidates c LEFT JOIN type_pair_support t USING (type_pair)
        LEFT JOIN type_pair_lift l USING (type_pair)
        LEFT JOIN feedback_boost fa ON fa.query_key IS NULL AND fa.product_id = c.product_a
        LEFT JOIN feedback_boost fb ON fb.query_key IS NULL AND fb.product_id = c.product_b""")
    con.execute(f"""
        CREATE TEMP TABLE cb_final AS
        SELECT *, CASE
                    WHEN final_reason IS NOT NULL THEN final_reason
                    WHEN type_rank > {cfg.max_pairs_per_type_pair} THEN 'duplicate_type_pair'
                  END AS drop_reason
        FROM (SELECT *, CASE WHEN final_reason IS NULL THEN row_number() OVER (
                  PARTITION BY final_reason IS NULL, coalesce(type_pair, product_a || product_b)
                  ORDER BY support DESC, u) END AS type_rank
              FROM cb_ranked)""")
    con.execute(f"""
        UPDATE cb_final SET drop_reason = 'over_daily_limit'
        FROM (SELECT product_a AS a, product_b AS b,
                     row_number() OVER (ORDER BY ln(u) / feedback_weight DESC) AS r
              FROM cb_final WHERE drop_reason IS NULL) s
        WHERE cb_final.product_a = s.a AND cb_final.product_b = s.b AND s.r > {cfg.max_co_buy_pairs}""")
    columns = ", ".join(CO_BUY_PAIRS.columns)
    kept = f"SELECT {columns} FROM cb_final WHERE drop_reason IS NULL ORDER BY product_a, product_b"
    dropped = f"""
        SELECT 'co_buy' AS behaviour, product_a AS head, product_b AS product_id, drop_reason AS reason,
               CASE drop_reason
                 WHEN 'random_cobuy_product' THEN printf('co-bought with %d product types, spread %.2f > %s',
                                                         partner_types, type_spread, '{cfg.max_cobuy_type_spread}')
                 WHEN 'same_product_type' THEN product_type_a
                 WHEN 'low_support' THEN printf('support=%d < %d', support, {cfg.min_cobuy_support})
                 WHEN 'type_pair_not_corroborated' THEN printf('%s backed by %d pairs (min %d), lift %.2f (min %s)',
                                                               type_pair, type_pair_support, {cfg.min_type_pair_support},
                                                               type_pair_lift, '{cfg.min_type_pair_lift}')
                 WHEN 'duplicate_type_pair' THEN printf('rank %d for %s', type_rank, type_pair)
               END AS detail
        FROM cb_final WHERE drop_reason IS NOT NULL"""
    return kept, dropped


def _statistics_sql() -> str:
    return """
        WITH sb AS (SELECT domain, count(*) AS n, count(DISTINCT query) AS queries
                    FROM search_buy_kept GROUP BY domain),
        cb AS (SELECT domain, count(*) AS n FROM (
                 SELECT domain_a AS domain FROM co_buy_kept
                 UNION ALL SELECT domain_b FROM co_buy_kept WHERE domain_b IS DISTINCT FROM domain_a)
               GROUP BY domain),
        prods AS (SELECT domain, count(DISTINCT product_id) AS products,
                         count(DISTINCT product_type) AS product_types FROM (
                    SELECT domain, product_id, product_type FROM search_buy_kept
                    UNION ALL SELECT domain_a, product_a, product_type_a FROM co_buy_kept
                    UNION ALL SELECT domain_b, product_b, product_type_b FROM co_buy_kept)
                  GROUP BY domain)
        SELECT coalesce(p.domain, 'unknown') AS domain, p.products, p.product_types,
               coalesce(sb.queries, 0) AS queries, coalesce(sb.n, 0) AS search_buy_pairs,
               coalesce(cb.n, 0) AS co_buy_pairs
        FROM prods p LEFT JOIN sb USING (domain) LEFT JOIN cb USING (domain)
        ORDER BY search_buy_pairs + co_buy_pairs DESC, domain"""


def sample_behaviours(storage: Storage, ds: dt.date | str, cfg: SamplingSettings, *,
                      feedback: FeedbackSettings | None = None) -> SamplingResult:
    """Sample one day's behaviour pairs and publish kept, dropped and per-domain statistics. With
    ``feedback``, the behaviours shoppers interacted with in the days before weigh more
    (:mod:`cosmo.feedback_signals`)."""
    ds = as_date(ds)
    con = _connect(storage, cfg)
    try:
        boosts = behaviour_boosts(storage, ds, feedback) if feedback else EMPTY_BOOSTS
        con.register("feedback_boost", boosts)
        _prepare(con, storage, ds, cfg)
        sb_kept, sb_dropped = _search_buy(con, cfg)
        cb_kept, cb_dropped = _co_buy(con, cfg)
        con.execute(f"CREATE TEMP TABLE search_buy_kept AS {sb_kept}")
        con.execute(f"CREATE TEMP TABLE co_buy_kept AS {cb_kept}")
        search_buy = con.sql("SELECT * FROM search_buy_kept").to_arrow_table()
        co_buy = con.sql("SELECT * FROM co_buy_kept").to_arrow_table()
        uris = {
            SEARCH_BUY_PAIRS.name: storage.write(SEARCH_BUY_PAIRS, ds, search_buy),
            CO_BUY_PAIRS.name: storage.write(CO_BUY_PAIRS, ds, co_buy),
        }
        counts: Counter[tuple[str, str]] = Counter()
        with storage.writer(DROPPED_PAIRS, ds) as writer:
            for sql in (sb_dropped, cb_dropped):
                for batch in con.sql(sql).to_arrow_reader(500_000):
                    writer.write(batch)
                    counts.update(zip(batch.column("behaviour").to_pylist(), batch.column("reason").to_pylist(),
                                      strict=True))
        uris[DROPPED_PAIRS.name] = writer.uri
        statistics = conform(con.sql(_statistics_sql()).to_arrow_table(), DOMAIN_STATISTICS)
        uris[DOMAIN_STATISTICS.name] = storage.write(DOMAIN_STATISTICS, ds, statistics)
        dropped: dict[str, dict[str, int]] = {"search_buy": {}, "co_buy": {}}
        for (behaviour, reason), n in sorted(counts.items(), key=lambda item: (item[0][0], -item[1])):
            dropped[behaviour][reason] = n
        kept = {"search_buy": search_buy.num_rows, "co_buy": co_buy.num_rows}
        return SamplingResult(uris=uris, kept=kept, dropped=dropped, statistics=statistics)
    finally:
        con.close()
