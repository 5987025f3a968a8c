"""Routes for people rather than programs: `/` and `/app`, the API docs from local assets."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from trunkdrop.web.pages import STATIC, templates

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/app", status_code=307)


@router.get("/app", response_class=HTMLResponse)
async def app_home(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "home.html", {})


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "docs.html", {})


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "redoc.html", {})


def install(app: FastAPI) -> None:
    """Mount the pages and their static files (the app must be made with `docs_url=None`,
    `redoc_url=None`: FastAPI's own pages load their scripts from a CDN)."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
