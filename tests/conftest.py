import functools
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.contracts.schema import DOCUMENT_SCHEMA

# ../shared/data beside the repository: real public web data (see its MANIFEST.md). CI has it at
# the same place; tests that need it skip with this message where it is absent.
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def need_data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (see ../shared/data/MANIFEST.md)")
    return path


def write_curated(path: Path, ids: list[str], texts: list[str]) -> Path:
    """A curated Parquet file (contract 1) with only id and text filled in."""
    columns = {field.name: pa.nulls(len(ids), field.type) for field in DOCUMENT_SCHEMA}
    columns["id"] = pa.array(ids, pa.string())
    columns["text"] = pa.array(texts, pa.string())
    pq.write_table(pa.table(columns, schema=DOCUMENT_SCHEMA), path)
    return path


def run_cli(verb: str, argv) -> int:
    """`thresher <verb> ARGV...` through the one command tree, as a user types it."""
    from thresher.cli import main

    return main([*verb.split(), *map(str, argv)])


@pytest.fixture(scope="session")
def testfs(tmp_path_factory) -> Path:
    """A remote filesystem for tests: `testfs://X` is `<this folder>/X`, registered with Beam's
    FileSystems, which every remote path (gs://, s3://) goes through; in this process only, so
    the pipelines that use it run on one in-process worker."""
    root = tmp_path_factory.mktemp("testfs")
    _REGISTERED.append(_register_testfs(root))  # Beam finds filesystems by subclass: keep it alive
    return root


_REGISTERED: list = []


def _register_testfs(root: Path):
    from apache_beam.io.filesystem import FileMetadata, MatchResult
    from apache_beam.io.localfilesystem import LocalFileSystem

    prefix = "testfs://"

    def local(path: str) -> str:
        return str(root / path[len(prefix) :]) if path.startswith(prefix) else path

    def remote(path: str) -> str:
        return prefix + str(Path(path).relative_to(root))

    class TestFS(LocalFileSystem):
        @classmethod
        def scheme(cls):
            return "testfs"

        def join(self, base, *paths):
            return "/".join([base.rstrip("/"), *(p.strip("/") for p in paths)])

        def split(self, path):
            head, _, tail = path.rstrip("/").rpartition("/")
            return head, tail

        def mkdirs(self, path):
            super().mkdirs(local(path))

        def match(self, patterns, limits=None):
            results = super().match([local(p) for p in patterns], limits)
            return [
                MatchResult(
                    p,
                    [FileMetadata(remote(m.path), m.size_in_bytes, m.last_updated_in_seconds) for m in r.metadata_list],
                )
                for p, r in zip(patterns, results)
            ]

        def create(self, path, *args, **kwargs):
            return super().create(local(path), *args, **kwargs)

        def open(self, path, *args, **kwargs):
            return super().open(local(path), *args, **kwargs)

        def copy(self, sources, destinations):
            super().copy([local(p) for p in sources], [local(p) for p in destinations])

        def rename(self, sources, destinations):
            super().rename([local(p) for p in sources], [local(p) for p in destinations])

        def exists(self, path):
            return super().exists(local(path))

        def size(self, path):
            return super().size(local(path))

        def delete(self, paths):
            import shutil

            for path in map(local, paths):
                shutil.rmtree(path) if Path(path).is_dir() else Path(path).unlink()

    return TestFS


@contextmanager
def serve_folder(root: Path):
    """A threaded HTTP server on 127.0.0.1 serving `root`: (base URL, GET requests per path)."""
    requests: dict[str, int] = {}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests[self.path] = requests.get(self.path, 0) + 1
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
