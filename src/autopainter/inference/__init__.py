"""Coloring sketches with a trained model, in the order the pipeline runs.

``colorizer.py`` (``Colorizer``, the one pipeline: prepare -> generate -> finish, giving a ``ColorizeResult``
that holds its layers by name), ``runners.py`` (the generator on PyTorch or ONNX Runtime behind one call, or
nothing: the hints-only baseline), ``regions.py`` + ``flats.py`` (closed regions and one color each),
``compose.py`` (full-resolution color and line layers), ``layers.py`` (the output layers by name: the one
list the CLI, the API, the OpenRaster file and the page read), ``palettes.py`` (materials and their
palettes), ``reference.py`` (colors from a colored drawing of the same character), ``files.py`` (many files at once),
``onnx.py`` (export and the ONNX Runtime runner).
Names are imported lazily, so ``import autopainter.inference.compose`` stays light.
"""

from __future__ import annotations

__all__ = ["Colorizer", "ColorizeResult", "Prepared", "Sequence", "ReferenceDrawing", "bundled_model_dir", "working_size",
           "FileJob", "colorize_files", "colorize_sequence_files", "layer_paths", "save_output", "default_threads", "Layer", "register_layer"]

_WHERE = {
    "Colorizer": "colorizer", "ColorizeResult": "colorizer", "Prepared": "colorizer", "Sequence": "colorizer",
    "ReferenceDrawing": "reference", "colorize_sequence_files": "files",
    "bundled_model_dir": "colorizer", "working_size": "colorizer",
    "FileJob": "files", "colorize_files": "files", "layer_paths": "files", "save_output": "files",
    "default_threads": "runners", "Layer": "layers", "register_layer": "layers",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
