"""The HTTP edge: FastAPI app, dependencies, problem+json errors."""
