"""Getting npm packages safely: the cache folder, npm's error output in one line, the tarball's checksum,
and extraction that refuses paths leaving the target (a tarball is untrusted input).

Used by ``openmoji.fetch_openmoji`` (``npm pack``) and ``characters.install_packages`` (``npm install``, then
``node``), both through ``run_tool``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from . import DatasetBuildError

__all__ = ["default_cache_dir", "npm_error_summary", "check_integrity", "safe_extract", "run_tool"]

INSTALL_HINT = {"npm": "install Node.js and npm (e.g. apt-get install nodejs npm)",
                "node": "install Node.js (e.g. apt-get install nodejs)"}


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/autopainter/npm, or ~/.cache/autopainter/npm."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "autopainter" / "npm"


def npm_error_summary(stderr: str) -> str:
    """The gist of npm's error output: "code: message", e.g. "ECONNREFUSED: request to ... failed"."""
    code, message = "", ""
    for line in stderr.splitlines():
        line = line.strip()
        for prefix in ("npm error ", "npm ERR! "):
            if line.startswith(prefix):
                line = line[len(prefix):].strip()
                break
        else:
            continue
        if line.startswith("code ") and not code:
            code = line[5:].strip()
        elif (line and not message and line.split(" ")[0] not in ("syscall", "errno", "at", "code")
              and not line.startswith(("A complete log", "{", "}"))):
            message = line
    text = ": ".join(x for x in (code, message) if x)
    return text[:200]


def run_tool(cmd: list[str], cwd: Path, timeout: float, what: str, fallback: str = "") -> subprocess.CompletedProcess:
    """Run ``npm`` or ``node`` (``cmd[0]``) in ``cwd``; any failure is a one-line DatasetBuildError that
    names ``what`` was run, why it failed and, with ``fallback``, what to do instead."""
    tool = shutil.which(cmd[0])
    tail = f" ({fallback})" if fallback else ""
    if tool is None:
        raise DatasetBuildError(f"{cmd[0]} not found: {INSTALL_HINT.get(cmd[0], 'install it')} to run {what}{tail}")
    try:
        return subprocess.run([tool, *cmd[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=True,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DatasetBuildError(f"{what} timed out after {timeout:.0f} s: is the npm registry reachable?{tail}") from None
    except subprocess.CalledProcessError as e:
        why = npm_error_summary(e.stderr or "") or (e.stderr or "").strip().splitlines()[-1:] or [f"exit code {e.returncode}"]
        why = why if isinstance(why, str) else why[0]
        raise DatasetBuildError(f"{what} failed ({why[:200]}): check the network and the npm registry{tail}") from None
    except OSError as e:
        raise DatasetBuildError(f"could not run {cmd[0]}: {e}") from None


def check_integrity(tgz: Path, expected: str | None) -> None:
    """Delete ``tgz`` and raise DatasetBuildError unless it matches npm's integrity string ``expected``
    (e.g. "sha512-..."); None checks nothing."""
    if expected is None:
        return
    algo, _, b64 = expected.partition("-")
    digest = base64.b64encode(hashlib.new(algo, tgz.read_bytes()).digest()).decode()
    if digest != b64:
        tgz.unlink(missing_ok=True)  # a damaged download: fetch again next time
        raise DatasetBuildError(f"{tgz} does not match the known {algo} checksum of the package; deleted it, run again")


def safe_extract(tgz: str | Path, dest: str | Path) -> None:
    """Extract regular files and folders of a .tgz into ``dest``; refuse paths that leave ``dest``,
    links and device files (a tarball is untrusted input)."""
    dest = Path(dest).resolve()
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            members = []
            for m in tar.getmembers():
                if not (m.isfile() or m.isdir()):
                    continue  # links, devices, fifos: npm packages need none
                target = (dest / m.name).resolve()
                if m.name.startswith("/") or not target.is_relative_to(dest):
                    raise DatasetBuildError(f"{tgz}: unsafe path in archive: {m.name!r}")
                members.append(m)
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest, members=members, **kwargs)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DatasetBuildError(f"{tgz}: not a readable .tgz ({e})") from None
