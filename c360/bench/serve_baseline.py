"""The baselines of `python -m c360.bench serve`, under uvicorn without Serve:

- `bare`: a FastAPI app doing the same store read as `GET /v1/profiles/{customer_id}`, with no keys, no
  middleware, no logging;
- `c360`: c360's own app (`create_api`), everything but Serve: what c360 adds on top of `bare`, apart from
  what Serve adds.

    python -m c360.bench.serve_baseline WORKSPACE PORT [bare|c360]
"""

from __future__ import annotations

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
    async def profile(customer_id: str) -> Response:
        # The same read as c360's route: on the loop (SQLite), through an asyncio client (Redis, Cosmos DB).
        return Response(await store.get_json_async(customer_id), media_type="application/json")

    return app


if __name__ == "__main__":
    if (sys.argv[3:] or ["bare"])[0] == "c360":
        from c360.api.app import create_api

        app = create_api(sys.argv[1])
    else:
        app = baseline_app(sys.argv[1])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
