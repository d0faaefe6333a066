"""Infrastructure files are validated against their tools' own schemas (STYLE.md, habit 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_yaml_passes_rays_schema():
    from ray.autoscaler._private.util import validate_config

    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    validate_config(config)  # raises jsonschema.ValidationError on any unknown or mistyped key
    assert config["provider"]["type"] == "azure"
    # Ports must not collide with the Redis that runs on 6379 beside Ray in our environments.
    assert all("--port=6379" not in cmd for cmd in config["head_start_ray_commands"])


def test_cluster_yaml_with_a_typo_is_rejected():
    import jsonschema
    from ray.autoscaler._private.util import validate_config

    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["max_wokers"] = 3
    with pytest.raises(jsonschema.ValidationError):
        validate_config(config)
