"""Files by checksum: the one sha256-of-a-file helper, and remote files (models) fetched once into
a local cache, with a checksum.

    fetch("https://huggingface.co/.../model.bin", sha256="ab12...") -> Path in the cache

The policy, for every remote file (a recipe's model, a shard): it comes with its sha256, or with
`skip`, which trusts the first download and says so (a warning with the sha256 to pin); a remote
file with neither is refused (`UsageError`), and recipes are checked for it when they load
(contracts/recipe.py `PinnedFile`). Every copy is checked each time it is fetched, cache hits too.

- `http://` and `https://` are read with urllib (a URL names one file: globs are refused, there is
  no listing to match them against); every other scheme (`gs://`, `s3://`, ...) with
  Beam's `FileSystems`, imported only then, so that `pip install 'thresher[gcp]'` is all a bucket
  needs and nothing here imports Beam for a local path.
- The cache is `$THRESHER_CACHE/models/<sha256>/<file name>`, `$THRESHER_CACHE` defaulting to
  `$XDG_CACHE_HOME/thresher` or `~/.cache/thresher`: two URLs of the same file share it. With
  `skip`, the sha256 of the first download is recorded in `models/url-<hash of the URL>/<file
  name>.sha256`, and later fetches of that URL check the cached copy against the record.
- A download goes to a temporary file in the cache, is hashed while it streams, and is renamed
  into place only when the checksum matches, so a cached file is always a complete one, and
  workers of one machine racing on the same model never see half a file.
- Cache hits are re-hashed (a file can change after it is cached): ~1 ms for lid.176.ftz (0.9
  MB), ~0.7 s per GB (1.5 GB/s with SHA extensions, from the page cache), once per process where
  the model is loaded once per process (`filters/fasttext_model.py`), less than reading the model.
- Nothing here runs unless the user names a remote path (DESIGN: no network at run time otherwise).
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from thresher.contracts.errors import UsageError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
HTTP_TIMEOUT_S = 60  # per socket operation, not for the whole download
HTTP_SCHEMES = ("http", "https")


# The `sha256` that trusts a remote file's first download instead of a checksum given in advance.
SKIP = "skip"
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class ChecksumError(UsageError):
    """A file whose sha256 is not the one it was pinned to: a wrong pin, a changed remote file or a
    cached copy changed since it was downloaded; reported in one line, like any UsageError."""


def is_sha256(value: str) -> bool:
    """64 hex digits."""
    return bool(_SHA256_HEX.fullmatch(value))


def unpinned(location: str | os.PathLike, sha256: str | None) -> bool:
    """True for a remote file without a sha256 (nor `skip`): the one case the policy refuses."""
    return is_remote(location) and not sha256


def exists(path: str) -> bool:
    """Whether a file is there: locally, or in a bucket through Beam's FileSystems (imported only then)."""
    if not is_remote(path):
        return os.path.exists(path)
    if is_http(path):
        return _http_size(path) is not None
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


def is_remote(path: str | os.PathLike) -> bool:
    """True for `scheme://...` other than `file://`; local paths (also Windows `C:\\...`) are not."""
    path = os.fspath(path)
    return "://" in path and urllib.parse.urlsplit(path).scheme not in ("", "file")


def is_http(path: str | os.PathLike) -> bool:
    return urllib.parse.urlsplit(os.fspath(path)).scheme in HTTP_SCHEMES


def check_no_glob(url: str) -> None:
    """UsageError for a wildcard in an http(s) URL: a web server lists nothing, so a pattern can
    match nothing but itself (Common Crawl's files are named by its paths listings instead). The
    path is checked: `?` starts a URL's query and `[` an IPv6 host."""
    if any(c in urllib.parse.urlsplit(url).path for c in "*?["):
        raise UsageError(
            f"{url!r}: http(s) inputs cannot be globs (a web server has no listing to match against); "
            "name each file, or use --crawl for Common Crawl"
        )


def _http_size(url: str) -> int | None:
    """The size of the file at an http(s) URL (a HEAD request), None when there is none (4xx)."""
    request = urllib.request.Request(url, method="HEAD", headers={"Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return int(response.headers.get("Content-Length") or 0)
    except urllib.error.HTTPError as e:
        if 400 <= e.code < 500:
            return None
        raise


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


def cached_path(url: str, sha256: str) -> Path:
    """Where `fetch` keeps the file of `url` with checksum `sha256` (whether or not it is there yet)."""
    return cache_dir() / "models" / sha256.lower() / _file_name(url)


def _file_name(url: str) -> str:
    return os.path.basename(urllib.parse.urlsplit(url).path) or "file"


def _skip_record(url: str) -> Path:
    """Where the sha256 of `url`'s first download is kept, for a `skip` fetch."""
    return (
        cache_dir()
        / "models"
        / ("url-" + hashlib.sha256(url.encode()).hexdigest()[:32])
        / (_file_name(url) + ".sha256")
    )


def open_file(path: str):
    """A file for reading bytes: local, http(s), or any Beam FileSystems path (gs://, s3://)."""
    if not is_remote(path):
        return open(path, "rb")
    if is_http(path):
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
        if is_http(pattern):
            check_no_glob(pattern)
            matched = [pattern] if _http_size(pattern) is not None else []
        elif is_remote(pattern):
            from apache_beam.io.filesystems import FileSystems

            matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        else:
            matched = [p for p in glob.glob(pattern) if os.path.isfile(p)]
        if not matched:
            raise UsageError(f"--input {pattern!r} matches no files")
        found.update(matched)
    return sorted(found)


def fetch(url: str, sha256: str | None, dest: Path | None = None) -> Path:
    """The local path of `url` (`dest`, or a place in the cache), downloading it the first time,
    its checksum checked every time.

    `sha256` is 64 hex digits: a download that does not match is not kept, a cached copy that no
    longer matches is not used (`ChecksumError` either way). `SKIP` trusts the first download: its
    sha256 is logged as a warning and recorded, and later fetches check the cached copy against the
    record. None is refused (`UsageError`). `dest` (shard sets) needs a sha256.
    """
    if not sha256:
        raise UsageError(
            f"{url}: a remote file needs its sha256 to be checked against, or {SKIP!r} to trust its first download"
        )
    if sha256 != SKIP and not is_sha256(sha256):
        raise UsageError(f"{url}: sha256 {sha256!r} is neither 64 hex digits nor {SKIP!r}")
    if sha256 == SKIP:
        if dest is not None:
            raise ValueError("fetch into a given dest needs a sha256")
        return _fetch_unpinned(url)
    expected = sha256.lower()
    dest = dest or cached_path(url, expected)
    if dest.is_file():
        _check_cached(dest, expected, url)
    else:
        _download(url, dest, expected)  # hashed as it streams
    return dest


def _fetch_unpinned(url: str) -> Path:
    record = _skip_record(url)
    recorded = record.read_text().strip() if record.is_file() else ""
    if is_sha256(recorded) and cached_path(url, recorded).is_file():
        dest = cached_path(url, recorded)
        _check_cached(dest, recorded, url)
        log.warning(
            "%s: unpinned (sha256: %s), using the copy cached at its first download, sha256 %s", url, SKIP, recorded
        )
        return dest
    tmp, actual, size = _stream_to_temp(url, cache_dir() / "models")
    dest = cached_path(url, actual)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
    except BaseException:
        os.unlink(tmp)
        raise
    record.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=record.parent, prefix=".part-", delete=False) as fh:
        fh.write(actual + "\n")
    os.replace(fh.name, record)  # the record names a complete file, or is not there
    log.warning(
        "fetched %s (%d bytes) into %s without a checksum (sha256: %s): its sha256 is %s, pin it",
        url,
        size,
        dest,
        SKIP,
        actual,
    )
    return dest


def _check_cached(path: Path, expected: str, url: str) -> None:
    actual = file_sha256(path)
    if actual != expected:
        raise ChecksumError(
            f"{path} (from {url}) has sha256 {actual}, expected {expected}: it changed after it was downloaded; delete it to download it again"
        )


def _download(url: str, dest: Path, expected: str) -> None:
    """`url` into `dest`, only if its sha256 is `expected` (ChecksumError otherwise, nothing kept)."""
    tmp, actual, size = _stream_to_temp(url, dest.parent)
    try:
        if actual != expected:
            raise ChecksumError(f"sha256 of {url} is {actual}, expected {expected}")
        os.replace(tmp, dest)
    except BaseException:
        os.unlink(tmp)
        raise
    log.warning("fetched %s (%d bytes, sha256 %s) into %s", url, size, actual, dest)


def _stream_to_temp(url: str, folder: Path) -> tuple[str, str, int]:
    """`url` into a temporary file in `folder`, hashed as it streams: (path, sha256, bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    tmp = tempfile.NamedTemporaryFile(dir=folder, prefix=".part-", delete=False)
    try:
        with tmp, open_file(url) as src:
            while chunk := src.read(CHUNK_BYTES):
                digest.update(chunk)
                tmp.write(chunk)
                size += len(chunk)
    except BaseException:
        os.unlink(tmp.name)
        raise
    return tmp.name, digest.hexdigest(), size
