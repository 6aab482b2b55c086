"""Liveness and version: the only route that needs no credentials."""

from __future__ import annotations

from fastapi import APIRouter

from spendlab import __version__
from spendlab.app.api.deps import StateDep
from spendlab.store import current_revision

router = APIRouter(tags=["health"])


@router.get("/health", summary="Is the server up?")
def health(state: StateDep) -> dict[str, object]:
    return {
        "status": "ok",
        "version": __version__,
        "store_revision": current_revision(state.store.engine),
    }
