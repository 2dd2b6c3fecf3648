"""The knowledge API for downstream teams (paper 3.5): knowledge for a query, a product or a
query-product pair, navigation suggestions from the intention hierarchy, multi-turn navigation
(paper 4.3: broad query -> intentions -> product types -> attribute refinements, with a small web page
at ``/navigate`` that walks the turns), and feedback events.

A query's knowledge comes from the cache (its daily layer, then the frequent searches pre-loaded),
then the feature store (the graph's knowledge of the served day); when neither has it the request
is queued for the next daily batch (COSMO-LM answers it) and the API answers at once with status
``pending`` (HTTP 202). Products are looked up the same way.

Every route but ``/health`` and the navigation page (static; it asks for a token and sends it with its
calls) needs a bearer token; tokens come from the environment or AWS Secrets
Manager (:func:`accepted_tokens`), never from a file in the repository, and are held only as
digests. Inputs are validated by their pydantic models (a clear 422 names the field). Each request
is logged as one JSON line on the ``cosmo.api.access`` logger (never with its token), and counted
in Prometheus metrics at ``/metrics``.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures' annotations, some local.
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cosmo.apps import segmentation
from cosmo.catalog import ENGAGEMENT_EVENTS, FEEDBACK_KINDS, query_key
from cosmo.config import Settings
from cosmo.errors import CosmoError
from cosmo.serving import knowledge as served
from cosmo.serving.feature_sets import INTENTION_HIERARCHY, PRODUCT_INTENT, QUERY_INTENT
from cosmo.serving.navigation_page import PAGE as NAVIGATION_PAGE

access_log = logging.getLogger("cosmo.api.access")
log = logging.getLogger(__name__)

API_VERSION = "1"
QUERY_KNOWLEDGE_PATH = "/v1/queries/knowledge"
MAX_TEXT = 500
NAVIGATION_INTENTS = 3


class ApiConfigError(CosmoError):
    """The API cannot start as configured (e.g. no tokens)."""


# -- tokens ------------------------------------------------------------------------------------------

def accepted_tokens(settings: Settings, *, secrets_client=None) -> list[str]:
    """The bearer tokens callers may present: ``api.tokens`` (the environment) and the JSON list (or
    single token) in the Secrets Manager secret ``api.token_secret_id``."""
    tokens = [t.get_secret_value() for t in settings.api.tokens]
    if settings.api.token_secret_id:
        if secrets_client is None:
            from cosmo import aws

            secrets_client = aws.client_for(settings, "secretsmanager")
        value = secrets_client.get_secret_value(SecretId=settings.api.token_secret_id)["SecretString"]
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        tokens += [parsed] if isinstance(parsed, str) else [str(t) for t in parsed]
    tokens = [t for t in tokens if t]
    if not tokens:
        raise ApiConfigError("the knowledge API has no tokens to accept: set COSMO_API__TOKENS (a JSON list) "
                             "or api.token_secret_id (a Secrets Manager secret)")
    return tokens


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# -- the wire format ------------------------------------------------------------------------------------

class Intent(BaseModel):
    relation: str
    intention_id: str | None = None
    intention: str
    typicality: float | None = Field(None, description="Critic typicality; none for COSMO-LM answers not yet scored.")
    plausibility: float | None = None
    evidence: int = Field(0, description="Behaviour evidence (purchases or co-buy support) behind the edge.")


class ProductTypeScore(BaseModel):
    product_type: str
    score: float


class Knowledge(BaseModel):
    status: Literal["ready", "pending"]
    ds: str | None = Field(None, description="The graph day (or the batch day) the knowledge is from.")
    source: str | None = Field(None, description="graph, cosmo-lm:<model> or none.")
    intents: list[Intent] = []
    strong_intent: bool = False
    intent_cluster: str | None = None
    intent_cluster_name: str | None = None
    product_types: list[ProductTypeScore] = []
    reason: str | None = None


class QueryKnowledge(Knowledge):
    query: str
    query_key: str


class ProductKnowledge(Knowledge):
    product_id: str
    title: str | None = None
    product_type: str | None = None
    domain: str | None = None


class PairKnowledge(BaseModel):
    status: Literal["ready", "pending"]
    query: QueryKnowledge
    product: ProductKnowledge
    shared_intents: list[Intent] = Field([], description="Intentions the query and the product share.")
    same_cluster: bool = Field(False, description="Their top intentions have the same root intention.")
    product_type_score: float | None = Field(
        None, description="How strongly the query's intentions lead to the product's type (none: not at all).")


class Suggestion(BaseModel):
    text: str
    intention_id: str | None = None
    kind: Literal["refine", "broaden", "product_type"]
    because: str | None = Field(None, description="The query's intention the suggestion comes from.")


class Navigation(BaseModel):
    status: Literal["ready", "pending"]
    query: str
    suggestions: list[Suggestion] = []


class NavigationOption(BaseModel):
    kind: Literal["intention", "product_type", "refinement"]
    text: str
    intention_id: str | None = None
    score: float | None = Field(None, description="Typicality (intentions) or share (product types).")


class NavigationTurn(BaseModel):
    status: Literal["ready", "pending"]
    query: str
    turn: Literal["intention", "product_type", "refinement", "done"] = Field(
        "intention", description="What the options of this turn are; done: nothing left to refine.")
    path: list[NavigationOption] = Field([], description="The choices made so far, in order.")
    options: list[NavigationOption] = []
    search: str = Field("", description="What to search for after the choices made so far.")


class Engaged(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(..., min_length=1, max_length=128)
    event: Literal[ENGAGEMENT_EVENTS]  # type: ignore[valid-type]
    ts: dt.datetime = Field(..., description="When it happened, with a time zone.")

    @model_validator(mode="after")
    def _zoned(self) -> "Engaged":
        if self.ts.tzinfo is None:
            raise ValueError("ts needs a time zone (e.g. 2026-12-01T10:00:00Z)")
        return self


class EngagementBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engagements: list[Engaged] = Field(..., min_length=1, description="A customer's recent engagements.")
    now: dt.datetime | None = Field(None, description="Rank as of this time (default: the latest engagement).")


class ClusterRecommendation(BaseModel):
    product_type: str
    weight: float = Field(..., description="Summed link weight from the cluster's product types through the intent.")


class IntentCluster(BaseModel):
    intent: str | None = Field(None, description="The cluster's intention; none for a type no intention explains.")
    product_types: list[str]
    engagement: float = Field(..., description="E: the cluster's engagements.")
    recency: float = Field(..., description="R_t: the sigmoid recency reward of its latest engagement.")
    score: float = Field(..., description="R = R_t^lambda * E^tau.")
    last_engaged: dt.datetime
    recommendations: list[ClusterRecommendation] = Field(
        [], description="Complementary product types of the intention the customer has not engaged with.")


class IntentClusters(BaseModel):
    status: Literal["ready"]
    clusters: list[IntentCluster] = Field([], description="Best first.")
    unknown_products: list[str] = Field([], description="Products without knowledge yet (queued), left out.")


class FeedbackEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                                 description="Caller's id of the event; a retried event with the same id counts once.")
    event: Literal[FEEDBACK_KINDS]  # type: ignore[valid-type]
    query: str | None = Field(None, min_length=1, max_length=MAX_TEXT)
    product_id: str | None = Field(None, min_length=1, max_length=128)
    intention_id: str | None = Field(None, min_length=1, max_length=128,
                                     description="The served intention the event concerns, if any.")
    session_id: str | None = Field(None, min_length=1, max_length=128)
    ts: dt.datetime | None = Field(None, description="When it happened (default: when received).")

    @model_validator(mode="after")
    def _names_something(self) -> "FeedbackEvent":
        if self.query is None and self.product_id is None:
            raise ValueError("an event names a query, a product_id or both")
        if self.query is not None and not query_key(self.query):
            raise ValueError("query is blank")
        if self.ts is not None and self.ts.tzinfo is None:
            raise ValueError("ts needs a time zone (e.g. 2026-12-01T10:00:00Z)")
        return self


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[FeedbackEvent] = Field(..., min_length=1)


class FeedbackAccepted(BaseModel):
    accepted: int


class Health(BaseModel):
    status: Literal["ok"]
    served_ds: str | None


# -- the app ----------------------------------------------------------------------------------------

@dataclass
class Services:
    """What the API reads and writes; the app closes none of them (their owner does)."""

    feature_store: Any
    cache: Any
    feedback: Any  # FeedbackWriter
    registry: CollectorRegistry


class _AccessLog:
    """ASGI middleware: one JSON line per request and the request metrics (pure ASGI, so it adds no
    task switch to each request the way an http middleware does)."""

    def __init__(self, app, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen = {"status": 500}

        async def recorded_send(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recorded_send)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.requests.labels(scope["method"], path, str(seen["status"])).inc()
            self.latency.labels(path).observe(seconds)
            if access_log.isEnabledFor(logging.INFO):
                headers = dict(scope.get("headers") or [])
                access_log.info(json.dumps({
                    "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                    "method": scope["method"], "path": scope["path"], "route": path, "status": seen["status"],
                    "ms": round(seconds * 1000, 3),
                    "client": (scope.get("client") or ["", 0])[0],
                    "request_id": headers.get(b"x-request-id", b"").decode("latin-1") or None,
                    "caller": scope.get("state", {}).get("caller")}))


class _HeldHits:
    """ASGI middleware: a query this process holds a hit for (``cache.local_ttl_seconds``) is answered
    here, past FastAPI's per-request machinery, which is most of a hit's time. Only a valid bearer token
    and one well-formed ``q`` take this path, and the answer is the route's own model; anything else
    (a miss, a bad input, no token, an outage) goes on to the route, which answers and explains it."""

    def __init__(self, app, route, authenticate: Callable[[str], str | None],
                 answer: Callable[[str], bytes | None]) -> None:
        self.app = app
        self.route = route
        self.authenticate = authenticate
        self.answer = answer

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == self.route.path:
            body = self._held(scope)
            if body is not None:
                scope["route"] = self.route
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _held(self, scope) -> bytes | None:
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode("latin-1")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        texts = [value for name, value in params if name == "q"]
        if len(texts) != 1 or not texts[0]:
            return None
        fingerprint = self.authenticate(token)
        if fingerprint is None:
            return None
        body = self.answer(texts[0])
        if body is not None:
            scope.setdefault("state", {})["caller"] = fingerprint
        return body


def create_app(settings: Settings, services: Services, tokens: list[str]) -> FastAPI:
    """The API over ``services``; ``tokens`` from :func:`accepted_tokens`."""
    if not tokens:
        raise ApiConfigError("no tokens: the API accepts no unauthenticated callers")
    digests = [_digest(t) for t in tokens]
    store, cache, registry = services.feature_store, services.cache, services.registry
    requests = Counter("cosmo_api_requests_total", "API requests by route and status",
                       ["method", "route", "status"], registry=registry)
    latency = Histogram("cosmo_api_request_seconds", "API request latency by route", ["route"], registry=registry,
                        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
    pending = Counter("cosmo_api_pending_total", "Requests answered pending and queued", ["kind"],
                      registry=registry)
    ranking = segmentation.RankingParams.from_settings(settings.apps.intents)
    bearer = HTTPBearer(auto_error=False, description="A token from COSMO_API__TOKENS or api.token_secret_id.")

    def authenticate(token: str) -> str | None:
        """The caller's fingerprint (names it in logs without the token), or None for a token not accepted."""
        presented = _digest(token)
        # compare against every token, so the time taken says nothing about which one nearly matched
        matched = [hmac.compare_digest(presented, d) for d in digests]
        return presented.hex()[:8] if any(matched) else None

    async def caller(request: Request,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        fingerprint = authenticate(credentials.credentials)
        if fingerprint is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the bearer token is not valid",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        request.scope.setdefault("state", {})["caller"] = fingerprint
        return fingerprint

    Authorised = Annotated[str, Depends(caller)]
    QueryText = Annotated[str, Query(min_length=1, max_length=MAX_TEXT, description="The search query.")]
    ProductId = Annotated[str, Query(min_length=1, max_length=128, description="Catalogue product id.")]

    app = FastAPI(
        title="COSMO knowledge API", version=API_VERSION,
        description="Shopping-intention knowledge for queries and products, navigation suggestions and "
                    "feedback. Every route but /health takes a bearer token.")

    def backend_call(what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as error:  # a store or cache outage is the service's, not the caller's, fault
            log.exception("%s failed", what)
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{what} is unavailable: "
                                f"{type(error).__name__}") from error

    def lookup(kind: str, key: str, feature_set) -> dict | None:
        entry = backend_call("the cache", lambda: cache.get(kind, key))
        if entry is not None:
            return entry.knowledge
        row = backend_call("the feature store", lambda: store.get(feature_set, key))
        return served.from_features(row) if row is not None else None

    def query_knowledge(text: str) -> QueryKnowledge:
        key = query_key(text)
        if not key:
            raise HTTPException(422, "query is blank")
        found = lookup("query", key, QUERY_INTENT)
        if found is None:
            backend_call("the cache queue", lambda: cache.enqueue("query", key))
            pending.labels("query").inc()
            return QueryKnowledge(status="pending", query=text, query_key=key)
        return ready_query(text, key, found)

    def ready_query(text: str, key: str, knowledge: dict) -> QueryKnowledge:
        return QueryKnowledge(status="ready", query=text, query_key=key, **_known(knowledge))

    def product_knowledge(product_id: str) -> ProductKnowledge:
        found = lookup("product", product_id, PRODUCT_INTENT)
        if found is None:
            backend_call("the cache queue", lambda: cache.enqueue("product", product_id))
            pending.labels("product").inc()
            return ProductKnowledge(status="pending", product_id=product_id)
        return ProductKnowledge(status="ready", product_id=product_id, **_known(found))

    def answer(model: BaseModel) -> JSONResponse:
        code = status.HTTP_200_OK if model.status == "ready" else status.HTTP_202_ACCEPTED
        return JSONResponse(model.model_dump(mode="json"), status_code=code)

    # Lookups are async routes: a cache or store read takes well under a millisecond, less than the hop
    # to a worker thread would; feedback, which waits for its file write, stays on the thread pool.
    ready_or_pending = {202: {"description": "Not known yet: queued for the next batch; ask again later."},
                        401: {"description": "Missing or invalid bearer token."}}

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Health:
        """Liveness and the day being served (no token needed; says nothing about the knowledge)."""
        served_ds = backend_call("the feature store", lambda: store.current_ds(QUERY_INTENT))
        return Health(status="ok", served_ds=served_ds)

    @app.get(QUERY_KNOWLEDGE_PATH, response_model=QueryKnowledge, responses=ready_or_pending,
             tags=["knowledge"])
    async def knowledge_for_query(q: QueryText, _: Authorised):
        """What the query is for: intentions by relation, strong-intent flag, cluster, linked product types."""
        return answer(query_knowledge(q))

    @app.get("/v1/products/{product_id}/knowledge", response_model=ProductKnowledge, responses=ready_or_pending,
             tags=["knowledge"])
    async def knowledge_for_product(product_id: Annotated[str, Path(min_length=1, max_length=128)], _: Authorised):
        """What the product is bought for, and the product types linked to it through its intentions."""
        return answer(product_knowledge(product_id))

    @app.get("/v1/pairs/knowledge", response_model=PairKnowledge, responses=ready_or_pending, tags=["knowledge"])
    async def knowledge_for_pair(q: QueryText, product_id: ProductId, _: Authorised):
        """The query's and the product's knowledge and what links them (for relevance and ranking)."""
        query, product = query_knowledge(q), product_knowledge(product_id)
        ready = query.status == "ready" and product.status == "ready"
        pair = PairKnowledge(status="ready" if ready else "pending", query=query, product=product)
        if ready:
            product_intentions = {i.intention_id for i in product.intents if i.intention_id}
            pair.shared_intents = [i for i in query.intents if i.intention_id in product_intentions]
            pair.same_cluster = bool(query.intent_cluster) and query.intent_cluster == product.intent_cluster
            scores = {t.product_type: t.score for t in query.product_types}
            pair.product_type_score = scores.get(product.product_type) if product.product_type else None
        return answer(pair)

    def top_intentions(knowledge: QueryKnowledge) -> tuple[list[Intent], dict[str, dict]]:
        """The query's first intentions in the graph, and their hierarchy rows (what navigation starts from)."""
        top = [i for i in knowledge.intents if i.intention_id][:NAVIGATION_INTENTS]
        rows = backend_call("the feature store", lambda: store.batch_get(
            INTENTION_HIERARCHY, [i.intention_id for i in top])) if top else {}
        return top, rows

    def intention_row(intention_id: str) -> dict:
        row = backend_call("the feature store", lambda: store.get(INTENTION_HIERARCHY, intention_id))
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"intention_id {intention_id!r} is not in the graph")
        return row

    def intention_options(ids_and_names: list[tuple[str, str, float | None]]) -> list[NavigationOption]:
        return [NavigationOption(kind="intention", text=name, intention_id=i, score=score)
                for i, name, score in ids_and_names]

    @app.get("/v1/queries/navigation", response_model=Navigation, responses=ready_or_pending,
             tags=["navigation"])
    async def navigation_for_query(q: QueryText, _: Authorised):
        """Suggestions for the next turn of a search (multi-turn navigation): finer and broader intentions
        from the hierarchy around the query's top intentions, and the product types they lead to."""
        knowledge = query_knowledge(q)
        if knowledge.status == "pending":
            return answer(Navigation(status="pending", query=q))
        top, rows = top_intentions(knowledge)
        suggestions: list[Suggestion] = []
        seen: set[str] = {query_key(q)}
        for intent in top:
            row = rows.get(intent.intention_id)
            if row is None:
                continue
            for child in json.loads(row.get("children") or "[]"):
                suggestions.append(Suggestion(text=child["name"], intention_id=child["intention_id"], kind="refine",
                                              because=intent.intention))
            if row.get("parent_id"):
                suggestions.append(Suggestion(text=row["parent_name"], intention_id=row["parent_id"],
                                              kind="broaden", because=intent.intention))
        suggestions += [Suggestion(text=t.product_type, kind="product_type") for t in knowledge.product_types]
        unique = []
        for suggestion in suggestions:
            if query_key(suggestion.text) not in seen:
                seen.add(query_key(suggestion.text))
                unique.append(suggestion)
        return answer(Navigation(status="ready", query=q, suggestions=unique))

    @app.get("/v1/navigation/turn", response_model=NavigationTurn, responses={
        **ready_or_pending, 404: {"description": "The intention is not in the graph, or the product type or "
                                                 "refinement is not one of the previous turn's options."}},
             tags=["navigation"])
    async def navigation_turn(
            q: QueryText, _: Authorised,
            intention_id: Annotated[str | None, Query(min_length=1, max_length=128,
                                                      description="The intention chosen in the first turn.")] = None,
            product_type: Annotated[str | None, Query(min_length=1, max_length=MAX_TEXT,
                                                      description="The product type chosen next.")] = None,
            refinement: Annotated[str | None, Query(min_length=1, max_length=MAX_TEXT,
                                                    description="The attribute chosen last.")] = None):
        """One turn of multi-turn navigation. With only ``q``: the query's intentions and finer ones from
        the hierarchy. With an ``intention_id``: the product types carrying it (and its finer intentions,
        to narrow instead). With a ``product_type`` too: the attributes shoppers search that type with.
        With a ``refinement``: done; ``search`` is the refined query."""
        if intention_id is None:
            if product_type is not None or refinement is not None:
                raise HTTPException(422, "choose an intention_id before a product_type or refinement")
            knowledge = query_knowledge(q)
            if knowledge.status == "pending":
                return answer(NavigationTurn(status="pending", query=q))
            top, rows = top_intentions(knowledge)
            found = [(i.intention_id, i.intention, i.typicality) for i in top]
            for intent in top:
                row = rows.get(intent.intention_id) or {}
                found += [(c["intention_id"], c["name"], None) for c in json.loads(row.get("children") or "[]")]
            seen: set[str] = set()
            options = [o for o in found if o[0] not in seen and not seen.add(o[0])]  # first mention wins
            return answer(NavigationTurn(status="ready", query=q, turn="intention", search=q,
                                         options=intention_options(options)))
        row = intention_row(intention_id)
        path = [NavigationOption(kind="intention", text=row["name"], intention_id=intention_id)]
        types = {t["product_type"]: t for t in json.loads(row.get("product_types") or "[]")}
        if product_type is None:
            if refinement is not None:
                raise HTTPException(422, "choose a product_type before a refinement")
            children = [(c["intention_id"], c["name"], None) for c in json.loads(row.get("children") or "[]")]
            options = [NavigationOption(kind="product_type", text=t, score=v["score"]) for t, v in types.items()]
            return answer(NavigationTurn(status="ready", query=q, turn="product_type", path=path, search=q,
                                         options=options + intention_options(children)))
        if product_type not in types:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"product_type {product_type!r} does not carry intention {row['name']!r}")
        path.append(NavigationOption(kind="product_type", text=product_type, score=types[product_type]["score"]))
        refinements = types[product_type].get("refinements") or []
        if refinement is None:
            options = [NavigationOption(kind="refinement", text=r) for r in refinements]
            return answer(NavigationTurn(status="ready", query=q, turn="refinement" if options else "done",
                                         path=path, options=options, search=product_type))
        if refinement not in refinements:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"refinement {refinement!r} is not one shoppers use with {product_type!r}")
        path.append(NavigationOption(kind="refinement", text=refinement))
        return answer(NavigationTurn(status="ready", query=q, turn="done", path=path,
                                     search=f"{refinement} {product_type}"))

    @app.get("/navigate", response_class=HTMLResponse, include_in_schema=False)
    async def navigation_page() -> HTMLResponse:
        """The multi-turn navigation page: static; its script sends the token the user enters."""
        return HTMLResponse(NAVIGATION_PAGE,
                            headers={"Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                                                                "script-src 'unsafe-inline'"})

    @app.post("/v1/customers/intent-clusters", response_model=IntentClusters, tags=["recommendation"],
              responses={401: {"description": "Missing or invalid bearer token."},
                         413: {"description": "More engagements than api.max_batch in one request."}})
    async def intent_clusters(batch: EngagementBatch, _: Authorised) -> IntentClusters:
        """A customer's engaged product types segmented into intent clusters, ranked by R = R_t^lambda * E^tau
        (Shen et al. IV.D; lambda, tau and the recency sigmoid from apps.intents), each with the complementary
        product types its intention links (the intent-aware product-relation graph)."""
        if len(batch.engagements) > settings.api.max_batch:
            raise HTTPException(413, f"at most {settings.api.max_batch} engagements per request")
        known, unknown = {}, []
        for product_id in dict.fromkeys(e.product_id for e in batch.engagements):
            product = product_knowledge(product_id)
            if product.status == "ready" and product.product_type:
                known[product_id] = product
            else:
                unknown.append(product_id)
        engaged = [e for e in batch.engagements if e.product_id in known]
        if not engaged:
            return IntentClusters(status="ready", unknown_products=unknown)
        intention_ids = {i.intention: i.intention_id for p in known.values() for i in p.intents if i.intention_id}
        rows = backend_call("the feature store", lambda: store.batch_get(INTENTION_HIERARCHY,
                                                                         sorted(set(intention_ids.values()))))
        ranked = segmentation.served_clusters(
            [(known[e.product_id].product_type, e.event, e.ts) for e in engaged],
            {p.product_type: [(i.intention, i.typicality or 0.0) for i in p.intents] for p in known.values()},
            {name: [(t["product_type"], t["score"]) for t in json.loads((rows.get(i) or {}).get("product_types") or "[]")]
             for name, i in intention_ids.items()},
            ranking, batch.now)
        return IntentClusters(status="ready", unknown_products=unknown, clusters=[
            IntentCluster(intent=c.intent, product_types=list(c.categories), engagement=c.engagement,
                          recency=c.recency, score=c.score, last_engaged=c.last_engaged,
                          recommendations=[ClusterRecommendation(product_type=r.category, weight=r.weight)
                                           for r in c.recommendations]) for c in ranked])

    @app.post("/v1/feedback", response_model=FeedbackAccepted, status_code=status.HTTP_202_ACCEPTED,
              responses={401: {"description": "Missing or invalid bearer token."},
                         413: {"description": "More events than api.max_batch in one request."}},
              tags=["feedback"])
    def feedback(batch: FeedbackBatch, _: Authorised) -> FeedbackAccepted:
        """Interactions with served knowledge (shown, clicked, purchased). Answered once the events are
        stored; a retried event with the same event_id is counted once."""
        if len(batch.events) > settings.api.max_batch:
            raise HTTPException(413,
                                f"at most {settings.api.max_batch} events per request")
        events = [e.model_dump() for e in batch.events]
        for event in events:
            event["event_id"] = event["event_id"] or uuid.uuid4().hex
        accepted = backend_call("the feedback store", lambda: services.feedback.submit(events))
        return FeedbackAccepted(accepted=accepted)

    @app.get("/metrics", tags=["service"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition."}})
    async def metrics(_: Authorised) -> Response:
        """Prometheus metrics: requests, latency, cache hits by layer, queue length (scrape with the token)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def held_query_knowledge(text: str) -> bytes | None:
        key = query_key(text)
        found = cache.peek("query", key) if key and len(text) <= MAX_TEXT else None
        if found is None:
            return None
        return ready_query(text, key, found.knowledge).model_dump_json().encode()

    query_route = next(r for r in app.routes if getattr(r, "path", None) == QUERY_KNOWLEDGE_PATH)
    app.add_middleware(_HeldHits, route=query_route, authenticate=authenticate, answer=held_query_knowledge)
    app.add_middleware(_AccessLog, requests=requests, latency=latency)
    return app


def _known(knowledge: dict) -> dict:
    fields = set(ProductKnowledge.model_fields) - {"status", "product_id"}
    return {k: v for k, v in knowledge.items() if k in fields}
