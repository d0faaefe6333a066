"""serving/serve_config.yaml through Serve's own schema, and `build_app` without Ray running."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from ray.serve.schema import ServeDeploySchema

from serving.app import build_app

pytestmark = pytest.mark.unit
CONFIG = Path(__file__).resolve().parents[2] / "serving" / "serve_config.yaml"


def test_serve_config_passes_serves_schema_and_builds():
    config = ServeDeploySchema.model_validate(yaml.safe_load(CONFIG.read_text(encoding="utf-8")))
    (app,) = config.applications
    assert app.import_path == "serving.app:build_app" and app.route_prefix == "/"
    gateway, *models = app.deployments
    assert gateway.name == "Gateway" and gateway.ray_actor_options.num_cpus <= 0.5
    assert [m.name for m in models] == ["Recommender", "NextBestAction"]
    assert sum(d.ray_actor_options.num_cpus for d in app.deployments) <= 1.5  # a 2-CPU node keeps room
    built = build_app(app.args)  # binds only: nothing starts before serve.run
    assert built._bound_deployment.ray_actor_options["num_cpus"] <= 0.5
    bound = {a._bound_deployment.name: a for a in built._bound_deployment.init_args[1:]}
    assert set(bound) == {m.name for m in models}  # the config names the deployments the app binds


def test_models_in_the_ingress_bind_no_model_deployment():
    built = build_app({"workspace": ".", "models": "ingress"})
    assert built._bound_deployment.name == "Gateway" and built._bound_deployment.init_args[1:] == ()
    with pytest.raises(ValidationError):
        build_app({"models": "elsewhere"})


def test_build_app_rejects_unknown_args_and_too_many_cpus():
    with pytest.raises(ValidationError):
        build_app({"workspce": "."})
    with pytest.raises(ValidationError):
        build_app({"num_cpus": 1})


def test_c360_serve_finds_the_builder_by_import_path(monkeypatch):
    from c360.api.cli import SERVE_APP, load_builder
    from c360.errors import ConfigError

    monkeypatch.setattr(sys, "path", list(sys.path))  # load_builder adds the app folder to both
    monkeypatch.setenv("PYTHONPATH", "elsewhere")
    assert load_builder(SERVE_APP, CONFIG.parents[1]) is build_app
    assert os.environ["PYTHONPATH"] == os.pathsep.join([str(CONFIG.parents[1]), "elsewhere"])
    with pytest.raises(ConfigError, match="repository root"):
        load_builder("no_such_module:build_app")
    with pytest.raises(ConfigError):
        load_builder("serving.app:no_such_builder")
