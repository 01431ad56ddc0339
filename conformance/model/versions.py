"""The versions a run executes with: the suite, Python and each runtime dependency.

One home for the question "what exactly ran": ``conformance --version`` prints it and a certificate
pins it, so a reviewer can reproduce a verdict with the same code.
"""

from __future__ import annotations

import platform
from importlib import metadata

from conformance import __version__

DISTRIBUTION = "twentythree-replace-token-conformance"


def _requirement_name(requirement: str) -> str:
    """``"pytest>=8.0"`` -> ``"pytest"``; extras and markers are cut off."""
    name = requirement.split(";")[0]
    for stop in "<>=!~[ (":
        name = name.split(stop)[0]
    return name.strip()


def runtime_dependency_versions() -> dict[str, str]:
    """Installed version of every runtime dependency the suite declares (not the test extras)."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return {}
    versions: dict[str, str] = {}
    for requirement in requirements:
        if "extra ==" in requirement:
            continue
        name = _requirement_name(requirement)
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return dict(sorted(versions.items()))


def runtime_versions() -> dict[str, object]:
    """Suite version, Python version and the runtime dependencies, as a certificate records them."""
    return {
        "suite": __version__,
        "python": platform.python_version(),
        "dependencies": runtime_dependency_versions(),
    }
