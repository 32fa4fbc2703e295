"""Connector mappings kept in version control: a YAML file named by a system's `mapping_file`.

Every kind of connector takes one: BaseConnector merges it in before the connector validates or
reads its settings, so no connector sees `mapping_file` itself.

The file holds the same keys as the inline configuration; inline keys win (a shallow merge), so
a system in the admin can name its own `url_env` over a shared mapping. A relative path is read
from settings.BASE_DIR, so the worker finds the file whatever its working directory.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from dsar.connectors.errors import ConfigurationError


class MappingFileError(ConfigurationError):
    """The mapping file cannot be read or is not a YAML mapping."""


def mapping_path(name: str) -> Path:
    from django.conf import settings

    path = Path(name)
    return path if path.is_absolute() else Path(settings.BASE_DIR) / path


# libyaml's loader when the platform has it: parsing is on the path of every gathering run.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_mapping_file(name: str) -> dict[str, Any]:
    """The file's mapping, parsed once per change of the file (size and modification time)."""
    path = mapping_path(name)
    try:
        stat = path.stat()
    except OSError as exc:
        raise MappingFileError(
            f"mapping_file: cannot read '{name}' ({type(exc).__name__})"
        ) from None
    return copy.deepcopy(_parse(str(path), name, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=64)
def _parse(path_text: str, name: str, mtime_ns: int, size: int) -> dict[str, Any]:
    path = Path(path_text)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingFileError(
            f"mapping_file: cannot read '{name}' ({type(exc).__name__})"
        ) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise MappingFileError(f"mapping_file: '{name}' is not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MappingFileError(f"mapping_file: '{name}' must hold a mapping at its top level")
    if "mapping_file" in data:
        raise MappingFileError(f"mapping_file: '{name}' cannot name another mapping file")
    return data


def merged_config(config: Any) -> dict[str, Any]:
    """The configuration with its mapping file (if any) merged under the inline keys: a new
    dict, without `mapping_file`. BaseConnector calls it for every kind of connector."""
    if not isinstance(config, dict):
        raise ConfigurationError("the configuration must be a mapping")
    name = config.get("mapping_file")
    inline = {key: value for key, value in config.items() if key != "mapping_file"}
    if name is None:  # absent, or null in JSON: no file
        return inline
    if not isinstance(name, str) or not name.strip():
        raise MappingFileError("mapping_file: must be a path (relative to the project or absolute)")
    return {**read_mapping_file(name), **inline}
