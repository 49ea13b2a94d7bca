"""The web app and REST API: ``create_app(settings) -> FastAPI``.

A thin shell over the library (``Colorizer``, ``extract_sketch``, ``imageio.decode_image``):

* ``GET /`` the page (``static/``: plain HTML, CSS and JavaScript, nothing from a CDN), ``GET /docs``
  the OpenAPI docs (Swagger UI served from the ``fastapi-offline`` package, also offline);
* ``POST /api/v1/colorize`` (``style`` flat or soft; ``format`` png, json or ora), ``POST /api/v1/regions`` (the label map of the
  sketch's closed regions), ``POST /api/v1/sketchify``, ``POST /api/v1/fetch`` (an image URL, checked
  and re-served for the page), ``GET /api/v1/health``, ``GET /api/v1/examples``, ``GET /api/v1/visitors``.

Work (decoding, fetching, the generator, encoding) runs in worker threads, at most
``settings.max_in_flight`` requests at once; one more is answered at once with 503 and Retry-After
rather than queued, before its body is read (``guard.Guard``, which also checks the Host, the origin and
the byte cap). Every error is a JSON ``{"error": "..."}`` with a 4xx status (500 only for a bug, without
the traceback, which goes to the server log). Results go back in the response, so there are no result
files to name or prune (uploads over 1 MB are spooled to a temporary file for the request only, and
decoded from there).
"""

from __future__ import annotations

import io
import json
import logging
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import anyio
import numpy as np
from fastapi import File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..data.sketch import SKETCH_METHODS, extract_sketch
from ..imageio import ORA_MIMETYPE, ImageError, decode_image, flatten_on_white, image_pixels
from ..inference.colorizer import STYLES
from ..inference.layers import describe_layers
from ..inference.regions import MAX_GAP, check_gap, encode_png, encode_runs
from .bounds import InFlight, PixelBudget
from .counter import Counter
from .fetch import FetchError, Resolver, fetch_bytes, short_url
from .guard import SLOT_KEY, Guard, busy_message, clip_message
from .hosts import HostAllowList
from .memory import release_memory
from .responses import APIError, chosen_format, clip, image_response, png_bytes, read_upload, status_of, wants_json
from .settings import ServerSettings

__all__ = ["create_app", "STATIC_DIR"]

log = logging.getLogger("autopainter.server")
STATIC_DIR = Path(__file__).parent / "static"
# The visitor cookie: GET / sets "0" (seen, not counted); the page's own call to /api/v1/visitors counts a
# "0" once and sets "1". So a client without cookies (curl, a flood of GET /) is never counted.
VISITOR_COOKIE = "autopainter_visitor"
COLORIZE_FORMATS = ("png", "json", "ora")  # what POST /api/v1/colorize answers with (format=...)
_BROWSER_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


def _examples() -> list[dict[str, Any]]:
    out = []
    for p in sorted((STATIC_DIR / "examples").glob("*.png")):
        with Image.open(p) as im:
            out.append({"name": p.stem, "url": f"/static/examples/{p.name}", "width": im.width, "height": im.height})
    return out


def create_app(settings: ServerSettings | None = None, colorizer: Any = None, resolver: Resolver | None = None):
    """The FastAPI app.

    Args:
        settings: limits, model folder, data folder (defaults: ``ServerSettings()``).
        colorizer: a loaded ``Colorizer`` (the app uses ``colorize``, ``regions``, ``size`` and ``style``); None loads
            ``settings.model_dir`` (None: the bundled model), raising ModelFileError when there is none.
        resolver: host name resolution for URL fetches, ``(host, port) -> [ip, ...]`` (tests); None: the system's.
    """
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError as e:  # pragma: no cover - the serve extra installs it
        raise ImportError(f"the web app needs its extra: pip install 'autopainter[serve]' ({e})") from None

    settings = settings or ServerSettings()
    if colorizer is None:
        from ..inference import Colorizer

        colorizer = Colorizer.from_pretrained(settings.model_dir, device=settings.device, size=settings.size,
                                              max_pixels=settings.max_pixels)
    counter = Counter(settings.counter_path)
    policy = settings.fetch
    gate = InFlight(settings.max_in_flight, on_idle=release_memory)
    budget = PixelBudget(settings.max_pixels_in_flight, after_big=release_memory)
    examples = _examples()
    index_html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    model_name = Path(settings.model_dir).name if settings.model_dir else "bundled"

    @asynccontextmanager
    async def lifespan(app):
        yield
        try:
            counter.flush()
        except Exception:
            log.exception("visitor counter")

    app = FastAPIOffline(
        lifespan=lifespan,
        title="Auto-Painter",
        version=__version__,
        description="Color black-and-white line art, guided by optional color hints. Errors are JSON "
                    '`{"error": "..."}`; busy servers answer 503 with Retry-After.',
        redoc_url=None,
        static_url="/static-docs",
    )
    app.state.settings, app.state.gate, app.state.counter = settings, gate, counter
    app.add_middleware(Guard, max_body=settings.max_upload_bytes, gate=gate, hosts=HostAllowList(settings.allowed_hosts),
                       retry_after_s=settings.retry_after_s)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # ------------------------------------------------------------------ errors: always {"error": ...}
    @app.exception_handler(APIError)
    async def _api_error(request: Request, e: APIError):
        return JSONResponse({"error": clip_message(e.message)}, e.status, headers=e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException):
        return JSONResponse({"error": clip_message(str(e.detail))}, e.status_code, headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception):  # never a traceback or plain text to the client
        logging.getLogger("autopainter.server").exception("unexpected error on %s", request.url.path)
        return JSONResponse({"error": "internal error"}, 500)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, e: RequestValidationError):
        parts = []
        for err in e.errors()[:3]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
        return JSONResponse({"error": clip_message("; ".join(parts) or "invalid request")}, 422)

    async def run_gated(request: Request, job: Callable[[], Any]) -> Any:
        """Run ``job`` in a worker thread in the slot the Guard took for the request (or one taken now:
        503 at once when there is none)."""
        held = request.scope.get("state", {}).get(SLOT_KEY, False)
        if not held and not gate.enter():
            raise APIError(503, busy_message(gate.limit), {"Retry-After": str(settings.retry_after_s)})
        try:
            # the thread is never abandoned on cancellation, so the slot is held until the work ends
            return await anyio.to_thread.run_sync(budget.work(job))
        except (ImageError, FetchError, ValueError) as e:
            raise APIError(status_of(e), str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None
        except APIError:
            raise
        except Exception:
            log.exception("request failed")
            raise APIError(500, "internal error while processing the image (see the server log)") from None
        finally:
            if not held:
                gate.leave()

    def source(data: BinaryIO | None, url: str | None, what: str) -> tuple[BinaryIO, str]:
        """An input as a file and its name for error messages: the upload as the parser spooled it, or the
        image downloaded from ``url``."""
        if url:
            body, final = fetch_bytes(url, policy, resolver)
            return io.BytesIO(body), short_url(final)
        return data, what

    @contextmanager
    def decoded(*sources: tuple[BinaryIO | None, str]) -> Iterator[list[Image.Image | None]]:
        """The images of ``sources`` (None stays None), decoded once their pixels fit in the pixel budget,
        which they hold until the block ends (the work on them included)."""
        sizes = [image_pixels(fp) or 0 if fp is not None else 0 for fp, _ in sources]
        with budget.hold(sum(n for n in sizes if n <= settings.max_pixels)):  # over the cap: decoding refuses it
            yield [decode_image(fp, name=name, max_pixels=settings.max_pixels) if fp is not None else None
                   for fp, name in sources]

    def one_source(data: BinaryIO | None, url: str | None, what: str) -> None:
        if data is not None and url:
            raise APIError(422, f"give either a {what} file or a url, not both")
        if data is None and not url:
            raise APIError(422, f"missing input: send a {what} file (multipart field '{what}') or a url")

    # ------------------------------------------------------------------ page
    def visitor_cookie(response: Response, value: str) -> None:
        response.set_cookie(VISITOR_COOKIE, value, max_age=365 * 24 * 3600, httponly=True, samesite="lax")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request):
        response = HTMLResponse(index_html, headers={"Cache-Control": "no-cache"})
        if VISITOR_COOKIE not in request.cookies:
            visitor_cookie(response, "0")  # counted when the page asks for the count (nothing is written now)
        return response

    # ------------------------------------------------------------------ API
    png_or_json = {
        "content": {"image/png": {}, "application/json": {"example": {"width": 512, "height": 384, "media_type": "image/png", "image": "iVBORw0..."}}},
        "description": "the image as PNG, or JSON with base64 PNGs when format=json",
    }
    png_json_or_ora = {"content": {**png_or_json["content"], ORA_MIMETYPE: {}},
                       "description": png_or_json["description"] + ", or an OpenRaster file of the layers when format=ora"}
    error_responses = {
        code: {"description": why, "content": {"application/json": {"example": {"error": "..."}}}}
        for code, why in [(400, "bad URL"), (413, "too large (bytes or pixels)"), (415, "not an image"),
                          (422, "corrupt image or bad parameter"), (503, "busy: retry after Retry-After seconds")]
    }

    @app.get("/api/v1/health", tags=["service"])
    def health():
        """Whether the app is up, its model and limits, and how busy it is."""
        return {
            "status": "ok",
            "version": __version__,
            "model": {"name": model_name, "working_size": colorizer.size},
            "layers": True,  # format=json&layers=true gives the output_layers (the color layer, the line layer, the flats)
            "output_layers": describe_layers(),  # name, label, title, description, file suffix: the page's menu
            "formats": list(COLORIZE_FORMATS),  # format=ora: an OpenRaster file of the layers
            "styles": list(STYLES), "default_style": getattr(colorizer, "style", "soft"),
            "in_flight": gate.count,
            "max_in_flight": gate.limit,
            "limits": {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels,
                       "url_max_bytes": policy.max_bytes, "url_timeout_s": policy.timeout_s,
                       "max_pixels_in_flight": settings.max_pixels_in_flight, "max_connections": settings.max_connections},
            "sketch_methods": list(SKETCH_METHODS),
        }

    @app.get("/api/v1/examples", tags=["page"])
    def list_examples():
        """Example sketches to try, served under /static/examples/."""
        return {"examples": examples}

    @app.get("/api/v1/visitors", tags=["page"])
    def visitors(request: Request, response: Response):
        """How many browsers have opened the page (kept in SQLite across restarts)."""
        if request.cookies.get(VISITOR_COOKIE) == "0":  # a browser that loaded the page: count it, once
            try:
                counter.increment()
                visitor_cookie(response, "1")
            except Exception:  # a locked or broken counter file must not take the page down
                log.exception("visitor counter")
        return {"visitors": counter.get()}

    @app.post("/api/v1/colorize", tags=["images"], responses={200: png_json_or_ora, **error_responses}, response_class=Response)
    async def colorize(
        request: Request,
        sketch: UploadFile | None = File(None, description="the sketch: PNG, JPEG, WebP, BMP, GIF or TIFF (or give url)"),
        hints: UploadFile | None = File(None, description="optional RGBA PNG, transparent except painted colors; any size (stretched over the sketch)"),
        url: str | None = Form(None, description="http(s) URL of the sketch, instead of the file"),
        format: str | None = Form(None, description="png (default), json (base64 PNGs) or ora (an OpenRaster file of "
                                                      "the layers, for Krita, GIMP, MyPaint); also a query parameter"),
        layers: bool = Form(False, description="with format=json: also the color layer, the transparent line layer and the flats "
                                               "(format=ora always holds them)"),
        style: str | None = Form(None, description="flat (one color per region; the default) or soft (the model's colors as they vary)"),
    ):
        """Color a sketch. The result has the sketch's exact size."""
        fmt = chosen_format(request, format, COLORIZE_FORMATS)
        if layers and fmt == "png":
            raise APIError(422, "layers come as JSON or in an OpenRaster file: add format=json or format=ora")
        if style is not None and style not in STYLES:
            raise APIError(422, f"style must be one of: {', '.join(STYLES)}; got {clip(style)}")
        sketch_data = read_upload(sketch, "sketch")
        hints_data = read_upload(hints, "hints")
        one_source(sketch_data, url, "sketch")

        chosen = {"style": style} if style is not None else {}  # a colorizer of one's own may not know styles

        def job() -> dict[str, Any]:
            with decoded(source(sketch_data, url, "sketch"), (hints_data, "hints")) as (sk, hint):
                res = colorizer.colorize(sk, hints=hint, **chosen)
                if fmt == "ora":
                    return {"size": res.image.size, "ora": res.to_ora()}
                images = {"image": res.image, **(res.layers if layers else {})}
                return {"size": res.image.size, "names": tuple(images)[1:], **{k: png_bytes(v) for k, v in images.items()}}

        out = await run_gated(request, job)
        return image_response(out, fmt, "colored.png", layer_names=out.get("names", ()))

    @app.post("/api/v1/regions", tags=["images"], responses={200: {"content": {"image/png": {}, "application/json": {}}},
                                                             **error_responses}, response_class=Response)
    async def regions(
        request: Request,
        sketch: UploadFile | None = File(None, description="the sketch (or give url)"),
        url: str | None = Form(None, description="http(s) URL of the sketch, instead of the file"),
        format: str | None = Form(None, description="png (default: label = R + 256 G + 65536 B) or json (run lengths)"),
        gap: int | None = Form(None, description=f"widest gap in a line (px) that still closes a region, 0-{MAX_GAP} "
                                                 "(default: twice the line width)"),
    ):
        """The sketch's closed regions at its full size, as the flat style and a fill tool use them: every
        pixel's region number (1..count; line pixels belong to the nearest region)."""
        as_json = wants_json(request, format)
        try:
            check_gap(gap)
        except ValueError as e:
            raise APIError(422, str(e)) from None
        data = read_upload(sketch, "sketch")
        one_source(data, url, "sketch")

        def job() -> Any:
            with decoded(source(data, url, "sketch")) as (img,):
                found = colorizer.regions(img, gap=gap)
                return encode_runs(found) if as_json else (encode_png(found), found)

        out = await run_gated(request, job)
        if as_json:
            return Response(json.dumps(out), media_type="application/json", headers={"Cache-Control": "no-store"})
        body, found = out
        h, w = found.labels.shape
        return Response(body, media_type="image/png", headers={
            "Cache-Control": "no-store", "X-Image-Width": str(w), "X-Image-Height": str(h),
            "X-Region-Count": str(found.count), "X-Region-Gap": str(found.gap)})

    @app.post("/api/v1/sketchify", tags=["images"], responses={200: png_or_json, **error_responses}, response_class=Response)
    async def sketchify(
        request: Request,
        image: UploadFile | None = File(None, description="a colored image (or give url)"),
        url: str | None = Form(None, description="http(s) URL of the image, instead of the file"),
        method: str = Form("xdog", description=f"line extraction: {', '.join(SKETCH_METHODS)}"),
        format: str | None = Form(None, description="png (default) or json"),
    ):
        """Extract black-on-white line art from a colored image (the same function training uses)."""
        fmt = chosen_format(request, format)
        if method not in SKETCH_METHODS:
            raise APIError(422, f"unknown method {clip(method)}; choose one of: {', '.join(SKETCH_METHODS)}")
        data = read_upload(image, "image")
        one_source(data, url, "image")

        def job() -> dict[str, Any]:
            with decoded(source(data, url, "image")) as (img,):
                rgb = np.asarray(flatten_on_white(img))  # (H, W, 3) uint8
                sk = Image.fromarray(extract_sketch(rgb, method=method))  # (H, W) gray, 255 paper
                return {"size": sk.size, "image": png_bytes(sk)}

        out = await run_gated(request, job)
        return image_response(out, fmt, "sketch.png")

    @app.post("/api/v1/fetch", tags=["images"], responses={200: {"content": {"image/png": {}}}, **error_responses}, response_class=Response)
    async def fetch(request: Request, url: str = Form(..., description="http(s) URL of an image")):
        """Download an image from a URL (checked against SSRF, size-capped) and send it back, so the page can show
        it. PNG, JPEG, WebP and GIF come back as they are; other formats as PNG."""

        def job() -> tuple[bytes, str]:
            fp, name = source(None, url, "image")
            with decoded((fp, name)) as (img,):
                if img.format in _BROWSER_FORMATS:
                    return fp.getvalue(), _BROWSER_FORMATS[img.format]
                return png_bytes(img), "image/png"

        data, media = await run_gated(request, job)
        return Response(data, media_type=media, headers={"Cache-Control": "no-store"})

    return app
