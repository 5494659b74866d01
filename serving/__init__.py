"""The facealign HTTP service (FastAPI on uvicorn); see serving/README.md."""
