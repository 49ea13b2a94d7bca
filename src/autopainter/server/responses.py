"""What the web app answers with: errors as JSON, images as PNG bytes, base64 JSON or OpenRaster, upload checks."""

from __future__ import annotations

import base64
import io
import json
from typing import Any, BinaryIO

from fastapi import Request, UploadFile
from fastapi.responses import Response

from ..imageio import ORA_MIMETYPE, ImageTooLargeError, NotAnImageError, png_bytes
from .fetch import FetchError, FetchTooLargeError

__all__ = ["APIError", "clip", "png_bytes", "b64", "status_of", "chosen_format", "wants_json", "read_upload", "image_response"]


class APIError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def clip(value: object, limit: int = 60) -> str:
    """``repr(value)`` for an error message, cut at ``limit`` characters: a client's input is never echoed whole."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def status_of(e: Exception) -> int:
    if isinstance(e, (ImageTooLargeError, FetchTooLargeError)):
        return 413
    if isinstance(e, NotAnImageError):
        return 415
    if isinstance(e, FetchError):
        return 400
    return 422  # corrupt image, hints without transparency, bad parameter


def chosen_format(request: Request, form_value: str | None, choices: tuple[str, ...] = ("png", "json")) -> str:
    """The response format the client asks for (form field, else query parameter ``format``; default png)."""
    value = (form_value or request.query_params.get("format") or "png").lower()
    if value not in choices:
        raise APIError(422, f"format must be {', '.join(choices[:-1])} or {choices[-1]}, got {clip(value)}")
    return value


def wants_json(request: Request, form_value: str | None) -> bool:
    return chosen_format(request, form_value) == "json"


def read_upload(upload: UploadFile | None, what: str) -> BinaryIO | None:
    """The uploaded file as the multipart parser left it (in memory up to 1 MB, else spooled to disk), to be
    decoded straight from there: the app never holds a second copy of an upload's bytes."""
    if upload is None:
        return None
    f = upload.file
    f.seek(0, io.SEEK_END)
    if f.tell() == 0:
        raise APIError(422, f"{what}: the file is empty")
    f.seek(0)
    return f


def image_response(out: dict[str, Any], fmt: str, filename: str, layer_names: tuple[str, ...] = (),
                   extra: dict[str, Any] | None = None) -> Response:
    """``out`` (``size`` and ``image`` PNG bytes; the ``layer_names`` as PNG bytes; ``ora`` bytes) in ``fmt``:
    ``png`` (the image, shown inline), ``json`` (base64 PNGs, and the fields of ``extra``) or ``ora`` (the
    OpenRaster file, a download named like ``filename``)."""
    w, h = out["size"]
    if fmt == "json":
        body: dict[str, Any] = {"width": w, "height": h, "media_type": "image/png", "image": b64(out["image"])}
        if layer_names:
            body["layers"] = {k: b64(out[k]) for k in layer_names}
        body.update(extra or {})
        return Response(json.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"})
    if fmt == "ora":
        data, media, disposition = out["ora"], ORA_MIMETYPE, "attachment"
        filename = f"{filename.rsplit('.', 1)[0]}.ora"
    else:
        data, media, disposition = out["image"], "image/png", "inline"
    return Response(data, media_type=media, headers={
        "Cache-Control": "no-store", "Content-Disposition": f'{disposition}; filename="{filename}"',
        "X-Image-Width": str(w), "X-Image-Height": str(h)})
