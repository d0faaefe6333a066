"""The baseline of `python -m c360.bench serve`: a bare FastAPI app under uvicorn doing the same store read as
`GET /v1/profiles/{customer_id}`, with no Serve, no keys, no middleware.

    python -m c360.bench.serve_baseline WORKSPACE PORT
"""

from __future__ import annotations

import json
import sys

import uvicorn
from fastapi import FastAPI, Response

from c360.profile.store import open_profile_store
from c360.workspace import Workspace


def baseline_app(workspace: str) -> FastAPI:
    store = open_profile_store(Workspace.load(workspace))
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/profiles/{customer_id}")
    def profile(customer_id: str) -> Response:
        doc = store.get(customer_id)
        return Response(json.dumps(doc, separators=(",", ":")), media_type="application/json")

    return app


if __name__ == "__main__":
    uvicorn.run(baseline_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
