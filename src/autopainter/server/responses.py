"""What the web app answers with: errors as JSON, images as PNG bytes or base64 JSON, upload checks."""

from __future__ import annotations

import base64
import io
import json
from typing import Any, BinaryIO

from fastapi import Request, UploadFile
from fastapi.responses import Response
from PIL import Image

from ..imageio import ImageTooLargeError, NotAnImageError
from .fetch import FetchError, FetchTooLargeError

__all__ = ["APIError", "clip", "png_bytes", "b64", "status_of", "wants_json", "read_upload", "image_response"]


class APIError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def clip(value: object, limit: int = 60) -> str:
    """``repr(value)`` for an error message, cut at ``limit`` characters: a client's input is never echoed whole."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)  # fast: the PNG is made once per request and sent at once
    return buf.getvalue()


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


def wants_json(request: Request, form_value: str | None) -> bool:
    value = (form_value or request.query_params.get("format") or "png").lower()
    if value not in ("png", "json"):
        raise APIError(422, f"format must be png or json, got {clip(value)}")
    return value == "json"


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


def image_response(out: dict[str, Any], as_json: bool, filename: str, layer_names: tuple[str, ...] = ()) -> Response:
    w, h = out["size"]
    if as_json:
        body: dict[str, Any] = {"width": w, "height": h, "media_type": "image/png", "image": b64(out["image"])}
        if layer_names:
            body["layers"] = {k: b64(out[k]) for k in layer_names}
        return Response(json.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"})
    return Response(out["image"], media_type="image/png", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'inline; filename="{filename}"',
        "X-Image-Width": str(w), "X-Image-Height": str(h)})
