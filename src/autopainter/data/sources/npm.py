"""Getting npm packages safely: the cache folder, npm's error output in one line, the tarball's checksum,
and extraction that refuses paths leaving the target (a tarball is untrusted input).

Used by ``openmoji.fetch_openmoji``, which runs ``npm pack`` itself.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tarfile
from pathlib import Path

from . import DatasetBuildError

__all__ = ["default_cache_dir", "npm_error_summary", "check_integrity", "safe_extract"]


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
