"""The ``autopainter`` command: a thin shell over the library.

Every command resolves its options, calls one library function, and turns the library's ValueErrors
(bad config, bad image, bad model folder ...) into a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__

EXIT_BAD_INPUT = 2


class CLIError(ValueError):
    """A problem with the command line itself."""


def _presets_dir() -> Path:
    return Path(__file__).parent / "configs"


def resolve_config_path(name_or_path: str) -> Path:
    """A YAML path, or the name of a bundled preset (tiny, default, pix2pix, paper)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists() or "/" in name_or_path:
        return p
    preset = _presets_dir() / f"{name_or_path}.yaml"
    if preset.is_file():
        return preset
    names = ", ".join(sorted(q.stem for q in _presets_dir().glob("*.yaml")))
    raise CLIError(f"no config file or preset named {name_or_path!r}; presets: {names}")


# --------------------------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    from .config import Config
    from .training.loop import resume_config, train

    overrides = list(args.set or [])
    if args.data:
        overrides.append(f"data.path={args.data}")
    if args.resume:
        if args.config:
            raise CLIError("--resume uses the run's own config; drop --config (use --set to change e.g. train.epochs)")
        cfg = resume_config(args.resume, overrides)
    else:
        cfg = Config.load(resolve_config_path(args.config or "default"), overrides)
    if args.dry_run:
        print(cfg.to_yaml(), end="")
        return 0
    if not cfg.data.path:
        raise CLIError("no training data: pass --data PATH (or --set data.path=PATH)")
    if not Path(cfg.data.path).is_dir():
        raise CLIError(f"data folder not found: {cfg.data.path}")
    run_dir = train(cfg, resume=args.resume, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run: {run_dir}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    src = Path(args.run_dir)
    if (src / "config.json").is_file() and not (src / "checkpoints").is_dir():
        # already a model folder: only the ONNX file is new
        if not args.onnx:
            raise CLIError(f"{src} is already a model folder; add --onnx to write its model.onnx")
        out = _copy_model_folder(src, Path(args.output))
    else:
        from .training.loop import export

        out = export(args.run_dir, args.output)
    print(f"model: {out}")
    if args.onnx:
        from .models.io import load_generator
        from .onnx_backend import ONNX_NAME, export_onnx

        gen, _ = load_generator(out)  # the saved fp16 weights, so the ONNX file matches the folder exactly
        print(f"onnx: {export_onnx(gen, out / ONNX_NAME)}")
    return 0


def _copy_model_folder(src: Path, out: Path) -> Path:
    """Copy a model folder's config.json and model.safetensors into ``out`` (a new, empty or model folder)."""
    from .imageio import atomic_write_bytes
    from .models.io import CONFIG_NAME, WEIGHTS_NAME, ModelFileError, read_model_config

    read_model_config(src)
    if out.resolve() == src.resolve():
        return out
    if out.exists() and not out.is_dir():
        raise ModelFileError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / CONFIG_NAME).is_file():
        raise ModelFileError(f"{out} is a non-empty folder that holds no model: choose a new or empty folder")
    if not (src / WEIGHTS_NAME).is_file():
        raise ModelFileError(f"{src} has no {WEIGHTS_NAME}")
    for name in (WEIGHTS_NAME, CONFIG_NAME):  # config last: a folder with a config.json is complete
        atomic_write_bytes(out / name, (src / name).read_bytes())
    return out


def _collect_inputs(inputs: list[str]) -> list[Path]:
    from .imageio import list_images

    files: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            files.extend(list_images(p))
        elif p.is_file():
            files.append(p)
        else:
            raise CLIError(f"input not found: {p}")
    return files


def plan_outputs(files: list[Path], out: Path, single_file: bool, extras: tuple[str, ...] = ()) -> dict[Path, Path]:
    """Output path of each input: ``out`` itself for a single file, else ``out/STEM.png``.

    ``extras`` are name suffixes written next to each output (e.g. ``_color`` for NAME_color.png);
    their names are reserved too. An input whose names are taken (the same stem from two folders, or
    a name like another output's layer) gets ``STEM-1.png``, ``STEM-2.png`` ...: never overwrite our
    own output.
    """
    targets: dict[Path, Path] = {}
    taken: set[Path] = set()

    def names(dest: Path) -> list[Path]:
        return [dest] + [dest.with_name(f"{dest.stem}{x}.png") for x in extras]

    for f in files:
        dest = out if single_file else out / f"{f.stem}.png"
        n = 1
        while any(p in taken for p in names(dest)):
            dest = out / f"{f.stem}-{n}.png"
            n += 1
        taken.update(names(dest))
        targets[f] = dest
    return targets


def cmd_colorize(args: argparse.Namespace) -> int:
    from .inference import Colorizer, FileJob, colorize_files, layer_paths

    files = _collect_inputs(args.inputs)
    out = Path(args.output)
    single_file = out.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")
    if single_file and len(files) > 1:
        raise CLIError(f"-o {out} names one image but there are {len(files)} inputs: give a folder")
    if not single_file and out.exists() and not out.is_dir():
        raise CLIError(f"-o {out} exists and is not a folder (give a folder for several inputs, or NAME.png for one)")
    for name in ("size", "max_pixels", "jobs", "threads"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise CLIError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    hints_dir = hints_file = None
    if args.hints:
        hp = Path(args.hints)
        if hp.is_dir():
            hints_dir = hp
        elif hp.is_file():
            if len(files) != 1:
                raise CLIError("--hints FILE goes with a single sketch; for several, give a folder of hints named like the sketches")
            hints_file = hp
        else:
            raise CLIError(f"hints not found: {hp}")

    options = {"backend": args.backend, "precision": args.precision, "threads": args.threads}
    if args.max_pixels is not None:
        options["max_pixels"] = args.max_pixels
    colorizer = Colorizer.from_pretrained(args.model, device=args.device, size=args.size, **options)
    jobs = []
    for f, dest in plan_outputs(files, out, single_file, ("_color", "_lines") if args.layers else ()).items():
        hint = hints_file
        if hints_dir is not None:
            cand = [hints_dir / f"{f.stem}{ext}" for ext in (".png", ".webp")]
            hint = next((c for c in cand if c.is_file()), None)
        color_dest, lines_dest = layer_paths(dest) if args.layers else (None, None)
        jobs.append(FileJob(f, dest, hint, color_dest, lines_dest))

    if len(jobs) == 1:  # one file: its error is the command's error
        job = jobs[0]
        failed = colorize_files(colorizer, jobs, workers=1)
        if failed:
            raise failed[0][1]
        if not args.quiet:
            print("\n".join(str(p) for p in (job.dest, job.color_dest, job.lines_dest) if p is not None))
        return 0
    bar = None
    if not args.quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), unit="img", desc="colorize")

    def done(job, err):
        if err is not None:
            msg = f"autopainter: skipped: {err}"
            bar.write(msg, file=sys.stderr) if bar is not None else print(msg, file=sys.stderr)
        if bar is not None:
            bar.update(1)

    try:
        failed = colorize_files(colorizer, jobs, workers=args.jobs, on_done=done)
    finally:
        if bar is not None:
            bar.close()
    if failed:
        print(f"autopainter: error: {len(failed)} of {len(jobs)} images could not be colored", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import missing_dependencies

    missing = missing_dependencies()
    if missing:
        raise CLIError(f"the web app needs {', '.join(missing)}: pip install 'autopainter[serve]'")
    import uvicorn

    from .server import ServerSettings, create_app

    for name in ("max_upload_mb", "max_pixels", "max_in_flight"):
        if not 0 < getattr(args, name) < float("inf"):
            raise CLIError(f"--{name.replace('_', '-')} must be a number > 0, got {getattr(args, name)}")
    settings = ServerSettings(
        model_dir=args.model, device=args.device, size=args.size, max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_pixels=args.max_pixels, max_in_flight=args.max_in_flight, url_allow=tuple(args.allow_url or ()),
        data_dir=args.data_dir,
    )
    app = create_app(settings)  # loads the model first: a missing model is a one-line error, not a dead page
    sock = _listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"
    if host not in ("127.0.0.1", "::1") and not host.startswith("127."):
        print(f"autopainter: warning: listening on {host}: anyone who can reach this machine can use the app", file=sys.stderr)
    print(f"Auto-Painter is running at {url}  (API docs: {url}docs; Ctrl+C stops it)", flush=True)
    config = uvicorn.Config(app, log_level="warning" if args.quiet else "info", access_log=not args.quiet,
                            limit_concurrency=max(64, 16 * args.max_in_flight), timeout_keep_alive=5)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _listen(host: str, port: int):
    """A bound TCP socket, so that a taken port is a one-line error before the server starts."""
    import socket

    if not 0 <= port <= 65535:
        raise CLIError(f"--port must be in 0..65535, got {port}")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror:
        raise CLIError(f"--host {host}: not an address of this machine") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise CLIError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port") from None
    return sock


# --------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from .cli_data import add_data_commands
    from .cli_eval import add_eval_command

    p = argparse.ArgumentParser(prog="autopainter", description="Color line art with a conditional GAN guided by color hints.")
    p.add_argument("--version", action="version", version=f"autopainter {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model on sketch/color pairs", description="Train a model; writes a numbered run folder under runs/.")
    t.add_argument("--config", help="YAML file or preset name: tiny, default, pix2pix, paper (default: default)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. train.epochs=5 (repeatable)")
    t.add_argument("--data", help="dataset folder (same as --set data.path=PATH)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly from its last checkpoint")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export", help="write a run's EMA generator as a model folder",
                       description="Write config.json + fp16 model.safetensors from a run's last checkpoint; with "
                                   "--onnx also model.onnx (RUN_DIR may then be a model folder).")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("-o", "--output", required=True, metavar="MODEL_DIR")
    e.add_argument("--onnx", action="store_true", help="also write model.onnx (dynamic height and width) for ONNX Runtime")
    e.set_defaults(func=cmd_export)

    c = sub.add_parser("colorize", help="color sketches", description="Color sketch images (files or folders); PNGs at each input's size.")
    c.add_argument("inputs", nargs="+", metavar="INPUT", help="sketch image files or folders")
    c.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder, or NAME.png for a single input")
    c.add_argument("--model", metavar="DIR", help="model folder (default: the bundled model)")
    c.add_argument("--hints", metavar="FILE", help="RGBA hint image (transparent except painted colors), or a folder of them named like the sketches")
    c.add_argument("--size", type=int, metavar="PX", help="working resolution, long side in pixels (default: the model's training size)")
    c.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    c.add_argument("--layers", action="store_true", help="also write NAME_color.png (flat colors) and NAME_lines.png (transparent line layer)")
    c.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"),
                   help="auto (= torch), torch, or onnx: ONNX Runtime, needs pip install 'autopainter[onnx]' (default: auto)")
    c.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="torch backend: auto (bf16 on CPUs with AVX-512 BF16 or AMX, else fp32), fp32 or bf16")
    c.add_argument("--max-pixels", type=int, metavar="N", help="largest sketch accepted, width x height in pixels (default: 67108864 = 8192x8192)")
    c.add_argument("--jobs", type=int, metavar="N", help="files colored at once for folders (default: one per core, at most 4)")
    c.add_argument("--threads", type=int, metavar="N", help="CPU threads per generator run (default: half the cores, at most 4)")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_colorize)

    v = sub.add_parser("serve", help="start the web app and REST API",
                       description="Start the web page and REST API (FastAPI + uvicorn); needs pip install 'autopainter[serve]'.")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    v.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    v.add_argument("--model", metavar="DIR", help="model folder (default: the bundled model)")
    v.add_argument("--size", type=int, metavar="PX", help="working resolution, long side in pixels (default: the model's training size)")
    v.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    v.add_argument("--max-upload-mb", type=float, default=20.0, metavar="MB", help="largest request body (default: 20)")
    v.add_argument("--max-pixels", type=int, default=4096 * 4096, metavar="N", help="largest image, width x height (default: 16777216)")
    v.add_argument("--max-in-flight", type=int, default=4, metavar="N", help="requests worked on at once; more get 503 (default: 4)")
    v.add_argument("--allow-url", action="append", metavar="HOST|CIDR", help="a private host or network that image URLs may reach (repeatable)")
    v.add_argument("--data-dir", metavar="DIR", help="where the visitor counter is kept (default: ~/.local/share/autopainter)")
    v.add_argument("-q", "--quiet", action="store_true", help="no request log")
    v.set_defaults(func=cmd_serve)
    add_data_commands(sub)
    add_eval_command(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
    except KeyboardInterrupt:
        print("autopainter: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
