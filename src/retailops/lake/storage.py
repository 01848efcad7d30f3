"""The lake root as a filesystem: a local folder or an S3 bucket, through fsspec.

Writes are whole-object and atomic: locally a temporary file is renamed into place (with the
mode the umask gives any new file; a killed writer's leftovers are removed by the next write in
that folder), on S3 a single PUT either lands the whole object or nothing. Failures to reach or
write the root are turned into ``LakeUnavailableError`` with the path in the message.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import tempfile
from typing import Any, Mapping, Sequence

import fsspec

from retailops.errors import LakeUnavailableError


_TMP_PREFIX, _TMP_SUFFIX = ".tmp-", ".part"
# ``Lake.digest`` reads this much at a time; a first line is kept up to FIRST_LINE_LIMIT bytes
# (a header; a file without a newline is not held whole).
DIGEST_CHUNK = 4 << 20
FIRST_LINE_LIMIT = 1 << 16


def as_pieces(data: bytes | Sequence[bytes | memoryview]) -> list[bytes | memoryview]:
    """``Lake.write_bytes``' data as its pieces in order (bytes alone are one piece)."""
    return [data] if isinstance(data, (bytes, bytearray, memoryview)) else list(data)


def _is_s3(root: str) -> bool:
    return root.startswith(("s3://", "s3a://"))


def _file_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the process's umask.

    ``tempfile.mkstemp`` always creates 0600; lake files must be readable the way the operator's
    umask says (0644 under 022), like any other file the user writes. The umask can only be
    read by setting it, so it is set back at once.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _remove_stale_temporaries(folder: str) -> None:
    """Remove temporary files a killed writer left in a folder (SIGKILL skips the clean-up in
    ``write_bytes``). Each lake folder has one writer at a time (the ingest run), so any
    temporary file still there once our own was renamed belongs to a dead process."""
    try:
        with os.scandir(folder) as entries:
            stale = [e.path for e in entries
                     if e.name.startswith(_TMP_PREFIX) and e.name.endswith(_TMP_SUFFIX)]
    except OSError:
        return
    for path in stale:
        try:
            os.unlink(path)
        except OSError:
            pass  # already gone


class Lake:
    """One lake root, with helpers that take paths relative to it."""

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None):
        self.root = root.rstrip("/")
        self.is_s3 = _is_s3(self.root)
        if not self.is_s3:
            self.root = os.path.abspath(self.root)
        self.storage_options = dict(storage_options or {})
        protocol = "s3" if self.is_s3 else "file"
        self.fs = fsspec.filesystem(protocol, **self.storage_options)

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    def url(self, relative: str) -> str:
        """Full path (or s3:// URL) of a lake-relative path."""
        return f"{self.root}/{relative}"

    def _fail(self, action: str, relative: str, exc: BaseException) -> LakeUnavailableError:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return LakeUnavailableError(f"cannot {action} {self.url(relative)}: {reason}")

    def check_writable(self) -> None:
        """Fail early, with one line, when the root cannot be written (before any work)."""
        probe = f"metadata/.write-probe-{os.getpid()}"
        try:
            if self.is_s3:
                # No probe object on S3: with versioning it would leave delete markers behind.
                # ls, not exists(): s3fs's exists() answers False for an unreachable endpoint
                # or missing credentials, which would be reported as a missing bucket.
                bucket = self.root.split("://", 1)[1].split("/", 1)[0]
                try:
                    self.fs.ls(bucket, refresh=True)
                except FileNotFoundError:
                    raise FileNotFoundError(
                        errno.ENOENT, f"bucket {bucket} does not exist") from None
                return
            self.write_bytes(probe, b"")
            self.fs.rm(self.url(probe))
        except LakeUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure here means "cannot write"
            raise self._fail("write to the lake at", "", exc) from exc

    def exists(self, relative: str) -> bool:
        try:
            return bool(self.fs.exists(self.url(relative)))
        except Exception as exc:  # noqa: BLE001
            raise self._fail("read", relative, exc) from exc

    def read_bytes(self, relative: str) -> bytes:
        try:
            return self.fs.cat_file(self.url(relative))
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._fail("read", relative, exc) from exc

    def digest(self, relative: str) -> tuple[str, bytes]:
        """The sha256 of an object's bytes and its first line (without the newline), read in
        ``DIGEST_CHUNK`` pieces into one reused buffer: a scale-16 day's sales file (~89 MB)
        read whole was a fresh allocation every time (~22K page faults, 0.03-0.05 s of a
        daily run's verification) and held in memory while it was hashed."""
        found = hashlib.sha256()
        buffer = bytearray(DIGEST_CHUNK)
        view = memoryview(buffer)
        first_line: bytes | None = None
        line = bytearray()
        try:
            with (self.fs.open(self.url(relative), "rb") if self.is_s3
                  else open(self.url(relative), "rb", buffering=0)) as handle:
                while True:
                    size = handle.readinto(buffer)
                    if not size:
                        break
                    found.update(view[:size])
                    if first_line is None:
                        end = buffer.find(b"\n", 0, size)
                        line += view[:size if end < 0 else end]
                        if end >= 0 or len(line) >= FIRST_LINE_LIMIT:
                            first_line = bytes(line[:FIRST_LINE_LIMIT])
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._fail("read", relative, exc) from exc
        return found.hexdigest(), bytes(line) if first_line is None else first_line

    def list_partitions(self, relative_folder: str) -> list[str]:
        """Names of the immediate sub-folders (e.g. ``dt=2024-07-01``) of a folder."""
        try:
            entries = self.fs.ls(self.url(relative_folder), detail=True, refresh=True)
        except FileNotFoundError:
            return []
        except Exception as exc:  # noqa: BLE001
            raise self._fail("list", relative_folder, exc) from exc
        return sorted(posixpath.basename(e["name"].rstrip("/")) for e in entries
                      if e.get("type") == "directory")

    def find(self, relative_folder: str) -> list[str]:
        """Every file below a folder (one listing call), as lake-relative paths."""
        try:
            found = self.fs.find(self.url(relative_folder))
        except FileNotFoundError:
            return []
        except Exception as exc:  # noqa: BLE001
            raise self._fail("list", relative_folder, exc) from exc
        prefix = self.root.split("://", 1)[-1].rstrip("/") + "/"
        return sorted(p.split(prefix, 1)[-1] for p in found)

    def sizes(self, relative_folder: str) -> dict[str, int]:
        """Every file below a folder with its size in bytes (one listing call, no reads)."""
        try:
            found = self.fs.find(self.url(relative_folder), detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:  # noqa: BLE001
            raise self._fail("list", relative_folder, exc) from exc
        prefix = self.root.split("://", 1)[-1].rstrip("/") + "/"
        return {path.split(prefix, 1)[-1]: int(info.get("size") or 0)
                for path, info in found.items() if info.get("type", "file") == "file"}

    def read_many(self, relatives: list[str]) -> dict[str, bytes | None]:
        """The bytes of many small objects, None for the missing ones. On S3 the GETs run
        concurrently (s3fs batches them), so reading every manifest stays a matter of seconds."""
        if not relatives:
            return {}
        urls = {self.url(r): r for r in relatives}
        try:
            found = self.fs.cat(list(urls), on_error="return")
        except Exception as exc:  # noqa: BLE001
            raise self._fail("read", relatives[0].rsplit("/", 3)[0], exc) from exc
        # fsspec returns the errors it caught (a manifest not written yet is a
        # FileNotFoundError); their tracebacks hold fsspec's frames, which reach back through
        # this frame (holding them in `found`) to every caller and its locals: a reference
        # cycle that kept each landed day's whole batch alive until the cyclic collector ran,
        # which the CLI's high thresholds (cli.RUN_GC_THRESHOLDS) all but never do. A year at
        # scale 16 grew the landing by ~140 MB a day until the kernel killed it at 22 GB.
        for value in found.values():
            if isinstance(value, BaseException):
                value.__traceback__ = None
        out: dict[str, bytes | None] = {}
        for url, relative in urls.items():
            value = found.get(url, found.get(url.split("://", 1)[-1]))
            if isinstance(value, FileNotFoundError) or value is None:
                out[relative] = None
            elif isinstance(value, BaseException):
                raise self._fail("read", relative, value)
            else:
                out[relative] = value
        return out

    def write_bytes(self, relative: str, data: bytes | Sequence[bytes | memoryview],
                    metadata: Mapping[str, str] | None = None) -> None:
        """Write a whole object atomically (readers see the old bytes or the new, never half).
        ``data``: the bytes, or pieces written one after the other (a landed day's CSV as it
        was encoded, not joined into one more copy first)."""
        url = self.url(relative)
        pieces = as_pieces(data)
        try:
            if self.is_s3:
                extra = {"Metadata": dict(metadata)} if metadata else {}
                self.fs.pipe_file(url, pieces[0] if len(pieces) == 1 else b"".join(pieces),
                                  **extra)
                return
            folder = os.path.dirname(url)
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX)
            try:
                os.fchmod(fd, _file_mode())
                with os.fdopen(fd, "wb") as handle:
                    for piece in pieces:
                        handle.write(piece)
                os.replace(tmp, url)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            _remove_stale_temporaries(folder)
        except Exception as exc:  # noqa: BLE001
            raise self._fail("write", relative, exc) from exc

    def remove(self, relative: str) -> None:
        try:
            if self.fs.exists(self.url(relative)):
                self.fs.rm(self.url(relative))
        except Exception as exc:  # noqa: BLE001
            raise self._fail("remove", relative, exc) from exc

    def remove_folder(self, relative: str) -> None:
        """Remove a folder left empty (locally; S3 has no folders to remove)."""
        if self.is_s3:
            return
        try:
            os.rmdir(self.url(relative))
        except OSError:
            pass  # not empty, or already gone: nothing to tidy
