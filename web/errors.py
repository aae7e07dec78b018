"""How the app says no: a page for people, JSON for the API, never a 500 for bad input.

* :class:`PageError` (a bad link, an unknown watchlist, an expired form): a page with a title
  and one line, with its status.
* Starlette's HTTP errors (an unknown path, a wrong method): the same page, or ``{"detail"}``
  under ``/api/``.
* A query or form value that fails validation: 422 JSON under ``/api/`` (FastAPI's, which the
  OpenAPI schema describes); for a page, 400 and a page naming the parameter.
* :class:`web.access.Unauthorised`: a page redirects to ``/login?next=<path>``, the API and
  feeds answer 401 with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from web.access import Unauthorised
from web.templating import render

_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
}


class PageError(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(
        request,
        "error.html",
        status_code=status,
        title=title,
        message=message,
        headers={"Cache-Control": "no-store"},
    )


async def _page_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, PageError)
    if _is_api(request):
        return JSONResponse({"detail": error.message}, status_code=error.status)
    return error_page(request, error.status, error.title, error.message)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else _TITLES.get(error.status_code, "")
    if _is_api(request):
        return JSONResponse(
            {"detail": detail}, status_code=error.status_code, headers=error.headers
        )
    message = {
        404: "There is nothing at this address.",
        405: "This address does not take that kind of request.",
    }.get(error.status_code, detail)
    title = _TITLES.get(error.status_code, "Error")
    response = error_page(request, error.status_code, title, message)
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response


async def _invalid_input(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    if _is_api(request):
        return await request_validation_exception_handler(request, error)
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ())[1:]) or "input"
        problems.append(f"{where}: {item.get('msg', 'not valid')}")
    return error_page(request, 400, "Bad request", "; ".join(problems) or "invalid input")


async def _unauthorised(request: Request, error: Exception) -> Response:
    assert isinstance(error, Unauthorised)
    challenge = {"WWW-Authenticate": "Bearer"}
    if error.answer == "json":
        detail = f"{error.reason} (Authorization: Bearer <token>)"
        return JSONResponse({"detail": detail}, status_code=401, headers=challenge)
    if error.answer == "feed":
        detail = f"{error.reason}, or the feed's own token (?token=, on the dashboard)"
        return PlainTextResponse(detail, status_code=401, headers=challenge)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_input)
    app.add_exception_handler(Unauthorised, _unauthorised)
