"""The HTTP API: API keys with scopes (`keys`), the FastAPI app (`app`) and their commands (`cli`).

Plain classes, importable and testable without Ray Serve; `serving/app.py` wraps `create_api` in the Serve
ingress deployment.
"""
