"""The SageMaker feature store against the real service models.

moto 5.2.5 does not implement sagemaker-featurestore-runtime, so the data plane (PutRecord, GetRecord,
BatchGetRecord, DeleteRecord) runs on real boto3 clients with ``botocore.stub.Stubber``: every call is
checked against the service model and against the parameters we expect. The control plane
(CreateFeatureGroup, DescribeFeatureGroup, the offline store's bucket) runs against moto's server on
loopback. moto keeps neither a group's OnlineStoreConfig nor its Description, and answers a
DescribeFeatureGroup of a missing group with a 500, so those cases are stubbed too.
"""

from __future__ import annotations

import datetime as dt

import boto3
import pyarrow as pa
import pytest
from botocore.stub import ANY, Stubber

from cosmo.errors import DataError
from cosmo.serving.feature_sets import (
    FEATURE_SETS,
    INTENTION_HIERARCHY,
    PRODUCT_INTENT,
    QUERY_INTENT,
)
from cosmo.serving.feature_store import (
    DESCRIPTION_LIMIT,
    BatchGetError,
    FeatureStoreError,
    PublishError,
    SageMakerFeatureStore,
    open_feature_store,
)

REGION = "us-east-1"
GROUP = "cosmo-test-query-intent"
DAY1, DAY2 = "2026-11-21", "2026-11-22"
ROLE = "arn:aws:iam::123456789012:role/cosmo-test-feature-store"

ROWS = [
    {"query_id": "q1", "query": "Running Shoes", "intents": '[{"relation": "usedFor"}]',
     "top_intention": "go running", "top_relation": "usedFor", "top_typicality": 0.75, "strong_intent": 1,
     "intent_cluster": "n1", "intent_cluster_name": "sport", "product_types": '[{"product_type": "shoe"}]',
     "critic_models": '["c-v1"]'},
    {"query_id": "q2", "query": "gift", "intents": "[]", "top_intention": None, "top_relation": None,
     "top_typicality": None, "strong_intent": 0, "intent_cluster": None, "intent_cluster_name": None,
     "product_types": "[]", "critic_models": "[]"},
    {"query_id": "q3", "query": "tent", "intents": "[]", "top_intention": "camp", "top_relation": "usedFor",
     "top_typicality": 1e-05, "strong_intent": 0, "intent_cluster": "n2", "intent_cluster_name": "outdoors",
     "product_types": "[]", "critic_models": "[]"},
]


def rows(n: int | None = None) -> pa.Table:
    if n is None:
        return pa.Table.from_pylist(ROWS, schema=QUERY_INTENT.schema)
    many = [dict(ROWS[0], query_id=f"q{i}") for i in range(n)]
    return pa.Table.from_pylist(many, schema=QUERY_INTENT.schema)


def feature(name: str, value: str) -> dict:
    return {"FeatureName": name, "ValueAsString": value}


def stamp(identifier: str, ds: str, event_time=ANY) -> list[dict]:
    return [feature("record_id", identifier), {"FeatureName": "event_time", "ValueAsString": event_time},
            feature("ds", ds)]


# What PutRecord must receive for ROWS on DAY2: typed values as strings, null features left out.
EXPECTED_RECORDS = [
    [*stamp(f"{DAY2}/q1", DAY2), feature("query_id", "q1"), feature("query", "Running Shoes"),
     feature("intents", '[{"relation": "usedFor"}]'), feature("top_intention", "go running"),
     feature("top_relation", "usedFor"), feature("top_typicality", "0.75"), feature("strong_intent", "1"),
     feature("intent_cluster", "n1"), feature("intent_cluster_name", "sport"),
     feature("product_types", '[{"product_type": "shoe"}]'), feature("critic_models", '["c-v1"]')],
    [*stamp(f"{DAY2}/q2", DAY2), feature("query_id", "q2"), feature("query", "gift"),
     feature("intents", "[]"), feature("strong_intent", "0"), feature("product_types", "[]"),
     feature("critic_models", "[]")],
    [*stamp(f"{DAY2}/q3", DAY2), feature("query_id", "q3"), feature("query", "tent"),
     feature("intents", "[]"), feature("top_intention", "camp"), feature("top_relation", "usedFor"),
     feature("top_typicality", "1e-05"), feature("strong_intent", "0"), feature("intent_cluster", "n2"),
     feature("intent_cluster_name", "outdoors"), feature("product_types", "[]"),
     feature("critic_models", "[]")],
]


@pytest.fixture
def aws_credentials(monkeypatch):
    # The stubbed and moto clients accept any credentials; real runs use the standard AWS credential chain.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def runtime(aws_credentials):
    """A real runtime client whose calls are answered by a Stubber; ``calls`` records what was sent."""
    client = boto3.client("sagemaker-featurestore-runtime", region_name=REGION)
    calls: list[tuple[str, dict]] = []

    def record(params, model, **_kwargs):
        calls.append((model.name, params))

    client.meta.events.register("before-parameter-build.sagemaker-featurestore-runtime.*", record)
    with Stubber(client) as stubber:
        yield client, stubber, calls


@pytest.fixture
def store(runtime, tmp_path):
    client, _stubber, _calls = runtime
    return SageMakerFeatureStore(group_names={"query_intent": GROUP}, runtime_client=client,
                                 publish_workers=1, pointer_ttl_s=60, spool_dir=str(tmp_path))


def expect_pointer(stubber, ds: str | None, event_time: str = "1700000000.5") -> None:
    response = {"Record": stamp("current", ds, event_time)} if ds else {}
    stubber.add_response("get_record", response,
                         {"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": "current"})


def puts(calls) -> list[list[dict]]:
    return [params["Record"] for name, params in calls if name == "PutRecord"]


def record_ids(records: list[list[dict]]) -> list[str]:
    return [r[0]["ValueAsString"] for r in records]


# --- publish ----------------------------------------------------------------------------------------


def test_publish_puts_every_record_then_the_day_marker_then_the_pointer(store, runtime):
    _client, stubber, calls = runtime
    expect_pointer(stubber, DAY1)
    for expected in EXPECTED_RECORDS:
        stubber.add_response("put_record", {}, {"FeatureGroupName": GROUP, "Record": expected})
    stubber.add_response("put_record", {}, {"FeatureGroupName": GROUP, "Record": stamp(DAY2, DAY2)})
    stubber.add_response("put_record", {}, {"FeatureGroupName": GROUP, "Record": stamp("current", DAY2)})

    result = store.publish(QUERY_INTENT, DAY2, rows())

    stubber.assert_no_pending_responses()
    assert (result.feature_set, result.ds, result.records) == ("query_intent", DAY2, 3)
    assert result.previous_ds == DAY1
    event_times = {r[1]["ValueAsString"] for r in puts(calls)}
    assert len(event_times) == 1  # one event time for the whole publish...
    assert float(event_times.pop()) > 1700000000.5  # ...later than the pointer it replaces


def stored(identifier: str, ds: str, expected: list[dict]) -> list[dict]:
    """A record as GetRecord returns it: the features PutRecord wrote, with a concrete event time."""
    return [feature("record_id", identifier), feature("event_time", "1764000000.25"), feature("ds", ds),
            *expected[3:]]


def test_get_reads_the_served_day_and_converts_values_by_type(store, runtime):
    _client, stubber, calls = runtime
    expect_pointer(stubber, DAY2)
    stubber.add_response("get_record", {"Record": stored(f"{DAY2}/q1", DAY2, EXPECTED_RECORDS[0])},
                         {"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": f"{DAY2}/q1"})
    stubber.add_response("get_record", {"Record": stored(f"{DAY2}/q2", DAY2, EXPECTED_RECORDS[1])},
                         {"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": f"{DAY2}/q2"})
    stubber.add_response("get_record", {},
                         {"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": f"{DAY1}/q9"})

    first = store.get(QUERY_INTENT, "q1")
    second = store.get(QUERY_INTENT, "q2")  # the pointer is cached: no second GetRecord of "current"
    missing = store.get(QUERY_INTENT, "q9", ds=DAY1)

    stubber.assert_no_pending_responses()
    assert first == dict(ROWS[0], ds=DAY2)
    assert isinstance(first["top_typicality"], float) and isinstance(first["strong_intent"], int)
    assert second == dict(ROWS[1], ds=DAY2)  # features PutRecord left out read back as None
    assert missing is None
    assert [p["RecordIdentifierValueAsString"] for _, p in calls] == ["current", f"{DAY2}/q1", f"{DAY2}/q2",
                                                                      f"{DAY1}/q9"]


def test_the_pointer_is_read_again_once_its_cache_expires(runtime):
    client, stubber, calls = runtime
    store = SageMakerFeatureStore(group_names={"query_intent": GROUP}, runtime_client=client, pointer_ttl_s=0)
    expect_pointer(stubber, DAY1)
    stubber.add_response("get_record", {}, {"FeatureGroupName": GROUP,
                                            "RecordIdentifierValueAsString": f"{DAY1}/q1"})
    expect_pointer(stubber, None)  # meanwhile the pointer expired (the online TTL)

    assert store.get(QUERY_INTENT, "q1") is None
    assert store.get(QUERY_INTENT, "q1") is None  # no served day: the record is not even asked for

    stubber.assert_no_pending_responses()
    assert [p["RecordIdentifierValueAsString"] for _, p in calls] == ["current", f"{DAY1}/q1", "current"]


def test_a_failing_put_midway_raises_and_leaves_the_pointer_alone(store, runtime):
    _client, stubber, calls = runtime
    expect_pointer(stubber, DAY1)
    stubber.add_response("put_record", {}, {"FeatureGroupName": GROUP, "Record": ANY})
    stubber.add_response("put_record", {}, {"FeatureGroupName": GROUP, "Record": ANY})
    stubber.add_client_error("put_record", service_error_code="ValidationException",
                             service_message="value too long", http_status_code=400)

    with pytest.raises(PublishError) as failure:
        store.publish(QUERY_INTENT, DAY2, rows(6))

    stubber.assert_no_pending_responses()
    error = failure.value
    assert (error.feature_set, error.ds, error.records, error.previous_ds) == ("query_intent", DAY2, 2, DAY1)
    assert "ValidationException" in str(error) and "after 2 records" in str(error)
    sent = record_ids(puts(calls))
    # nothing after the failure: no further record, no marker, no pointer
    assert sent == [f"{DAY2}/q0", f"{DAY2}/q1", f"{DAY2}/q2"]
    expect_pointer(stubber, DAY1)
    assert store.current_ds(QUERY_INTENT) == DAY1


def test_a_failing_pointer_put_raises_and_removes_the_day_marker(store, runtime):
    _client, stubber, calls = runtime
    expect_pointer(stubber, DAY1)
    for _ in range(3 + 1):  # the records and the day marker
        stubber.add_response("put_record", {}, {"FeatureGroupName": GROUP, "Record": ANY})
    stubber.add_client_error("put_record", service_error_code="AccessDeniedException", http_status_code=400)
    stubber.add_response("delete_record", {}, {"FeatureGroupName": GROUP,
                                               "RecordIdentifierValueAsString": DAY2, "EventTime": ANY,
                                               "TargetStores": ["OnlineStore"]})

    with pytest.raises(PublishError, match="pointer: .*AccessDeniedException") as failure:
        store.publish(QUERY_INTENT, DAY2, rows())

    stubber.assert_no_pending_responses()
    assert failure.value.records == 3
    assert record_ids(puts(calls))[-2:] == [DAY2, "current"]


def test_several_workers_put_each_record_once_and_the_pointer_last(runtime, tmp_path):
    client, stubber, calls = runtime
    store = SageMakerFeatureStore(group_names={"query_intent": GROUP}, runtime_client=client,
                                  publish_workers=4, spool_dir=str(tmp_path))
    expect_pointer(stubber, None)
    for _ in range(40 + 1):
        stubber.add_response("put_record", {}, {"FeatureGroupName": GROUP, "Record": ANY})
    stubber.add_response("put_record", {}, {"FeatureGroupName": GROUP, "Record": stamp("current", DAY2)})

    result = store.publish(QUERY_INTENT, DAY2, iter(rows(40).to_batches(max_chunksize=7)))

    stubber.assert_no_pending_responses()
    assert (result.records, result.previous_ds) == (40, None)
    sent = record_ids(puts(calls))
    assert sorted(sent[:40]) == sorted(f"{DAY2}/q{i}" for i in range(40))
    assert sent[40:] == [DAY2, "current"]
    assert list(tmp_path.iterdir()) == []  # the spooled rows are gone


@pytest.mark.parametrize("as_stream", [False, True], ids=["table", "stream"])
def test_rows_are_checked_before_the_first_put(store, runtime, as_stream):
    _client, stubber, calls = runtime
    table = rows(6)
    keys = table.column("query_id").to_pylist()
    keys[5] = "q1"
    table = table.set_column(0, "query_id", pa.array(keys))
    data = iter(table.to_batches(max_chunksize=2)) if as_stream else table

    with pytest.raises(DataError, match=r"'q1' is repeated \(rows 1 and 5\)"):
        store.publish(QUERY_INTENT, DAY2, data)
    with pytest.raises(DataError, match="missing column") as failure:
        store.publish(QUERY_INTENT, DAY2, rows().drop_columns(["query"]))

    assert failure.value.field == "query"
    assert calls == []  # not even the pointer was read
    stubber.assert_no_pending_responses()


# --- batch reads and published days -------------------------------------------------------------------


def test_batch_get_chunks_by_100_retries_unprocessed_once_and_reports_errors(store, runtime):
    _client, stubber, calls = runtime
    keys = [f"q{i}" for i in range(150)]
    ids = [f"{DAY2}/{k}" for k in keys]

    def found(identifier: str) -> dict:
        return {"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": identifier,
                "Record": stored(identifier, DAY2, EXPECTED_RECORDS[1])}

    def request(identifiers: list[str]) -> dict:
        return {"Identifiers": [{"FeatureGroupName": GROUP, "RecordIdentifiersValueAsString": identifiers}]}

    expect_pointer(stubber, DAY2)
    stubber.add_response("batch_get_record", {
        "Records": [found(i) for i in ids[:98]],
        "Errors": [{"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": ids[98],
                    "ErrorCode": "InternalFailure", "ErrorMessage": "try later"}],
        "UnprocessedIdentifiers": [{"FeatureGroupName": GROUP, "RecordIdentifiersValueAsString": [ids[99]]}],
    }, request(ids[:100]))
    stubber.add_response("batch_get_record", {"Records": [found(ids[99])], "Errors": [],
                                              "UnprocessedIdentifiers": []}, request([ids[99]]))
    # the second chunk: q149 has no record (not found is not an error)
    stubber.add_response("batch_get_record", {"Records": [found(i) for i in ids[100:149]], "Errors": [],
                                              "UnprocessedIdentifiers": []}, request(ids[100:]))

    with pytest.raises(BatchGetError) as failure:
        store.batch_get(QUERY_INTENT, keys)

    stubber.assert_no_pending_responses()
    error = failure.value
    assert error.failed == {"q98": "InternalFailure: try later"}
    assert set(error.results) == set(keys) - {"q98", "q149"}
    assert error.results["q99"] == dict(ROWS[1], query_id="q2", ds=DAY2)


def test_batch_get_of_a_given_day_returns_what_it_found(store, runtime):
    _client, stubber, _calls = runtime
    stubber.add_response("batch_get_record", {
        "Records": [{"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": f"{DAY1}/q1",
                     "Record": stored(f"{DAY1}/q1", DAY1, EXPECTED_RECORDS[0])}],
        "Errors": [], "UnprocessedIdentifiers": []},
        {"Identifiers": [{"FeatureGroupName": GROUP,
                          "RecordIdentifiersValueAsString": [f"{DAY1}/q1", f"{DAY1}/q7"]}]})

    assert store.batch_get(QUERY_INTENT, ["q1", "q7", "q1"], ds=DAY1) == {"q1": dict(ROWS[0], ds=DAY1)}
    stubber.assert_no_pending_responses()


def test_published_days_are_the_day_markers_before_the_served_day(runtime):
    client, stubber, _calls = runtime
    store = SageMakerFeatureStore(group_names={"query_intent": GROUP}, runtime_client=client, history_days=3)
    served = "2099-01-03"  # after today: the look-back starts at the served day
    expect_pointer(stubber, served)
    marker = {"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": "2099-01-01",
              "Record": stamp("2099-01-01", "2099-01-01", "4070908800.0")}
    stubber.add_response("batch_get_record", {
        "Records": [marker,
                    dict(marker, RecordIdentifierValueAsString=served, Record=stamp(served, served, "1.0"))],
        "Errors": [], "UnprocessedIdentifiers": []},
        {"Identifiers": [{"FeatureGroupName": GROUP,
                          "RecordIdentifiersValueAsString": ["2099-01-03", "2099-01-02", "2099-01-01"]}]})

    assert store.published_days(QUERY_INTENT) == ["2099-01-01", served]
    stubber.assert_no_pending_responses()


# --- control plane: stubbed where moto falls short ------------------------------------------------------


def describe_response(feature_set, **changes) -> dict:
    response = {
        "FeatureGroupArn": f"arn:aws:sagemaker:{REGION}:123456789012:feature-group/x",
        "FeatureGroupName": "x", "RecordIdentifierFeatureName": "record_id",
        "EventTimeFeatureName": "event_time",
        "FeatureDefinitions": feature_set.definitions, "CreationTime": dt.datetime(2026, 11, 1),
        "NextToken": "", "FeatureGroupStatus": "Created", "OnlineStoreConfig": {"EnableOnlineStore": True},
    }
    response.update(changes)
    return response


def test_check_groups_names_every_difference(aws_credentials):
    control = boto3.client("sagemaker", region_name=REGION)
    store = SageMakerFeatureStore(sagemaker_client=control)
    wrong = [d for d in PRODUCT_INTENT.definitions if d["FeatureName"] != "ds"]
    wrong = [dict(d, FeatureType="Integral") if d["FeatureName"] == "intents" else d for d in wrong]
    wrong.append({"FeatureName": "legacy_scores", "FeatureType": "String"})
    with Stubber(control) as stubber:
        stubber.add_response("describe_feature_group", describe_response(QUERY_INTENT),
                             {"FeatureGroupName": "cosmo-query-intent"})
        stubber.add_response("describe_feature_group", describe_response(
            PRODUCT_INTENT, FeatureDefinitions=wrong, RecordIdentifierFeatureName="product_id",
            OnlineStoreConfig={"EnableOnlineStore": False}), {"FeatureGroupName": "cosmo-product-intent"})
        stubber.add_client_error("describe_feature_group", service_error_code="ResourceNotFound",
                                 http_status_code=400,
                                 expected_params={"FeatureGroupName": "cosmo-intention-hierarchy"})

        with pytest.raises(FeatureStoreError) as failure:
            store.check_groups()
        stubber.assert_no_pending_responses()

    message = str(failure.value)
    assert "cosmo-query-intent" not in message
    for expected in ("feature group cosmo-product-intent (feature set product_intent): record identifier is "
                     "'product_id', expected 'record_id'", "missing features: ds",
                     "features not in the set: legacy_scores", "feature intents is Integral, expected String",
                     "online store is not enabled",
                     "feature group cosmo-intention-hierarchy (feature set intention_hierarchy) "
                     "does not exist"):
        assert expected in message


def test_create_groups_sends_online_and_offline_store_configs(aws_credentials):
    control = boto3.client("sagemaker", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    store = SageMakerFeatureStore(group_names={"query_intent": GROUP}, sagemaker_client=control, s3_client=s3)
    sent = []
    control.meta.events.register("before-parameter-build.sagemaker.CreateFeatureGroup",
                                 lambda params, **_: sent.append(params))
    with Stubber(control) as sagemaker_stub, Stubber(s3) as s3_stub:
        s3_stub.add_response("head_bucket", {}, {"Bucket": "shop-lake"})
        sagemaker_stub.add_response("create_feature_group", {"FeatureGroupArn": "arn:group"}, {
            "FeatureGroupName": GROUP, "RecordIdentifierFeatureName": "record_id",
            "EventTimeFeatureName": "event_time", "FeatureDefinitions": QUERY_INTENT.definitions,
            "OnlineStoreConfig": {"EnableOnlineStore": True, "TtlDuration": {"Unit": "Days", "Value": 30},
                                  "SecurityConfig": {"KmsKeyId": "alias/cosmo"}},
            "OfflineStoreConfig": {"S3StorageConfig": {"S3Uri": "s3://shop-lake/feature-store",
                                                       "KmsKeyId": "alias/cosmo"}},
            "RoleArn": ROLE, "Description": ANY})

        arns = store.create_groups(ROLE, "s3://shop-lake/feature-store", online_ttl_days=30,
                                   kms_key_id="alias/cosmo", feature_sets=[QUERY_INTENT], wait=False)

        sagemaker_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()
    assert arns == {"query_intent": "arn:group"}
    # botocore checks no maximum length: SageMaker's 128 characters are ours to keep
    (description,) = [params["Description"] for params in sent]
    assert len(QUERY_INTENT.description) > DESCRIPTION_LIMIT >= len(description)
    assert QUERY_INTENT.description.startswith(description.rstrip("…"))


# --- control plane against moto --------------------------------------------------------------------------


@pytest.fixture
def moto_endpoint(aws_credentials, moto_server):
    boto3.client("s3", endpoint_url=moto_server, region_name=REGION).create_bucket(Bucket="shop-lake")
    return moto_server


@pytest.fixture
def moto_settings(moto_endpoint):
    from cosmo.config import Settings

    names = {name: f"cosmo-moto-{name.replace('_', '-')}" for name in FEATURE_SETS}
    return Settings(aws={"region": REGION, "endpoint_url": moto_endpoint},
                    feature_store={"backend": "sagemaker", "feature_group_names": names,
                                   "publish_workers": 3})


def test_create_then_check_the_groups_on_moto(moto_settings):
    store = open_feature_store(moto_settings)
    assert isinstance(store, SageMakerFeatureStore) and store.publish_workers == 3

    arns = store.create_groups(ROLE, "s3://shop-lake/feature-store", online_ttl_days=30)

    prefix = f"arn:aws:sagemaker:{REGION}:123456789012:feature-group/cosmo-moto-"
    assert arns == {name: prefix + name.replace("_", "-") for name in FEATURE_SETS}
    # moto drops OnlineStoreConfig, so only the online-store check is left out here (it is stubbed above)
    assert store.check_groups(require_online_store=False) == moto_settings.feature_store.feature_group_names
    described = store.control.describe_feature_group(FeatureGroupName="cosmo-moto-intention-hierarchy")
    assert described["OfflineStoreConfig"]["S3StorageConfig"]["S3Uri"] == "s3://shop-lake/feature-store"
    assert described["FeatureDefinitions"] == INTENTION_HIERARCHY.definitions
    assert described["RecordIdentifierFeatureName"] == "record_id"
    assert described["EventTimeFeatureName"] == "event_time"
    # creating again finds the groups in place
    assert store.create_groups(ROLE, "s3://shop-lake/feature-store") == arns
    store.close()


def test_check_groups_on_moto_names_a_group_built_from_other_features(moto_settings):
    store = open_feature_store(moto_settings)
    outdated = [d for d in QUERY_INTENT.definitions if d["FeatureName"] not in ("ds", "intent_cluster_name")]
    store.control.create_feature_group(
        FeatureGroupName="cosmo-moto-query-intent", RecordIdentifierFeatureName="query_id",
        EventTimeFeatureName="event_time", FeatureDefinitions=outdated, RoleArn=ROLE,
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://shop-lake/feature-store"}})

    with pytest.raises(FeatureStoreError) as failure:
        store.check_groups([QUERY_INTENT], require_online_store=False)

    assert "missing features: ds, intent_cluster_name" in str(failure.value)
    assert "record identifier is 'query_id'" in str(failure.value)


def test_create_groups_on_moto_stops_at_a_missing_offline_bucket(moto_settings):
    from moto.sagemaker.models import sagemaker_backends

    store = open_feature_store(moto_settings)
    with pytest.raises(FeatureStoreError, match="bucket no-such-lake cannot be used"):
        store.create_groups(ROLE, "s3://no-such-lake/feature-store")
    # the server runs in this process: its state shows no group was created
    assert not sagemaker_backends["123456789012"][REGION].feature_groups
    with pytest.raises(ValueError, match="s3:// URI"):
        store.create_groups(ROLE, "/local/path")


def test_descriptions_fit_sagemaker():
    from cosmo.serving.feature_store import short_description

    for feature_set in FEATURE_SETS.values():
        text = short_description(feature_set.description)
        assert 0 < len(text) <= DESCRIPTION_LIMIT
        assert feature_set.description.startswith(text.rstrip("…"))
