"""The output layers of a colored sketch, by name: the one list every caller reads.

A ``ColorizeResult`` holds its layers by name (``result.layers``); the CLI's ``--layers`` writes each
*exported* layer as ``NAME_<layer>.png`` next to the output, the API's ``format=json&layers=true`` sends each
under its name, ``/api/v1/health`` lists them (the page builds its download menu from that list), and the
OpenRaster file stacks every layer that has an OpenRaster entry, top first, in the order of ``LAYERS``.

Adding a layer is one ``register_layer(Layer(...))`` here (or by a plugin), and nothing else:

>>> register_layer(Layer("shade", "Shade layer", "the shade layer", "Light and shadow", lambda r: r.color))  # doctest: +SKIP

Which OpenRaster layers are visible depends on the style: in the flat style the base under the lines is
``Flats`` (the color layer *is* the flats); in the soft style it is ``Color``, with ``Flats`` below it,
hidden (docs/resolution.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

from PIL import Image

if TYPE_CHECKING:  # pragma: no cover
    from .colorizer import ColorizeResult

__all__ = ["Layer", "LAYERS", "register_layer", "unregister_layer", "exported_layers", "layer_names", "layer_suffix", "ora_stack", "describe_layers"]


@dataclass(frozen=True)
class Layer:
    """One output layer.

    ``name``: its key in ``result.layers``, in the API's JSON and in ``/api/v1/health``; the CLI writes it as
    ``NAME_<name>.png``. For people: ``label`` (the page's menu: "Color layer"), ``title`` (in a sentence:
    "the color layer") and ``description`` (what it holds: the menu's tooltip, ``--help``). ``image(result)``:
    the layer at the sketch's size (None: the result has no such layer, e.g. no hints were given).
    ``exported``: written by ``--layers`` and sent with ``layers=true`` (False: only in the OpenRaster file).
    ``ora_name``: its OpenRaster layer name (None: not in the file); ``ora_visible(result)``: True or False
    for a visible or hidden OpenRaster layer, None to leave it out of this result's file.
    """

    name: str
    label: str
    title: str
    description: str
    image: Callable[["ColorizeResult"], Optional[Image.Image]]
    exported: bool = True
    ora_name: Optional[str] = None
    ora_visible: Callable[["ColorizeResult"], Optional[bool]] = lambda result: True
    ora_order: int = 100  # the OpenRaster stack is sorted by this, top first (ties: the order of LAYERS)


def _hints_layer(result: "ColorizeResult") -> Optional[Image.Image]:
    """The RGBA hints as given, stretched over the sketch (nearest keeps the colors exact): a file --hints takes back."""
    if result.hints is None:
        return None
    hints = result.hints.convert("RGBA")
    return hints if hints.size == result.image.size else hints.resize(result.image.size, Image.Resampling.NEAREST)


CLOSING_RGB, EMPTY_RGB = (0, 170, 255), (255, 0, 170)  # how the closing lines and the leave-empty marks are drawn


def _marks_layer(marks, rgb) -> Optional[Image.Image]:
    """(H, W) bool marks as an RGBA image: ``rgb`` where marked, transparent elsewhere (a file --closing or
    --empty takes back); None without marks."""
    if marks is None:
        return None
    import numpy as np

    out = np.zeros((*marks.shape, 4), np.uint8)
    out[marks] = (*rgb, 255)
    return Image.fromarray(out, "RGBA")


# Top first, as a colorist stacks them; the exported ones in the order the CLI and the API list them.
LAYERS: list[Layer] = [
    Layer("color", "Color layer", "the color layer", "The colors under the lines", lambda r: r.color, ora_name="Color", ora_order=2,
          ora_visible=lambda r: True if r.style == "soft" else None),  # flat style: the color layer is the Flats layer
    Layer("lines", "Lines layer", "the line layer", "The sketch's ink on transparency", lambda r: r.lines, ora_name="Lines", ora_order=0),
    Layer("flats", "Flats layer", "the flats", "One color per closed region, in either style", lambda r: r.flats, ora_name="Flats", ora_order=1, ora_visible=lambda r: r.style == "flat"),
    Layer("hints", "Hints", "the hints", "The hints as painted, stretched over the sketch", _hints_layer, exported=False, ora_name="Hints", ora_order=3,
          ora_visible=lambda r: False),
    Layer("closing", "Closing lines", "the closing lines", "Lines that close regions for the fills and never show",
          lambda r: _marks_layer(r.closing, CLOSING_RGB), exported=False, ora_name="Closing lines", ora_order=4,
          ora_visible=lambda r: False if r.closing is not None else None),
    Layer("empty", "Leave empty", "the leave-empty marks", "Marks on the regions that stay paper",
          lambda r: _marks_layer(r.empty, EMPTY_RGB), exported=False, ora_name="Leave empty", ora_order=5,
          ora_visible=lambda r: False if r.empty is not None else None),
]


def register_layer(layer: Layer, before: str | None = None) -> Layer:
    """Add ``layer`` (at the end, or before the layer named ``before``). ValueError for a name in use."""
    if any(x.name == layer.name for x in LAYERS):
        raise ValueError(f"a layer named {layer.name!r} exists; layers: {', '.join(layer_names(all_layers=True))}")
    if not layer.name.isidentifier() or not layer.name.islower():
        raise ValueError(f"layer names are lowercase identifiers (they name files and JSON keys), got {layer.name!r}")
    at = len(LAYERS)
    if before is not None:
        names = layer_names(all_layers=True)
        if before not in names:
            raise ValueError(f"no layer named {before!r}; layers: {', '.join(names)}")
        at = names.index(before)
    LAYERS.insert(at, layer)
    return layer


def unregister_layer(name: str) -> None:
    """Remove the layer ``name`` (tests and plugins undo their own ``register_layer``)."""
    LAYERS[:] = [x for x in LAYERS if x.name != name]


def exported_layers() -> list[Layer]:
    """The layers ``--layers`` writes and ``layers=true`` sends, in order."""
    return [x for x in LAYERS if x.exported]


def layer_names(all_layers: bool = False) -> list[str]:
    """The exported layers' names (``all_layers``: every layer's)."""
    return [x.name for x in (LAYERS if all_layers else exported_layers())]


def describe_layers() -> list[dict[str, str]]:
    """The exported layers for clients (``/api/v1/health``'s ``output_layers``): name, label, title, description,
    and the file-name suffix the page and the CLI give them."""
    return [{"name": x.name, "label": x.label, "title": x.title, "description": x.description,
             "suffix": layer_suffix(x.name)} for x in exported_layers()]


def layer_suffix(name: str) -> str:
    """The file-name suffix of layer ``name`` next to an output: ``_<name>`` (NAME_color.png)."""
    return f"_{name}"


def ora_stack(result: "ColorizeResult") -> list[tuple[Layer, bool]]:
    """The OpenRaster layers of ``result``, top first (``ora_order``), with their visibility."""
    chosen = [(x, x.ora_visible(result)) for x in LAYERS if x.ora_name is not None]
    return sorted(((x, bool(v)) for x, v in chosen if v is not None), key=lambda xv: xv[0].ora_order)
