"""One JAX CPU device per core, asked for before JAX starts (XLA reads ``XLA_FLAGS`` once).

NUTS spreads its chains over the devices and the campaign batch splits its campaigns across them
(``jax.pmap``); with JAX's default single CPU device both would run on one core's worth of
parallelism. The CLI and the server call :func:`use_cpu_cores` first thing."""

from __future__ import annotations

import os
import sys

FLAG = "--xla_force_host_platform_device_count"


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def use_cpu_cores(n: int | None = None) -> bool:
    """Ask XLA for ``n`` (default: :func:`cores`) CPU devices. Does nothing, and returns False,
    when JAX is already imported or ``XLA_FLAGS`` already sets a device count (the user's
    choice wins)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or FLAG in flags:
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {FLAG}={n or cores()}".strip()
    return True
