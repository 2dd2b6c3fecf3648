"""The model registry: the one way every model (critic now, COSMO-LM next) is looked up, tagged,
promoted and rolled back in MLflow's registry.

A newly registered version first becomes the *challenger* (alias ``challenger``). It becomes the
champion (the alias consumers load, ``champion`` by default) when no rule is given, or when its
score under the promotion rule is not worse than the champion's, both measured by the caller on
the same evaluation data. The champion it replaces is remembered on the new version (tag
``previous_champion``), so a deployment that fails its smoke test can point the alias back.
Where the registry lives is :mod:`cosmo.tracking`'s decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cosmo.config import Settings

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
PREVIOUS_CHAMPION_TAG = "previous_champion"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class PromotionRule:
    """Promote when the challenger's ``metric`` is not worse than the champion's by more than
    ``tolerance`` (a first champion is always promoted)."""

    metric: str
    higher_is_better: bool = True
    tolerance: float = 0.0

    def decide(self, challenger: float | None, champion: float | None) -> tuple[bool, str]:
        if champion is None:
            return True, f"no champion {self.metric} to beat"
        if challenger is None:
            return False, f"the challenger has no {self.metric}"
        margin = challenger - champion if self.higher_is_better else champion - challenger
        verdict = "not worse than" if margin >= -self.tolerance else "worse than"
        return margin >= -self.tolerance, (f"{self.metric} {challenger:.4f} is {verdict} the champion's {champion:.4f}"
                                           f" (tolerance {self.tolerance:g})")


@dataclass(frozen=True)
class Promotion:
    version: RegisteredVersion
    promoted: bool
    alias: str
    reason: str
    previous: str | None = None


def _client(settings: Settings):
    from mlflow import MlflowClient

    from cosmo.tracking import setup_mlflow

    target = setup_mlflow(settings)  # first: a client made before it would talk to ./mlflow.db
    return MlflowClient(), target


def by_alias(settings: Settings, name: str, alias: str) -> RegisteredVersion:
    """The version ``alias`` points at; a LookupError that says where it looked if none does."""
    from mlflow.exceptions import MlflowException

    client, target = _client(settings)
    try:
        found = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise LookupError(f"no model registered as models:/{name}@{alias} in {target.uri} [{exc.message}]") from None
    tags = dict(found.tags or {})
    return RegisteredVersion(name, str(found.version), found.run_id or tags.get("run_id", ""), tags)


def tag(settings: Settings, name: str, version: str, tags: dict[str, object]) -> None:
    client, _ = _client(settings)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))


def promote(settings: Settings, version: RegisteredVersion, alias: str, *, rule: PromotionRule | None = None,
            challenger_score: float | None = None, champion_score: float | None = None) -> Promotion:
    """Make ``version`` the challenger, then the ``alias`` holder if ``rule`` allows (none: always)."""
    client, _ = _client(settings)
    client.set_registered_model_alias(version.name, CHALLENGER, version.version)
    try:
        previous = by_alias(settings, version.name, alias).version
    except LookupError:
        previous = None
    if previous == version.version:
        return Promotion(version, True, alias, f"already @{alias}", previous)
    allowed, reason = rule.decide(challenger_score, champion_score) if rule else (True, "promoted without a rule")
    if not allowed:
        tag(settings, version.name, version.version, {"promotion": f"held back: {reason}"})
        log.warning("%s stays @%s, not @%s: %s", version.uri, CHALLENGER, alias, reason)
        return Promotion(version, False, alias, reason, previous)
    tag(settings, version.name, version.version,
        {"promotion": reason, **({PREVIOUS_CHAMPION_TAG: previous} if previous is not None else {})})
    client.set_registered_model_alias(version.name, alias, version.version)
    log.info("%s is now @%s (%s)", version.uri, alias, reason)
    return Promotion(version, True, alias, reason, previous)


def roll_back(settings: Settings, name: str, alias: str, why: str) -> str:
    """Point ``alias`` back at the champion its holder replaced (or remove it if there was none),
    tag the failed version with ``why``; returns what was done, for the error message."""
    client, _ = _client(settings)
    current = by_alias(settings, name, alias)
    previous = current.tags.get(PREVIOUS_CHAMPION_TAG)
    if previous:
        client.set_registered_model_alias(name, alias, previous)
        action = f"alias @{alias} moved back to version {previous}"
    else:
        client.delete_registered_model_alias(name, alias)
        action = f"no earlier champion: alias @{alias} removed"
    client.set_model_version_tag(name, current.version, "rollback", why)
    log.warning("rolled back %s: %s (%s)", current.uri, action, why)
    return action
