"""A workspace: a folder with `c360.yaml`, its validated settings and its lake."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

from c360.errors import ConfigError
from c360.io.lake import Lake
from c360.settings import CONFIG_FILE, Settings, load_settings


def default_config_text() -> str:
    """The embedded default `c360.yaml` that `c360 init` writes (demo sources included)."""
    return resources.files("c360.templates").joinpath("c360.yaml").read_text(encoding="utf-8")


def init_workspace(directory: str | Path, force: bool = False) -> Path:
    """Create `directory/c360.yaml` with the embedded defaults; refuse to overwrite unless `force`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / CONFIG_FILE
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; pass --force to overwrite it")
    target.write_text(default_config_text(), encoding="utf-8")
    return target


@dataclass
class Workspace:
    root: Path
    settings: Settings

    @classmethod
    def load(cls, directory: str | Path = ".") -> Workspace:
        root = Path(directory).resolve()
        return cls(root=root, settings=load_settings(root))

    @classmethod
    def from_settings(cls, settings: Settings, root: str | Path = ".") -> Workspace:
        return cls(root=Path(root).resolve(), settings=settings)

    @cached_property
    def lake(self) -> Lake:
        lake = self.settings.lake
        return Lake(lake.uri, lake.storage_options, base_dir=self.root)

    def resolve_path(self, path: str) -> Path:
        """A workspace-relative local path (SQLite files, registries) made absolute."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p
