"""The ``autopainter`` command: a thin shell over the library.

Every command resolves its options, calls one library function, and turns the library's ValueErrors
(bad config, bad image, bad model folder ...) into a one-line message and exit code 2. One module per
command group (train.py: train, export; colorize.py; serve.py; data.py: sketchify, prepare;
evaluate.py), each importing only the leaf ``outputs.py`` (errors, inputs, the one output planner).
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings

from .. import __version__
from .outputs import EXIT_BAD_INPUT, CLIError, plan_outputs

__all__ = ["CLIError", "EXIT_BAD_INPUT", "build_parser", "main", "plan_outputs"]


def build_parser() -> argparse.ArgumentParser:
    from .colorize import add_colorize_command
    from .data import add_data_commands
    from .evaluate import add_eval_command
    from .serve import add_serve_command
    from .train import add_train_commands

    p = argparse.ArgumentParser(prog="autopainter", description="Color line art with a conditional GAN guided by color hints.")
    p.add_argument("--version", action="version", version=f"autopainter {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_commands(sub)
    add_colorize_command(sub)
    add_serve_command(sub)
    add_data_commands(sub)
    add_eval_command(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code = _run(args)
    if args.command == "train":
        from ..training import distributed

        if distributed.is_distributed():  # a torchrun worker: never finalize with gloo threads alive
            distributed.exit_process(code)
    return code


def _terminated(signum, frame) -> None:
    """SIGTERM as an exception, so that a command stopped by it unwinds: half-written outputs are removed
    (``imageio.atomic_write_bytes``) and it exits 143. Training and the server install their own handlers."""
    stop = KeyboardInterrupt(signal.Signals(signum).name)
    stop.signum = signum
    raise stop


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one ``autopainter: warning: ...`` line on stderr, not Python's two-line form."""
    text = " ".join(part.strip() for part in str(message).splitlines() if part.strip()) or category.__name__
    print(f"autopainter: warning: {text}", file=sys.stderr)


def _tolerant_output() -> None:
    """File names that are not valid UTF-8 (surrogate escapes) are printed escaped (\\udce9) rather than
    failing with UnicodeEncodeError after the command's work is done, whatever stdout's encoding."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "") == "strict":
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream that cannot change now: leave it
                pass


def _run(args: argparse.Namespace) -> int:
    old = None
    _tolerant_output()
    old_show, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        old = signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread (main() called from a thread): leave signals alone
        pass
    try:
        return args.func(args)
    except ValueError as e:  # every library error is a ValueError subclass with a one-line message
        lines = str(e).strip().splitlines()
        # an error raised in a DataLoader worker arrives wrapped: "Caught X in DataLoader worker ...", the
        # original traceback, and the original message last
        msg = (lines[-1].split(": ", 1)[-1] if lines and lines[0].startswith("Caught ") else lines[0]) if lines else type(e).__name__
        print(f"autopainter: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:  # unwritable output, disk full, a file where a folder should be ...
        where = f": {e.filename}" if e.filename else ""
        print(f"autopainter: error: {e.strerror or e}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as e:  # Ctrl-C, or training's Interrupted naming the signal (SIGINT or SIGTERM)
        print("autopainter: interrupted", file=sys.stderr)
        return 128 + getattr(e, "signum", signal.SIGINT)  # the shell's convention: 130 SIGINT, 143 SIGTERM
    finally:
        warnings.showwarning = old_show
        if old is not None:
            signal.signal(signal.SIGTERM, old)
