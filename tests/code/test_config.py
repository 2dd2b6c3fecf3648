"""Configuration: defaults, config file, environment variables, `cosmo config show`."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from cosmo.cli import app
from cosmo.config import Settings, load_settings


def test_defaults_are_embedded_and_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.storage.root == str(tmp_path / ".cosmo" / "data")
    assert settings.source.uri == str(tmp_path / ".cosmo" / "raw" / "shop")
    assert settings.cache.backend == "embedded" and settings.serving.backend == "local"


def test_precedence_env_over_file_over_defaults(tmp_path, monkeypatch):
    config = tmp_path / "cosmo.toml"
    config.write_text('[storage]\nroot = "s3://shop-datasets/cosmo"\n[sampling]\nmin_click_rate = 0.1\n'
                      'min_type_pair_lift = 7.0\n')
    monkeypatch.setenv("COSMO_SAMPLING__MIN_CLICK_RATE", "0.2")
    settings = load_settings(config)
    assert settings.storage.root == "s3://shop-datasets/cosmo"
    assert settings.source.uri == "s3://shop-datasets/raw/shop"
    assert settings.sampling.min_click_rate == 0.2  # environment wins
    assert settings.sampling.min_type_pair_lift == 7.0  # file beats default
    assert settings.sampling.min_purchase_rate == 0.05  # default


def test_invalid_values_are_rejected_with_the_field_name(monkeypatch):
    monkeypatch.setenv("COSMO_SAMPLING__MIN_CLICK_RATE", "1.5")
    with pytest.raises(ValidationError, match="sampling.min_click_rate"):
        Settings()


def test_unknown_keys_are_rejected(tmp_path):
    config = tmp_path / "cosmo.toml"
    config.write_text("[sampling]\nmin_clik_rate = 0.1\n")
    with pytest.raises(ValidationError, match="min_clik_rate"):
        load_settings(config)


def test_missing_config_file_is_named(monkeypatch):
    monkeypatch.setenv("COSMO_CONFIG", "/nowhere/cosmo.toml")
    with pytest.raises(FileNotFoundError, match="/nowhere/cosmo.toml"):
        Settings()


def test_config_show_prints_effective_values(tmp_path, monkeypatch):
    monkeypatch.setenv("COSMO_STORAGE__ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("COSMO_SAMPLING__TOP_TIER_SHARE", "0.25")
    result = CliRunner().invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["storage"]["root"] == str(tmp_path / "root")
    assert shown["sampling"]["top_tier_share"] == 0.25
    table = CliRunner().invoke(app, ["config", "show"], env={"COLUMNS": "200"})
    assert "sampling.top_tier_share" in table.output and "0.25" in table.output
