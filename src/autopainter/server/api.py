"""The REST API's endpoints, on one object: ``ImageAPI(settings, service, ...).add_routes(app)``.

``ColoringService`` is what the endpoints need from a colorizer (``inference.Colorizer`` is one; the tests'
fakes are others): its working ``size`` and default ``style``, ``colorize`` (the one pipeline: a result with its
image and layers by name) and ``regions``. ``create_app`` (app.py) builds the app around an ``ImageAPI``.

Work (decoding, fetching, the generator, encoding) runs in worker threads, at most
``settings.max_in_flight`` requests at once (``run_gated``); decoded pixels are held against
``settings.max_pixels_in_flight`` (``decoded``: the sketch, the files stretched over it, and a reference
coloring's reference drawing and its lines at their own sizes).
"""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager
from typing import Any, BinaryIO, Callable, Iterator, Protocol, runtime_checkable

import anyio
import numpy as np
from fastapi import File, Form, Request, UploadFile
from fastapi.responses import Response
from PIL import Image

from .. import __version__
from ..data.sketch import SKETCH_METHODS, extract_sketch
from ..imageio import ORA_MIMETYPE, ImageError, decode_image, flatten_on_white, image_pixels
from ..inference.colorizer import COLORED_SKETCH, STYLES, ColorizeResult
from ..inference.layers import describe_layers
from ..inference.palettes import MAX_VARIANT, parse_palette
from ..inference.reference import CHECK_BELOW, MIN_FIT
from ..inference.regions import MAX_GAP, Regions, check_gap, encode_png, encode_runs
from .bounds import InFlight, PixelBudget
from .counter import Counter
from .fetch import FetchError, Resolver, fetch_bytes, short_url
from .guard import SLOT_KEY, busy_message
from .responses import APIError, chosen_format, clip, image_response, png_bytes, read_upload, status_of, wants_json
from .settings import ServerSettings

__all__ = ["ColoringService", "ImageAPI", "COLORIZE_FORMATS", "VISITOR_COOKIE", "visitor_cookie", "check_service"]

log = logging.getLogger("autopainter.server")
COLORIZE_FORMATS = ("png", "json", "ora")
GAP_HELP = f"widest gap in a line (px) that still closes a region, 0-{MAX_GAP} (default: chosen from the drawing)"  # what POST /api/v1/colorize answers with (format=...)
VARIANT_HELP = (f"which palette colors the sketch's materials, 0-{MAX_VARIANT} (0, the default: the palette closest to "
                "the model's own colors; 1, 2, ...: others, the same each time); with a model that names no materials "
                "it changes nothing")
PALETTE_HELP = ('a JSON object of material names and hex colors, e.g. {"hair": "#3b2a20", "clothing 2": "#112233"} '
                "(the names X-Palette lists): these colors win over the variant's for the materials they name")
REFERENCE_HELP = ("optional: a colored drawing of the same character (PNG, JPEG, WebP, BMP, GIF or TIFF; any size, "
                  "not stretched): the sketch's regions take the colors of the matching parts of it (reference "
                  "coloring; the flat style only, a soft style is a 422; line art with no colors is a 422). The "
                  "answer's X-Reference-Fit, X-Reference-Palette and X-Reference-Check headers (and, with "
                  "format=json, its \"reference\" object) say how it matched")
REFERENCE_LINES_HELP = ("optional: the reference's own line art (gray or RGB, any size: stretched over the reference); "
                        "default: extracted from the reference. Only with reference (alone: a 422)")
MAX_CHECK_IDS = 2000  # X-Reference-Check lists at most this many region ids (then X-Reference-Check-Truncated: 1)
_BROWSER_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
# The visitor cookie: GET / sets "0" (seen, not counted); the page's own call to /api/v1/visitors counts a
# "0" once and sets "1". So a client without cookies (curl, a flood of GET /) is never counted.
VISITOR_COOKIE = "autopainter_visitor"


@runtime_checkable
class ColoringService(Protocol):
    """What the endpoints need from a colorizer (``inference.Colorizer`` satisfies it)."""

    size: int  # working resolution, long side in px (health reports it)
    style: str  # the default style: flat or soft

    def colorize(self, sketch: Image.Image, hints: Image.Image | None = None, style: str | None = None, *,
                 gap: int | None = None, closing: Image.Image | None = None,
                 empty: Image.Image | None = None, variant: int = 0,
                 palette: dict[str, str] | None = None, reference: Image.Image | None = None,
                 reference_lines: Image.Image | None = None) -> ColorizeResult: ...
    # ``reference``, ``reference_lines`` are passed only when the client sent a reference: a service without
    # reference coloring serves every other request as before (its ``colorize`` may lack them)

    def regions(self, sketch: Image.Image, gap: int | None = None, closing: Image.Image | None = None) -> Regions: ...


def check_service(service: Any) -> ColoringService:
    """``service`` if it is a ``ColoringService``; TypeError naming what it lacks otherwise."""
    missing = [name for name in ("size", "style", "colorize", "regions") if not hasattr(service, name)]
    if missing:
        raise TypeError(f"the app's colorizer needs {', '.join(missing)} (see server.api.ColoringService); "
                        f"{type(service).__name__} has not")
    return service


def visitor_cookie(response: Response, value: str) -> None:
    response.set_cookie(VISITOR_COOKIE, value, max_age=365 * 24 * 3600, httponly=True, samesite="lax")


PNG_OR_JSON = {
    "content": {"image/png": {}, "application/json": {"example": {"width": 512, "height": 384, "media_type": "image/png", "image": "iVBORw0..."}}},
    "description": "the image as PNG, or JSON with base64 PNGs when format=json",
}
PNG_JSON_OR_ORA = {"content": {**PNG_OR_JSON["content"], ORA_MIMETYPE: {}},
                   "description": PNG_OR_JSON["description"] + ", or an OpenRaster file of the layers when format=ora"}
ERROR_RESPONSES = {
    code: {"description": why, "content": {"application/json": {"example": {"error": "..."}}}}
    for code, why in [(400, "bad URL"), (413, "too large (bytes or pixels)"), (415, "not an image"),
                      (422, "corrupt image or bad parameter"), (503, "busy: retry after Retry-After seconds")]
}


class ImageAPI:
    """The API's endpoints and what they share: the service, the settings, the in-flight bound, the pixel
    budget, the visitor counter and the URL resolver."""

    def __init__(self, settings: ServerSettings, service: ColoringService, gate: InFlight, budget: PixelBudget,
                 counter: Counter, examples: list[dict[str, Any]], model_name: str, resolver: Resolver | None = None):
        self.settings, self.service, self.gate, self.budget = settings, check_service(service), gate, budget
        self.counter, self.examples, self.model_name, self.resolver = counter, examples, model_name, resolver

    @property
    def names_materials(self) -> bool:
        """Whether the model names materials (``Colorizer.names_materials``): only then do ``variant`` and
        ``palette`` change the colors, and a result has a palette."""
        return bool(getattr(self.service, "names_materials", False))

    async def run_gated(self, request: Request, job: Callable[[], Any]) -> Any:
        """Run ``job`` in a worker thread in the slot the Guard took for the request (or one taken now:
        503 at once when there is none)."""
        held = request.scope.get("state", {}).get(SLOT_KEY, False)
        if not held and not self.gate.enter():
            raise APIError(503, busy_message(self.gate.limit), {"Retry-After": str(self.settings.retry_after_s)})
        try:
            # the thread is never abandoned on cancellation, so the slot is held until the work ends
            return await anyio.to_thread.run_sync(self.budget.work(job))
        except (ImageError, FetchError, ValueError) as e:
            raise APIError(status_of(e), str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None
        except APIError:
            raise
        except Exception:
            log.exception("request failed")
            raise APIError(500, "internal error while processing the image (see the server log)") from None
        finally:
            if not held:
                self.gate.leave()

    def source(self, data: BinaryIO | None, url: str | None, what: str) -> tuple[BinaryIO, str]:
        """An input as a file and its name for error messages: the upload as the parser spooled it, or the
        image downloaded from ``url``."""
        if url:
            body, final = fetch_bytes(url, self.settings.fetch, self.resolver)
            return io.BytesIO(body), short_url(final)
        return data, what

    @contextmanager
    def decoded(self, *sources: tuple[BinaryIO | None, str],
                own: tuple[tuple[BinaryIO | None, str], ...] = ()) -> Iterator[list[Image.Image | None]]:
        """The images of ``sources`` and then of ``own`` (None stays None), decoded once their pixels fit in
        the pixel budget, which they hold until the block ends (the work on them included). The first source is
        the sketch; the others (hints, closing lines, leave-empty marks) are stretched over it, so each holds at
        least its pixels. ``own`` are read at their own size (a reference drawing and its line art: the
        colorizer reads them whole, then works on them at ``reference.MATCH_SIZE``), so each holds its own."""
        def pixels(fp: BinaryIO | None) -> int:
            n = image_pixels(fp) or 0 if fp is not None else 0
            return n if n <= self.settings.max_pixels else 0  # over the cap: decoding refuses it

        sizes = [pixels(fp) for fp, _ in sources]
        sizes = sizes[:1] + [max(n, sizes[0]) if fp is not None else 0 for n, (fp, _) in zip(sizes[1:], sources[1:])]
        sizes += [pixels(fp) for fp, _ in own]
        with self.budget.hold(sum(sizes)):
            yield [decode_image(fp, name=name, max_pixels=self.settings.max_pixels) if fp is not None else None
                   for fp, name in (*sources, *own)]

    @staticmethod
    def valid_gap(gap: int | None) -> None:
        try:
            check_gap(gap)
        except ValueError as e:
            raise APIError(422, str(e)) from None

    @staticmethod
    def valid_palette(variant: int, palette: str | None) -> dict[str, str] | None:
        """The palette form field as the mapping ``Colorizer.prepare`` takes (None: none); 422 for a variant out
        of range or a palette that is not a JSON object of material names and hex colors."""
        if not 0 <= variant <= MAX_VARIANT:
            raise APIError(422, f"variant must be a whole number from 0 to {MAX_VARIANT}, got {variant}")
        if palette is None or not palette.strip():
            return None
        try:
            parse_palette(palette)
        except ValueError as e:
            why = str(e).strip().splitlines()[0]  # it may quote the client's text: its middle goes, the reason stays
            raise APIError(422, why if len(why) <= 200 else f"{why[:80]}...{why[-100:]}") from None
        return json.loads(palette)

    @staticmethod
    def reference_headers(report: dict[str, Any] | None) -> dict[str, str]:
        """The answer's headers for a reference coloring's ``report`` (``ColorizeResult.reference_report``):
        the alignment's fit, the reference's palette (JSON, ASCII), the regions to check (confidence under
        ``reference.CHECK_BELOW``: at most ``MAX_CHECK_IDS`` ids, comma-separated) and how many there are."""
        if not report:
            return {}
        check = [int(r["region"]) for r in report.get("regions", ()) if float(r["confidence"]) < CHECK_BELOW]
        out = {"X-Reference-Fit": f"{float(report['alignment']['fit']):.3f}",
               "X-Reference-Palette": json.dumps(list(report.get("palette", ())), separators=(",", ":"), ensure_ascii=True),
               "X-Reference-Check": ",".join(map(str, check[:MAX_CHECK_IDS])),
               "X-Reference-Check-Count": str(len(check))}
        if len(check) > MAX_CHECK_IDS:
            out["X-Reference-Check-Truncated"] = "1"
        return out

    def one_source(self, data: BinaryIO | None, url: str | None, what: str) -> None:
        if data is not None and url:
            raise APIError(422, f"give either a {what} file or a url, not both")
        if data is None and not url:
            raise APIError(422, f"missing input: send a {what} file (multipart field '{what}') or a url")


    def health(self):
        """Whether the app is up, its model and limits, and how busy it is."""
        return {
            "status": "ok",
            "version": __version__,
            "model": {"name": self.model_name, "working_size": self.service.size},
            "layers": True,  # format=json&layers=true gives the output_layers (the color layer, the line layer, the flats)
            "output_layers": describe_layers(),  # name, label, title, description, file suffix: the page's menu
            "formats": list(COLORIZE_FORMATS),  # format=ora: an OpenRaster file of the layers
            "styles": list(STYLES), "default_style": self.service.style,
            "gap": {"max": MAX_GAP, "default": "auto"},  # gap= on colorize and regions; closing= and empty= files too
            # variant= and palette= on colorize; "materials": whether the model names materials (else a variant
            # changes nothing and X-Palette is never sent)
            "variants": {"default": 0, "max": MAX_VARIANT, "materials": self.names_materials},
            # reference= (and reference_lines=) on colorize: regions under check_below confidence are X-Reference-Check;
            # a fit under min_fit: the reference is taken for another drawing (its colors only where confident)
            "reference": {"check_below": CHECK_BELOW, "min_fit": MIN_FIT, "max_check_ids": MAX_CHECK_IDS},
            "in_flight": self.gate.count,
            "max_in_flight": self.gate.limit,
            "limits": {"max_upload_bytes": self.settings.max_upload_bytes, "max_pixels": self.settings.max_pixels,
                       "url_max_bytes": self.settings.fetch.max_bytes, "url_timeout_s": self.settings.fetch.timeout_s,
                       "max_pixels_in_flight": self.settings.max_pixels_in_flight, "max_connections": self.settings.max_connections,
                       "region_cache_bytes": self.settings.region_cache_bytes},
            "sketch_methods": list(SKETCH_METHODS),
        }

    def list_examples(self):
        """Example sketches to try, served under /static/examples/."""
        return {"examples": self.examples}

    def visitors(self, request: Request, response: Response):
        """How many browsers have opened the page (kept in SQLite across restarts)."""
        if request.cookies.get(VISITOR_COOKIE) == "0":  # a browser that loaded the page: count it, once
            try:
                self.counter.increment()
                visitor_cookie(response, "1")
            except Exception:  # a locked or broken counter file must not take the page down
                log.exception("visitor counter")
        return {"visitors": self.counter.get()}

    async def colorize(
        self,
        request: Request,
        sketch: UploadFile | None = File(None, description="the sketch: PNG, JPEG, WebP, BMP, GIF or TIFF (or give url)"),
        hints: UploadFile | None = File(None, description="optional RGBA PNG, transparent except painted colors; any size (stretched over the sketch)"),
        url: str | None = Form(None, description="http(s) URL of the sketch, instead of the file"),
        format: str | None = Form(None, description="png (default), json (base64 PNGs) or ora (an OpenRaster file of "
                                                      "the layers, for Krita, GIMP, MyPaint); also a query parameter"),
        layers: bool = Form(False, description="with format=json: also the color layer, the transparent line layer and the flats "
                                               "(format=ora always holds them)"),
        style: str | None = Form(None, description="flat (one color per region; the default) or soft (the model's colors as they vary)"),
        gap: int | None = Form(None, description=GAP_HELP),
        closing: UploadFile | None = File(None, description="optional RGBA PNG of closing lines: its non-transparent pixels "
                                                            "close regions like ink and never show; any size (stretched)"),
        empty: UploadFile | None = File(None, description="optional RGBA PNG of leave-empty marks: every region holding a "
                                                          "non-transparent pixel stays paper white; any size (stretched)"),
        variant: int = Form(0, description=VARIANT_HELP),
        palette: str | None = Form(None, description=PALETTE_HELP),
        reference: UploadFile | None = File(None, description=REFERENCE_HELP),
        reference_lines: UploadFile | None = File(None, description=REFERENCE_LINES_HELP),
    ):
        """Color a sketch. The result has the sketch's exact size. With a model that names materials (health's
        ``variants.materials``), ``X-Palette`` gives each material's color (JSON), ``X-Palette-Variant`` the variant.

        With a ``reference`` (a colored drawing of the same character), the regions take the reference's colors:
        ``X-Reference-Fit`` says how well the two drawings lie over each other (0-1, 3 decimals),
        ``X-Reference-Palette`` the reference's flat colors (a JSON list of "#rrggbb", largest area first),
        ``X-Reference-Check`` the regions matched with little confidence (comma-separated region ids, those of
        ``POST /api/v1/regions`` with the same gap and closing lines; at most 2000, then
        ``X-Reference-Check-Truncated: 1``; ``X-Reference-Check-Count`` says how many in all); ``format=json``
        adds ``"reference"``: the alignment, the palette, and per region its color, where it came from
        (reference, part, model, hint), the confidence and the reference region it matched.

        A sketch that looks like a colored picture rather than line art is still colored, with
        ``X-Sketch-Warning: colored`` (and ``"warnings"`` in JSON): color its sketch (``/api/v1/sketchify``)."""
        fmt = chosen_format(request, format, COLORIZE_FORMATS)
        if layers and fmt == "png":
            raise APIError(422, "layers come as JSON or in an OpenRaster file: add format=json or format=ora")
        if style is not None and style not in STYLES:
            raise APIError(422, f"style must be one of: {', '.join(STYLES)}; got {clip(style)}")
        self.valid_gap(gap)
        user_palette = self.valid_palette(variant, palette)
        sketch_data = read_upload(sketch, "sketch")
        hints_data = read_upload(hints, "hints")
        closing_data, empty_data = read_upload(closing, "closing"), read_upload(empty, "empty")
        ref_data, ref_lines_data = read_upload(reference, "reference"), read_upload(reference_lines, "reference_lines")
        self.one_source(sketch_data, url, "sketch")
        if ref_lines_data is not None and ref_data is None:
            raise APIError(422, "reference_lines needs a reference: send the colored drawing as reference too")
        if ref_data is not None:
            if style is not None and style != "flat":
                raise APIError(422, f"a reference gives flat colors: send style=flat (or no style) with a reference, not {clip(style)}")
            style = "flat"  # whatever the server's default style: a reference colors flat

        def job() -> dict[str, Any]:
            with self.decoded(self.source(sketch_data, url, "sketch"), (hints_data, "hints"), (closing_data, "closing"),
                              (empty_data, "empty"), own=((ref_data, "reference"), (ref_lines_data, "reference_lines"))
                              ) as (sk, hint, walls, marks, ref, ref_lines):
                extra = {} if ref is None else {"reference": ref, "reference_lines": ref_lines}
                res = self.service.colorize(sk, hints=hint, style=style, gap=gap, closing=walls, empty=marks,
                                            variant=variant, palette=user_palette, **extra)
                report = res.reference_report() if ref is not None and hasattr(res, "reference_report") else None
                # the materials' colors; asked only of a model that names materials (in the soft style reading them
                # makes the flats, which a model without materials must not pay for)
                colors = getattr(res, "palette", None) if self.names_materials else None
                warned = list(getattr(res, "warnings", ()))
                if fmt == "ora":
                    return {"size": res.image.size, "ora": res.to_ora(), "gap": res.gap_used, "palette": colors,
                            "reference": report, "warnings": warned}
                images = {"image": res.image, **(res.layers if layers else {})}
                found = getattr(res, "found", None)  # the gap the regions were made with, when they were needed
                return {"size": res.image.size, "names": tuple(images)[1:], "gap": found[0].gap if found else None,
                        "palette": colors, "reference": report, "warnings": warned,
                        **{k: png_bytes(v) for k, v in images.items()}}

        out = await self.run_gated(request, job)
        report = out.get("reference")
        extra = {"reference": report} if report is not None else {}
        if out.get("warnings"):
            extra["warnings"] = out["warnings"]
        response = image_response(out, fmt, "colored.png", layer_names=out.get("names", ()), extra=extra or None)
        if out.get("gap") is not None:
            response.headers["X-Region-Gap"] = str(out["gap"])
        response.headers["X-Palette-Variant"] = str(variant)
        if out.get("palette"):  # JSON with \u escapes: a header value stays ASCII
            response.headers["X-Palette"] = json.dumps(out["palette"], separators=(",", ":"), ensure_ascii=True)
        response.headers.update(self.reference_headers(report))
        if COLORED_SKETCH in out.get("warnings", ()):  # the page offers Extract sketch
            response.headers["X-Sketch-Warning"] = "colored"
        return response

    async def regions(
        self,
        request: Request,
        sketch: UploadFile | None = File(None, description="the sketch (or give url)"),
        url: str | None = Form(None, description="http(s) URL of the sketch, instead of the file"),
        format: str | None = Form(None, description="png (default: label = R + 256 G + 65536 B) or json (run lengths)"),
        gap: int | None = Form(None, description=GAP_HELP),
        closing: UploadFile | None = File(None, description="optional RGBA PNG of closing lines (non-transparent pixels "
                                                            "close regions like ink); any size (stretched)"),
    ):
        """The sketch's closed regions at its full size, as the flat style and a fill tool use them: every
        pixel's region number (1..count; line pixels belong to the nearest region)."""
        as_json = wants_json(request, format)
        self.valid_gap(gap)
        data = read_upload(sketch, "sketch")
        closing_data = read_upload(closing, "closing")
        self.one_source(data, url, "sketch")

        def job() -> Any:
            with self.decoded(self.source(data, url, "sketch"), (closing_data, "closing")) as (img, walls):
                found = self.service.regions(img, gap=gap, closing=walls)
                return encode_runs(found) if as_json else (encode_png(found), found)

        out = await self.run_gated(request, job)
        if as_json:
            return Response(json.dumps(out), media_type="application/json", headers={"Cache-Control": "no-store"})
        body, found = out
        h, w = found.labels.shape
        return Response(body, media_type="image/png", headers={
            "Cache-Control": "no-store", "X-Image-Width": str(w), "X-Image-Height": str(h),
            "X-Region-Count": str(found.count), "X-Region-Gap": str(found.gap)})

    async def sketchify(
        self,
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
        self.one_source(data, url, "image")

        def job() -> dict[str, Any]:
            with self.decoded(self.source(data, url, "image")) as (img,):
                rgb = np.asarray(flatten_on_white(img))  # (H, W, 3) uint8
                sk = Image.fromarray(extract_sketch(rgb, method=method))  # (H, W) gray, 255 paper
                return {"size": sk.size, "image": png_bytes(sk)}

        out = await self.run_gated(request, job)
        return image_response(out, fmt, "sketch.png")

    async def fetch(self, request: Request, url: str = Form(..., description="http(s) URL of an image")):
        """Download an image from a URL (checked against SSRF, size-capped) and send it back, so the page can show
        it. PNG, JPEG, WebP and GIF come back as they are; other formats as PNG."""

        def job() -> tuple[bytes, str]:
            fp, name = self.source(None, url, "image")
            with self.decoded((fp, name)) as (img,):
                if img.format in _BROWSER_FORMATS:
                    return fp.getvalue(), _BROWSER_FORMATS[img.format]
                return png_bytes(img), "image/png"

        data, media = await self.run_gated(request, job)
        return Response(data, media_type=media, headers={"Cache-Control": "no-store"})

    def add_routes(self, app) -> None:
        """Register the endpoints on ``app``."""
        app.get("/api/v1/health", tags=["service"])(self.health)
        app.get("/api/v1/examples", tags=["page"])(self.list_examples)
        app.get("/api/v1/visitors", tags=["page"])(self.visitors)
        app.post("/api/v1/colorize", tags=["images"], responses={200: PNG_JSON_OR_ORA, **ERROR_RESPONSES}, response_class=Response)(self.colorize)
        app.post("/api/v1/regions", tags=["images"], responses={200: {"content": {"image/png": {}, "application/json": {}}}, **ERROR_RESPONSES}, response_class=Response)(self.regions)
        app.post("/api/v1/sketchify", tags=["images"], responses={200: PNG_OR_JSON, **ERROR_RESPONSES}, response_class=Response)(self.sketchify)
        app.post("/api/v1/fetch", tags=["images"], responses={200: {"content": {"image/png": {}}}, **ERROR_RESPONSES}, response_class=Response)(self.fetch)
