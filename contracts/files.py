"""Files by checksum: the one sha256-of-a-file helper, and remote files (models) fetched once into
a local cache, with a checksum.

    fetch("https://huggingface.co/.../model.bin", sha256="ab12...") -> Path in the cache

- `http://` and `https://` are read with urllib; every other scheme (`gs://`, `s3://`, ...) with
  Beam's `FileSystems`, imported only then, so that `pip install 'thresher[gcp]'` is all a bucket
  needs and nothing here imports Beam for a local path.
- The cache is `$THRESHER_CACHE/models/<key>/<file name>`, `$THRESHER_CACHE` defaulting to
  `$XDG_CACHE_HOME/thresher` or `~/.cache/thresher`. `<key>` is the expected sha256 when the user
  gives one (two URLs of the same file share it), otherwise `url-` + a hash of the URL.
- A download goes to a temporary file beside its destination, is hashed while it streams, and is
  renamed into place only when the checksum matches, so a cached file is always a complete,
  verified one, and workers of one machine racing on the same model never see half a file. Cache
  hits are not re-hashed: a 7 GB model would cost ~20 s per process.
- Nothing here runs unless the user names a remote path (DESIGN: no network at run time otherwise).
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from thresher.contracts.errors import UsageError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
HTTP_TIMEOUT_S = 60  # per socket operation, not for the whole download


class ChecksumError(ValueError):
    pass


def is_remote(path: str | os.PathLike) -> bool:
    """True for `scheme://...` other than `file://`; local paths (also Windows `C:\\...`) are not."""
    path = os.fspath(path)
    return "://" in path and urllib.parse.urlsplit(path).scheme not in ("", "file")


def cache_dir() -> Path:
    root = os.environ.get("THRESHER_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "thresher")
    return Path(root)


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, sha256: str) -> None:
    actual = file_sha256(path)
    if actual != sha256.lower():
        raise ChecksumError(f"sha256 of {path} is {actual}, expected {sha256.lower()}")


def cached_path(url: str, sha256: str | None = None) -> Path:
    """Where `fetch` keeps `url` (whether or not it is there yet)."""
    key = sha256.lower() if sha256 else "url-" + hashlib.sha256(url.encode()).hexdigest()[:32]
    name = os.path.basename(urllib.parse.urlsplit(url).path) or "file"
    return cache_dir() / "models" / key / name


def open_file(path: str):
    """A file for reading bytes: local, http(s), or any Beam FileSystems path (gs://, s3://)."""
    if not is_remote(path):
        return open(path, "rb")
    if urllib.parse.urlsplit(path).scheme in ("http", "https"):
        return urllib.request.urlopen(path, timeout=HTTP_TIMEOUT_S)
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    # UNCOMPRESSED: FileSystems would otherwise gunzip a `.gz` name, and the checksum is of the bytes.
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def match_files(patterns: str | os.PathLike | list) -> list[str]:
    """Every file a glob, path, or list of either names, sorted; local or remote (Beam's
    FileSystems). UsageError for a pattern that matches nothing."""
    found = set()
    for pattern in [patterns] if isinstance(patterns, (str, os.PathLike)) else patterns:
        pattern = os.fspath(pattern)
        if is_remote(pattern):
            from apache_beam.io.filesystems import FileSystems

            matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        else:
            matched = [p for p in glob.glob(pattern) if os.path.isfile(p)]
        if not matched:
            raise UsageError(f"--input {pattern!r} matches no files")
        found.update(matched)
    return sorted(found)


def fetch(url: str, sha256: str | None = None, dest: Path | None = None) -> Path:
    """The local path of `url` (`dest`, or a place in the cache), downloading it the first time.

    With `sha256`, the download must match it (`ChecksumError` otherwise, and nothing is kept).
    Without, the file is cached under a hash of the URL and its sha256 is logged, to be pinned.
    """
    dest = dest or cached_path(url, sha256)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    tmp = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".part-", delete=False)
    try:
        with tmp, open_file(url) as src:
            while chunk := src.read(CHUNK_BYTES):
                digest.update(chunk)
                tmp.write(chunk)
                size += len(chunk)
        actual = digest.hexdigest()
        if sha256 and actual != sha256.lower():
            raise ChecksumError(f"sha256 of {url} is {actual}, expected {sha256.lower()}")
        os.replace(tmp.name, dest)
    except BaseException:
        os.unlink(tmp.name)
        raise
    log.warning(
        "fetched %s (%d bytes, sha256 %s) into %s%s",
        url,
        size,
        actual,
        dest,
        "" if sha256 else "; pass this sha256 to pin the file",
    )
    return dest
