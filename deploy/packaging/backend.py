"""The build backend: setuptools' own, with one notice that never applies here dropped.

The package `facturier` is assembled from the top-level folders (`domain/`, `services/`, …)
through `package-dir`. For such a mapping, setuptools' editable install always emits an
`InformationOnly` notice ("be careful with folders in your working directory with the same
name as your package"), and pip prints every notice of a local build as a warning. No folder
of this repository is named `facturier`, so the notice is filtered out by its text; any other
warning still reaches the installer.
"""

from __future__ import annotations

import warnings
from typing import Any

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F403  (the rest of the backend, unchanged)


def build_editable(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Editable installation\.")
        return build_meta.build_editable(wheel_directory, config_settings, metadata_directory)
