"""Shared fixtures: one Ray instance per test session, stand-in services started on loopback ports."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


@pytest.fixture(scope="session")
def ray_session():
    """Start Ray once for the whole session (2 CPUs, no dashboard) and stop it at the end."""
    import ray

    from c360.runtime import ensure_ray
    from c360.settings import RayRuntimeSettings

    ensure_ray(RayRuntimeSettings(num_cpus=2), progress=False)
    yield ray
    ray.shutdown()
