"""The plain-HTTP listener beside HTTPS (`ceremony serve --redirect-http PORT`).

It serves nothing: every request, whatever its method or path, is answered with a
redirect to the same path and query over https (301 for GET and HEAD, 308 for the rest,
so that a client repeats a POST as a POST). With an https --public-url the redirect goes
to that origin, the name the certificate is for; otherwise to the host the request named,
on the HTTPS port.
"""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from .middleware import no_banner


def https_location(host: str, rel_url: URL, https_port: int, public_url: str | None) -> str:
    """Where a plain-HTTP request for `rel_url` (path and query) at `host` goes."""
    if public_url and public_url.startswith("https://"):
        public = URL(public_url)
        origin = str(public.origin())
    else:
        try:
            name = URL(f"//{host}").host or "localhost"
            origin = str(URL.build(scheme="https", host=name, port=None if https_port == 443 else https_port))
        except ValueError:  # a Host header that names no host
            origin = f"https://localhost:{https_port}"
    return origin.rstrip("/") + str(rel_url)


def redirect_app(https_port: int, public_url: str | None) -> web.Application:
    async def to_https(request: web.Request) -> web.Response:
        status = 301 if request.method in ("GET", "HEAD") else 308
        location = https_location(request.host, request.rel_url, https_port, public_url)
        return web.Response(status=status, headers={"Location": location})

    async def quiet(request: web.Request, response: web.StreamResponse) -> None:
        no_banner(response)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", to_https)
    app.on_response_prepare.append(quiet)
    return app
