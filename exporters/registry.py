"""The exporters a bundle uses, from dotted paths in settings.DSAR_EXPORTERS (healthchecks'
registry of integrations: adding a format is one class and one line)."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from exporters.base import BaseExporter

DEFAULT_EXPORTERS = [
    "exporters.formats.JsonExporter",
    "exporters.formats.CsvExporter",
    "exporters.formats.JsonSchemaExporter",
]


def exporter_paths() -> tuple[str, ...]:
    return tuple(getattr(settings, "DSAR_EXPORTERS", DEFAULT_EXPORTERS))


@lru_cache(maxsize=8)
def _load(paths: tuple[str, ...]) -> dict[str, type[BaseExporter]]:
    classes: dict[str, type[BaseExporter]] = {}
    for path in paths:
        try:
            cls = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"DSAR_EXPORTERS: cannot import {path!r}: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, BaseExporter)):
            raise ImproperlyConfigured(f"DSAR_EXPORTERS: {path!r} is not a BaseExporter")
        if not cls.identifier or not cls.extension:
            raise ImproperlyConfigured(f"DSAR_EXPORTERS: {path!r} lacks identifier or extension")
        if cls.identifier in classes:
            raise ImproperlyConfigured(f"DSAR_EXPORTERS: two exporters named {cls.identifier!r}")
        classes[cls.identifier] = cls
    return classes


def exporter_classes() -> dict[str, type[BaseExporter]]:
    """Identifier -> class, in the order of the setting."""
    return dict(_load(exporter_paths()))


def get_exporter(identifier: str) -> BaseExporter:
    try:
        return exporter_classes()[identifier]()
    except KeyError:
        raise KeyError(f"no exporter {identifier!r} in DSAR_EXPORTERS") from None


def exporters_for(kind: str) -> list[BaseExporter]:
    """The per-category exporters an access or portability bundle carries."""
    return [cls() for cls in exporter_classes().values() if kind in cls.kinds]
