"""What the web app answers with: errors as JSON, images as PNG bytes or base64 JSON, upload checks."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse, Response
from PIL import Image

from ..imageio import ImageTooLargeError, NotAnImageError
from .fetch import FetchError, FetchTooLargeError

__all__ = ["APIError", "too_large", "png_bytes", "b64", "status_of", "wants_json", "read_upload", "image_response"]


class APIError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"request too large: the limit is {limit:,} bytes (sketch and hints together)"}, 413,
                        headers={"Connection": "close"})


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
        raise APIError(422, f"format must be png or json, got {value!r}")
    return value == "json"


async def read_upload(upload: UploadFile | None, what: str) -> bytes | None:
    if upload is None:
        return None
    data = await upload.read()
    if not data:
        raise APIError(422, f"{what}: the file is empty")
    return data


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
