"""Starting or joining Ray, once per process, the way every stage and test does it."""

from __future__ import annotations

import logging
import os

from c360.settings import RayRuntimeSettings

log = logging.getLogger(__name__)


def ensure_ray(settings: RayRuntimeSettings | None = None, progress: bool = True) -> None:
    """Start a local Ray (or join `settings.address`) unless this process is already connected."""
    import ray
    from ray.data import DataContext

    if not ray.is_initialized():
        settings = settings or RayRuntimeSettings()
        address = settings.address or os.environ.get("RAY_ADDRESS")
        kwargs: dict = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            ray.init(address=address, **kwargs)
        else:
            # "local": always a Ray of our own. A bare ray.init() joins whatever cluster another process on
            # the machine left in /tmp/ray (and then refuses num_cpus), or dies when that process stops it.
            ray.init(address="local", num_cpus=settings.num_cpus, **kwargs)
        log.info("ray started: %s", ray.cluster_resources())
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.print_on_execution_start = False
