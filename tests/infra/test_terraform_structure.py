"""Structural checks of the Terraform code, on the HCL parsed with python-hcl2.

They assert what matters for COSMO's production side: encryption everywhere, no public buckets,
the async endpoint's configuration and the AWS-recommended autoscaling, IAM scoped to named
resources, Redis and RDS hardening, private MWAA, the GPU worker group, dev/prod parity.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

TF_ROOT = Path(__file__).resolve().parents[2] / "infra" / "terraform"
MODULE_NAMES = sorted(p.name for p in (TF_ROOT / "modules").iterdir() if p.is_dir())
ROOT_NAMES = sorted(p.name for p in (TF_ROOT / "envs").iterdir() if p.is_dir())

# Actions AWS does not scope to a resource: the only ones allowed on Resource "*".
UNSCOPABLE_ACTIONS = {
    "cloudwatch:PutMetricData",
    "ecr:GetAuthorizationToken",
    "logs:DescribeLogGroups",
    "s3:GetAccountPublicAccessBlock",
}

# AWS managed policies a role may have attached (everything else is written and scoped here).
ALLOWED_AWS_MANAGED_POLICIES = {"AmazonRDSEnhancedMonitoringRole"}


# --- helpers -------------------------------------------------------------------------------------


def is_true(value) -> bool:
    return value is True or value == "true"


def is_false(value) -> bool:
    return value is False or value == "false"


def first(block):
    """Nested blocks parse as lists of dicts."""
    if isinstance(block, list):
        assert block, "empty block list"
        return block[0]
    return block


def data_ref(expr: str, kind: str) -> str | None:
    """`${data.<kind>.<name>.json}` -> name."""
    match = re.fullmatch(
        r"\$\{data\." + re.escape(kind) + r"\.([A-Za-z0-9_-]+)(\[[^\]]*\])?\.json\}", str(expr)
    )
    return match.group(1) if match else None


def statements(document: dict) -> list[dict]:
    """Static and dynamic statements of an aws_iam_policy_document."""
    found = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        body = dynamic.get("statement")
        if body:
            content = body.get("content", [])
            found.extend(content if isinstance(content, list) else [content])
    return found


def rules(block: dict, name: str) -> list[dict]:
    """Static and dynamic nested blocks called `name`."""
    found = list(block.get(name, []))
    for dynamic in block.get("dynamic", []):
        body = dynamic.get(name)
        if body:
            content = body.get("content", [])
            found.extend(content if isinstance(content, list) else [content])
    return found


def walk(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, (*path, i))
    else:
        yield path, value


def module_dirs(tf_dirs) -> dict[str, object]:
    return {k: v for k, v in tf_dirs.items() if k.startswith("modules/") and "/examples/" not in k}


def root_dirs(tf_dirs) -> dict[str, object]:
    return {k: v for k, v in tf_dirs.items() if k.startswith("envs/")}


def module_calls(tf_dirs, module_name: str):
    """(dir key, call name, arguments) of every call of modules/<module_name>."""
    for key, d in tf_dirs.items():
        for name, body in d.modules().items():
            if Path(body.get("source", "")).name == module_name:
                yield key, name, body


# --- layout and conventions ----------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_layout(module: str) -> None:
    base = TF_ROOT / "modules" / module
    for required in (
        "main.tf",
        "variables.tf",
        "outputs.tf",
        "versions.tf",
        "README.md",
        "examples/basic/main.tf",
    ):
        assert (base / required).is_file(), f"modules/{module} lacks {required}"


@pytest.mark.parametrize("root", ROOT_NAMES)
def test_root_layout(root: str) -> None:
    base = TF_ROOT / "envs" / root
    for required in (
        "main.tf",
        "variables.tf",
        "outputs.tf",
        "versions.tf",
        "backend.tf",
        "terraform.tfvars.example",
    ):
        assert (base / required).is_file(), f"envs/{root} lacks {required}"
    assert (TF_ROOT / "README.md").is_file()


def test_expected_modules_exist() -> None:
    expected = {
        "data_lake",
        "iam",
        "sagemaker_async_endpoint",
        "feature_store",
        "redis",
        "mwaa",
        "kuberay",
        "mlflow_backend",
    }
    assert expected <= set(MODULE_NAMES)
    assert {"dev", "prod"} <= set(ROOT_NAMES)


def test_every_variable_is_typed_and_described(tf_dirs) -> None:
    problems = []
    for key, d in {**module_dirs(tf_dirs), **root_dirs(tf_dirs)}.items():
        for name, body in d.variables().items():
            if "type" not in body:
                problems.append(f"{key}: variable {name} has no type")
            if not str(body.get("description", "")).strip():
                problems.append(f"{key}: variable {name} has no description")
            for validation in body.get("validation", []):
                message = str(validation.get("error_message", ""))
                if not re.match(r"^[A-Z].*[.?]$", message, re.DOTALL):
                    problems.append(f"{key}: variable {name}: error_message must be a sentence: {message!r}")
    assert not problems, "\n".join(problems)


def test_every_output_is_described(tf_dirs) -> None:
    problems = [
        f"{key}: output {name} has no description"
        for key, d in {**module_dirs(tf_dirs), **root_dirs(tf_dirs)}.items()
        for name, body in d.outputs().items()
        if not str(body.get("description", "")).strip()
    ]
    assert not problems, "\n".join(problems)


def test_version_constraints(tf_dirs) -> None:
    for key, d in {**module_dirs(tf_dirs), **root_dirs(tf_dirs)}.items():
        terraform_blocks = d.files.get("versions.tf", {}).get("terraform", [])
        assert terraform_blocks, f"{key}/versions.tf has no terraform block"
        block = terraform_blocks[0]
        assert block.get("required_version") == ">= 1.5", f"{key}: required_version must be '>= 1.5'"
        for providers in block.get("required_providers", []):
            aws = providers.get("aws")
            if aws:
                assert aws["source"] == "hashicorp/aws"
                assert re.fullmatch(r"~> 5\.\d+", aws["version"]), (
                    f"{key}: AWS provider must be pinned to 5.x"
                )


# --- S3 --------------------------------------------------------------------------------------------


def test_only_the_s3_bucket_module_creates_buckets(tf_dirs) -> None:
    """Every bucket goes through modules/s3_bucket, so the hardening below covers all of them."""
    owners = {key for key, d in tf_dirs.items() if d.resources("aws_s3_bucket")}
    assert owners == {"modules/s3_bucket"}


def test_every_bucket_is_encrypted_private_versioned_and_has_lifecycle(tf_dirs) -> None:
    d = tf_dirs["modules/s3_bucket"]
    buckets = d.resources("aws_s3_bucket")
    assert buckets

    def companions(rtype: str, bucket: str) -> list[dict]:
        return [
            body
            for body in d.resources(rtype).values()
            if re.fullmatch(r"\$\{aws_s3_bucket\." + bucket + r"\.(id|bucket)\}", str(body.get("bucket")))
        ]

    for bucket in buckets:
        (sse,) = companions("aws_s3_bucket_server_side_encryption_configuration", bucket)
        default = first(first(sse["rule"])["apply_server_side_encryption_by_default"])
        assert default.get("sse_algorithm"), "default encryption must be set"
        assert "kms_master_key_id" in default

        (pab,) = companions("aws_s3_bucket_public_access_block", bucket)
        for flag in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        ):
            assert is_true(pab.get(flag)), f"public access block flag {flag} must be true"

        (versioning,) = companions("aws_s3_bucket_versioning", bucket)
        assert first(versioning["versioning_configuration"])["status"] == "Enabled"

        (ownership,) = companions("aws_s3_bucket_ownership_controls", bucket)
        assert first(ownership["rule"])["object_ownership"] == "BucketOwnerEnforced"

        (lifecycle,) = companions("aws_s3_bucket_lifecycle_configuration", bucket)
        lifecycle_rules = rules(lifecycle, "rule")
        assert lifecycle_rules and all("abort_incomplete_multipart_upload" in r for r in lifecycle_rules)

        (policy,) = companions("aws_s3_bucket_policy", bucket)
        document = d.data_sources("aws_iam_policy_document")[
            data_ref(policy["policy"], "aws_iam_policy_document")
        ]
        tls_denies = [
            s
            for s in statements(document)
            if s.get("effect") == "Deny"
            and any(
                c.get("variable") == "aws:SecureTransport" and c.get("values") == ["false"]
                for c in s.get("condition", [])
            )
        ]
        assert tls_denies, "bucket policy must deny requests without TLS"

    sse_variable = d.variables()["sse_algorithm"]
    assert sse_variable["default"] == "aws:kms"


def test_bucket_module_calls_use_kms_unless_log_target(tf_dirs) -> None:
    calls = list(module_calls(tf_dirs, "s3_bucket"))
    assert len(calls) >= 4  # access logs, the lake buckets (one for_each call), MLflow artifacts, MWAA DAGs
    for key, name, args in calls:
        where = f"{key}: module {name}"
        if args.get("sse_algorithm", "aws:kms") == "AES256":
            # S3 server access logging cannot deliver to SSE-KMS buckets: only log targets may.
            assert is_true(args.get("allow_access_log_delivery")), f"{where}: AES256 only for log buckets"
        else:
            assert args.get("kms_key_arn"), f"{where}: needs kms_key_arn"
            assert "access_logging" in args, f"{where}: needs access logging"
        assert args.get("lifecycle_rules"), f"{where}: needs lifecycle rules"


def test_data_lake_buckets(tf_dirs) -> None:
    d = tf_dirs["modules/data_lake"]
    lake = d.modules()
    assert {"logs", "bucket"} <= set(lake)
    # The SSE-KMS buckets: one call, one instance per purpose, each with its own lifecycle rules.
    assert lake["bucket"]["for_each"] == "${local.lifecycle_rules_by_bucket}"
    assert lake["bucket"]["lifecycle_rules"] == "${each.value}"
    buckets = d.locals()["lifecycle_rules_by_bucket"]
    assert set(buckets) == {"raw", "datasets", "models", "inference"}
    assert all(buckets.values()), "every lake bucket needs lifecycle rules"
    inference_prefixes = {r.get("prefix") for r in buckets["inference"]}
    assert {
        "${local.prefixes.async_input}",
        "${local.prefixes.async_output}",
        "${local.prefixes.async_failure}",
    } <= inference_prefixes


# --- keys, topics, logs ----------------------------------------------------------------------------


def test_kms_keys_rotate_and_have_a_policy(tf_dirs) -> None:
    keys = [(k, n, b) for k, d in tf_dirs.items() for n, b in d.resources("aws_kms_key").items()]
    assert keys
    for key, name, body in keys:
        assert is_true(body.get("enable_key_rotation")), f"{key}: aws_kms_key.{name} must rotate"
        assert data_ref(body.get("policy", ""), "aws_iam_policy_document"), (
            f"{key}: aws_kms_key.{name} needs a policy"
        )


def test_sns_topics_and_log_groups_are_encrypted(tf_dirs) -> None:
    topics = [(k, n, b) for k, d in tf_dirs.items() for n, b in d.resources("aws_sns_topic").items()]
    assert topics
    for key, name, body in topics:
        assert body.get("kms_master_key_id"), f"{key}: aws_sns_topic.{name} must use a KMS key"
    for key, d in tf_dirs.items():
        for name, body in d.resources("aws_cloudwatch_log_group").items():
            assert body.get("kms_key_id"), f"{key}: aws_cloudwatch_log_group.{name} must use a KMS key"
            assert body.get("retention_in_days"), f"{key}: aws_cloudwatch_log_group.{name} needs a retention"


# --- async endpoint --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint(tf_dirs):
    return tf_dirs["modules/sagemaker_async_endpoint"]


def test_endpoint_configuration_is_async_and_rolls(endpoint) -> None:
    (config,) = endpoint.resources("aws_sagemaker_endpoint_configuration").values()
    assert config.get("name_prefix"), "endpoint configuration must use name_prefix"
    assert "name" not in config
    assert is_true(first(config["lifecycle"])["create_before_destroy"])

    async_config = first(config["async_inference_config"])
    output = first(async_config["output_config"])
    for attribute in ("s3_output_path", "s3_failure_path", "kms_key_id"):
        assert output.get(attribute), f"output_config.{attribute} missing"
    notification = first(output["notification_config"])
    assert notification["success_topic"].startswith("${aws_sns_topic.")
    assert notification["error_topic"].startswith("${aws_sns_topic.")
    assert notification["success_topic"] != notification["error_topic"]
    client = first(async_config["client_config"])
    assert client.get("max_concurrent_invocations_per_instance")

    (model,) = endpoint.resources("aws_sagemaker_model").values()
    assert is_true(first(model["lifecycle"])["create_before_destroy"])
    assert (
        is_true(model.get("enable_network_isolation"))
        or model.get("enable_network_isolation") == "${var.enable_network_isolation}"
    )
    (ep,) = endpoint.resources("aws_sagemaker_endpoint").values()
    assert ep["endpoint_config_name"] == "${aws_sagemaker_endpoint_configuration.this.name}"


def test_autoscaling_target_scales_to_zero(endpoint, tf_dirs) -> None:
    (target,) = endpoint.resources("aws_appautoscaling_target").values()
    assert target["service_namespace"] == "sagemaker"
    assert target["scalable_dimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert re.search(r"endpoint/.*/variant/", target["resource_id"]) or target["resource_id"].startswith(
        "${local."
    )
    min_capacity = target["min_capacity"]
    if min_capacity != 0:
        assert min_capacity == "${var.autoscaling.min_capacity}"
        assert "min_capacity = optional(number, 0)" in endpoint.variables()["autoscaling"]["type"]
    for key, name, args in module_calls(tf_dirs, "sagemaker_async_endpoint"):
        if "autoscaling" in args:
            assert args["autoscaling"].get("min_capacity", 0) == 0, f"{key}: module {name} must scale to zero"


def test_target_tracking_on_backlog_per_instance(endpoint) -> None:
    policies = endpoint.resources("aws_appautoscaling_policy")
    tracking = [p for p in policies.values() if p["policy_type"] == "TargetTrackingScaling"]
    assert len(tracking) == 1
    configuration = first(tracking[0]["target_tracking_scaling_policy_configuration"])
    assert "predefined_metric_specification" not in configuration
    metric = first(configuration["customized_metric_specification"])
    assert metric["metric_name"] == "ApproximateBacklogSizePerInstance"
    assert metric["namespace"] == "AWS/SageMaker"
    assert metric["statistic"] == "Average"
    assert [first(d)["name"] for d in metric["dimensions"]] == ["EndpointName"]
    assert configuration.get("target_value")
    assert tracking[0]["resource_id"] == "${aws_appautoscaling_target.this.resource_id}"


def test_step_scaling_from_zero_on_has_backlog_without_capacity(endpoint) -> None:
    policies = endpoint.resources("aws_appautoscaling_policy")
    steps = {n: p for n, p in policies.items() if p["policy_type"] == "StepScaling"}
    assert len(steps) == 1
    ((step_name, step),) = steps.items()
    configuration = first(step["step_scaling_policy_configuration"])
    assert configuration["adjustment_type"] == "ChangeInCapacity"
    adjustment = first(configuration["step_adjustment"])
    assert adjustment["metric_interval_lower_bound"] == 0
    assert adjustment["scaling_adjustment"] >= 1

    alarms = [
        a
        for a in endpoint.resources("aws_cloudwatch_metric_alarm").values()
        if a.get("metric_name") == "HasBacklogWithoutCapacity"
    ]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["namespace"] == "AWS/SageMaker"
    assert "EndpointName" in alarm["dimensions"]
    assert alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["threshold"] == 1
    assert f"${{aws_appautoscaling_policy.{step_name}.arn}}" in alarm["alarm_actions"]


def test_invocations_per_instance_is_used_nowhere(tf_dirs) -> None:
    """Async endpoints do not publish InvocationsPerInstance: scaling on it would never act.

    Checked on the parsed code (comments excluded), so explaining it in a comment is fine.
    """
    offenders = [key for key, d in tf_dirs.items() if "InvocationsPerInstance" in json.dumps(d.files)]
    assert not offenders, f"InvocationsPerInstance used in {offenders}"


# --- IAM -------------------------------------------------------------------------------------------


def _key_policy_documents(d) -> set[str]:
    return {
        data_ref(k.get("policy", ""), "aws_iam_policy_document") for k in d.resources("aws_kms_key").values()
    } - {None}


def test_iam_policy_documents_are_scoped(tf_dirs) -> None:
    problems = []
    documents = 0
    for key, d in tf_dirs.items():
        key_policies = _key_policy_documents(d)
        for name, document in d.data_sources("aws_iam_policy_document").items():
            documents += 1
            for statement in statements(document):
                where = f"{key}: data.aws_iam_policy_document.{name} statement {statement.get('sid', '?')}"
                if statement.get("effect", "Allow") != "Allow":
                    continue
                assert "not_actions" not in statement and "not_resources" not in statement, where
                actions = statement.get("actions", [])
                if not isinstance(actions, list):
                    problems.append(f"{where}: actions must be a literal list")
                    continue
                for action in actions:
                    if action == "*" or (action.endswith(":*") and name not in key_policies):
                        problems.append(f"{where}: wildcard action {action!r}")
                if name in key_policies:
                    # Key policy: "*" is the key itself. Principals must never be "*".
                    for principal in statement.get("principals", []):
                        identifiers = principal.get("identifiers")
                        if principal.get("type") == "*" or identifiers == ["*"]:
                            problems.append(f"{where}: key policy open to any principal")
                    continue
                resources = statement.get("resources", [])
                if "principals" in statement:  # trust policy
                    continue
                if resources == "*" or (isinstance(resources, list) and "*" in resources):
                    unscoped = sorted(set(actions) - UNSCOPABLE_ACTIONS)
                    if unscoped:
                        problems.append(f"{where}: Resource '*' for scopable actions {unscoped}")
                if not resources:
                    problems.append(f"{where}: no resources")
    assert documents >= 10
    assert not problems, "\n".join(problems)


def test_trust_policies_are_bound_to_this_account_or_service_account(tf_dirs) -> None:
    problems = []
    for key, d in tf_dirs.items():
        documents = d.data_sources("aws_iam_policy_document")
        for role_name, role in d.resources("aws_iam_role").items():
            doc_name = data_ref(role.get("assume_role_policy", ""), "aws_iam_policy_document")
            if doc_name is None:
                problems.append(f"{key}: aws_iam_role.{role_name} trust policy must be a policy document")
                continue
            for statement in statements(documents[doc_name]):
                conditions = {c.get("variable", "") for c in statement.get("condition", [])}
                types = {p.get("type") for p in statement.get("principals", [])}
                if "Service" in types and "aws:SourceAccount" not in conditions:
                    problems.append(
                        f"{key}: aws_iam_role.{role_name}: service trust without aws:SourceAccount"
                    )
                if "Federated" in types and not any(c.endswith(":sub") for c in conditions):
                    problems.append(
                        f"{key}: aws_iam_role.{role_name}: web identity trust without a :sub condition"
                    )
    assert not problems, "\n".join(problems)


def test_every_iam_policy_is_an_analysed_document(tf_dirs) -> None:
    for key, d in tf_dirs.items():
        for rtype in ("aws_iam_policy", "aws_iam_role_policy"):
            for name, body in d.resources(rtype).items():
                assert data_ref(body["policy"], "aws_iam_policy_document"), (
                    f"{key}: {rtype}.{name} must use a policy document"
                )
        for name, body in d.resources("aws_iam_role_policy_attachment").items():
            arn = str(body["policy_arn"])
            if ":iam::aws:policy/" in arn:
                managed = arn.rsplit("/", 1)[-1]
                assert managed in ALLOWED_AWS_MANAGED_POLICIES, (
                    f"{key}: {name} attaches AWS managed {managed}"
                )


def test_workload_permissions_name_their_resources(tf_dirs) -> None:
    """S3 rights name the lake buckets, KMS rights the keys, SageMaker rights the endpoint/groups."""
    d = tf_dirs["modules/iam"]
    for name, document in d.data_sources("aws_iam_policy_document").items():
        for statement in statements(document):
            if "principals" in statement:
                continue
            actions = statement["actions"]
            resources = statement["resources"]
            resources = resources if isinstance(resources, list) else [resources]
            where = f"{name}/{statement.get('sid')}"
            if all(a.startswith("s3:") for a in actions):
                assert all(r.startswith("${local.b.") for r in resources), where
            if all(a.startswith("kms:") for a in actions):
                assert resources == ["${var.kms_key_arns}"], where
            if all(a.startswith("sagemaker:") for a in actions):
                assert resources in (["${local.endpoint_arn}"], ["${local.feature_group_arns}"]), where
            if all(a.startswith("secretsmanager:") for a in actions):
                assert resources == ["${var.secret_arns}"], where


# --- Redis, RDS, MWAA, feature store, KubeRay ------------------------------------------------------


def test_redis_encryption_and_auth_from_secrets_manager(tf_dirs) -> None:
    d = tf_dirs["modules/redis"]
    (group,) = d.resources("aws_elasticache_replication_group").values()
    assert is_true(group["transit_encryption_enabled"])
    assert is_true(group["at_rest_encryption_enabled"])
    assert group.get("kms_key_id")
    assert group.get("transit_encryption_mode") == "required"
    assert group["auth_token"] == "${local.auth_token}"
    assert "data.aws_secretsmanager_secret_version." in d.locals()["auth_token"]
    assert [v for v in d.variables() if "token" in v] == [
        "auth_token_secret_id",
        "auth_token_secret_json_key",
    ]


def test_rds_is_encrypted_private_and_protected_in_prod(tf_dirs) -> None:
    d = tf_dirs["modules/mlflow_backend"]
    (db,) = d.resources("aws_db_instance").values()
    assert is_true(db["storage_encrypted"])
    assert db.get("kms_key_id")
    assert is_false(db["publicly_accessible"])
    assert is_true(db["manage_master_user_password"])
    assert "password" not in db
    assert is_true(db["iam_database_authentication_enabled"])
    (params,) = d.resources("aws_db_parameter_group").values()
    assert {"name": "rds.force_ssl", "value": "1"} in params["parameter"]
    ((_, _, call),) = [c for c in module_calls(tf_dirs, "mlflow_backend") if c[0] == "modules/platform"]
    assert call["deletion_protection"] == "${var.mlflow_db_deletion_protection}"
    assert call["multi_az"] == "${var.mlflow_db_multi_az}"
    prod = tf_dirs["envs/prod"].modules()["platform"]
    assert is_true(prod["mlflow_db_deletion_protection"])
    assert is_true(prod["mlflow_db_multi_az"])


def test_mwaa_is_private_encrypted_and_logs(tf_dirs) -> None:
    d = tf_dirs["modules/mwaa"]
    (env,) = d.resources("aws_mwaa_environment").values()
    assert env["webserver_access_mode"] == "PRIVATE_ONLY"
    assert env.get("kms_key")
    assert first(env["network_configuration"]).get("subnet_ids")
    logging = first(env["logging_configuration"])
    for kind in ("dag_processing_logs", "scheduler_logs", "task_logs", "webserver_logs", "worker_logs"):
        assert is_true(first(logging[kind])["enabled"]), kind
    assert env["requirements_s3_object_version"].startswith("${aws_s3_object.requirements.")


def test_feature_groups_online_and_offline_in_the_lake(tf_dirs) -> None:
    d = tf_dirs["modules/feature_store"]
    (group,) = d.resources("aws_sagemaker_feature_group").values()
    online = first(group["online_store_config"])
    assert first(online["security_config"]).get("kms_key_id")
    offline = first(group["offline_store_config"])
    storage = first(offline["s3_storage_config"])
    assert storage.get("kms_key_id") and storage["s3_uri"] == "${var.offline_store_s3_uri}"
    platform_calls = [
        args for key, _name, args in module_calls(tf_dirs, "feature_store") if key == "modules/platform"
    ]
    assert platform_calls
    for args in platform_calls:
        assert args["offline_store_s3_uri"] == "${module.data_lake.feature_store_offline_uri}"

    defaults = d.variables()["feature_groups"]["default"]
    assert {"query_intent", "product_intent"} <= set(defaults)
    for name, spec in defaults.items():
        features = {f["name"] for f in spec["features"]}
        assert spec["record_identifier_feature_name"] in features, name
        assert spec["event_time_feature_name"] in features, name


def test_kuberay_operator_and_gpu_worker_group(tf_dirs) -> None:
    d = tf_dirs["modules/kuberay"]
    releases = {r["chart"]: r for r in d.resources("helm_release").values()}
    assert {"kuberay-operator", "ray-cluster"} <= set(releases)
    cluster = releases["ray-cluster"]
    assert "${helm_release.operator}" in cluster.get("depends_on", [])
    assert "local.ray_cluster_values" in str(cluster["values"])

    local = d.locals()
    values = local["ray_cluster_values"]
    assert values["fullnameOverride"] == "${var.cluster_name}"
    gpu_group = values["worker"]
    assert gpu_group["groupName"] == "gpu"
    assert gpu_group["resources"]["limits"] == "${local.gpu_resources}"
    assert "nvidia.com/gpu" in local["gpu_resources"]
    assert any(t.get("key") == "nvidia.com/gpu" for t in gpu_group["tolerations"])
    address = d.outputs()["ray_address"]["value"]
    assert address == "http://${var.cluster_name}-head-svc.${var.namespace}.svc.cluster.local:8265"


# --- network and secrets ---------------------------------------------------------------------------


def test_no_ingress_from_anywhere_and_egress_only_https(tf_dirs) -> None:
    for key, d in tf_dirs.items():
        for name, rule in d.resources("aws_vpc_security_group_ingress_rule").items():
            assert rule.get("cidr_ipv4") != "0.0.0.0/0", f"{key}: ingress {name} open to the internet"
        for name, rule in d.resources("aws_vpc_security_group_egress_rule").items():
            if rule.get("cidr_ipv4") == "0.0.0.0/0":
                assert rule["ip_protocol"] == "tcp" and rule["from_port"] == rule["to_port"] == 443, (
                    f"{key}: {name}"
                )
        for name, group in d.resources("aws_security_group").items():
            assert "ingress" not in group and "egress" not in group, (
                f"{key}: use separate rule resources ({name})"
            )


def test_no_secret_literals(tf_dirs) -> None:
    secret_like = {
        "password",
        "master_password",
        "auth_token",
        "secret_string",
        "access_key",
        "secret_key",
        "token",
    }
    problems = []
    for key, d in tf_dirs.items():
        for rtype, name, body in d.all_resources():
            for path, value in walk(body):
                attribute = next((p for p in reversed(path) if isinstance(p, str)), "")
                if attribute in secret_like and isinstance(value, str) and not value.startswith("${"):
                    problems.append(f"{key}: {rtype}.{name}.{attribute} is a literal")
    assert not problems, "\n".join(problems)


# --- roots -----------------------------------------------------------------------------------------


def test_platform_composes_the_modules(tf_dirs) -> None:
    platform = tf_dirs["modules/platform"].modules()
    for module in (
        "data_lake",
        "iam",
        "endpoint",
        "feature_store",
        "redis",
        "mwaa",
        "kuberay",
        "mlflow_backend",
        "platform_env",
    ):
        assert module in platform, module
    for name, call in platform.items():
        assert call["source"].startswith("../") and "/" not in call["source"][3:], f"module {name}"


def test_roots_are_thin_and_in_step(tf_dirs) -> None:
    """Each root calls modules/platform, passes its own inputs through and states its sizes."""
    dev, prod = tf_dirs["envs/dev"], tf_dirs["envs/prod"]
    platform = tf_dirs["modules/platform"]
    required = {name for name, v in platform.variables().items() if "default" not in v}
    provider_inputs = {"aws_region", "tags"}
    for key, root in (("envs/dev", dev), ("envs/prod", prod)):
        assert set(root.modules()) == {"platform"}, f"{key}: compose in modules/platform"
        assert not root.all_resources(), f"{key}: resources belong in modules/platform"
        call = root.modules()["platform"]
        assert call["source"] == "../../modules/platform"
        assert required <= set(call), f"{key}: platform misses {sorted(required - set(call))}"
        for name in set(root.variables()) - provider_inputs:
            assert call.get(name) == f"${{var.{name}}}", f"{key}: variable {name} is not passed through"
        # The contract output, and everything else of the platform in one object.
        outputs = {name: body["value"] for name, body in root.outputs().items()}
        assert outputs == {
            "cosmo_environment": "${module.platform.cosmo_environment}",
            "platform": "${module.platform}",
        }, key
    assert set(dev.modules()["platform"]) == set(prod.modules()["platform"]), "platform arguments differ"
    assert set(dev.variables()) == set(prod.variables())


def test_prod_is_protected(tf_dirs) -> None:
    prod = tf_dirs["envs/prod"].modules()["platform"]
    assert is_false(prod["force_destroy_buckets"]), "production buckets are never force-destroyed"
    assert prod["redis_num_cache_clusters"] >= 2, "production Redis needs failover (2+ nodes)"
    assert not is_true(prod["redis_apply_immediately"])


@pytest.mark.parametrize("root", ROOT_NAMES)
def test_root_backend_is_partial_s3(tf_dirs, root: str) -> None:
    backend_file = tf_dirs[f"envs/{root}"].files["backend.tf"]
    (terraform,) = backend_file["terraform"]
    backends = terraform["backend"]
    assert len(backends) == 1 and "s3" in backends[0]
    assert backends[0]["s3"] == {}, "backend settings belong in backend.hcl (partial configuration)"
    text = (TF_ROOT / "envs" / root / "backend.tf").read_text()
    assert "use_lockfile" in text and "dynamodb_table" in text, "document both locking options"


def test_platform_outputs_for_operators(tf_dirs) -> None:
    """What the roots hand to operators and CI (as `platform`, next to `cosmo_environment`)."""
    outputs = tf_dirs["modules/platform"].outputs()
    for name in (
        "cosmo_environment",
        "bucket_names",
        "endpoint_name",
        "feature_group_names",
        "redis_address",
        "mwaa",
        "ray_address",
    ):
        assert name in outputs, f"modules/platform lacks output {name}"
