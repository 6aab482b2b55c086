"""The app: store (SQLAlchemy + Alembic), auth, REST API (FastAPI) and web dashboard (Dash), served
by one process. Routes and pages call domain functions; they hold no business logic."""
