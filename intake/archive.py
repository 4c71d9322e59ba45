"""Unpack an EDI flow upload: one invoice file, or a zip / tar / tar.gz batch of them.

`unpack(content, filename)` never writes to disk and reads every byte through a bound. The
content decides what the upload is, never its name: a zip by its magic (`PK\\x03\\x04`, or
`PK\\x05\\x06` for an empty zip), a gzip by its magic (`1f 8b`, and then it must hold a tar),
a tar by the `ustar` magic of its first header (with a valid header checksum). Anything else
is a single-file flow, returned as is for the pipeline to check (its per-file size limits
apply there, not here).

The whole upload is refused (`Rejection`) when it is empty (`IRR_VIDE_F`), over
`max_upload_bytes` (`IRR_TAILLE_F`), corrupt or truncated (`IRR_SYNTAX`), encrypted
(`IRR_TYPE_F`), a gzip that is not a tar (`IRR_TYPE_F`), holds no file at all (`IRR_VIDE_F`),
or could exhaust memory (`IRR_TAILLE_F`): more than `max_archive_records` records or
`max_archive_entries` files, more than `max_archive_total_bytes` declared in all, a declared
compression ratio over `max_compression_ratio` for a member or for the whole archive. All of
these are decided from the zip central directory / the tar headers, before any member is
extracted. Declared sizes are then never trusted: each member is inflated in chunks and
reading stops as soon as it yields more than it declared (the archive lies, so none of its
figures can be trusted: the whole upload is refused) or the running total passes the limit. A
gzip stream is inflated through the same kind of bound, total and ratio, before tar reads it.

One bad file never blocks the others: these are refused one by one (`Unpacked.refused`) while
the rest are extracted: a file over `max_file_bytes` (`IRR_TAILLE_F`), an empty file
(`IRR_VIDE_F`), a nested archive, an absolute or `..` path, a tar link / device / fifo, a
second file of the same name, a zip compression method other than stored / deflate
(`IRR_TYPE_F`). Directories and macOS junk (`__MACOSX/`, `.DS_Store`, `._*` AppleDouble
files) are skipped silently: no supplier means to send them.
"""
# Long: the zip, gzip and tar readers share the bounds, the member record and the corrupt-
# input handling; apart, each would import most of the others' internals.

from __future__ import annotations

import functools
import gzip
import io
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, NoReturn

from facturier.domain.model import ReasonCode
from facturier.domain.text import shown, text_problem
from facturier.intake.errors import Finding, reject
from facturier.intake.safety import DEFAULT_LIMITS, MB, Limits, check_size

ArchiveKind = Literal["zip", "gzip", "tar"]

# Every read asks for at most this much, so an entry never overshoots its bound by more.
_CHUNK = 64 * 1024

# Below this many uncompressed bytes a high ratio is harmless (the size limits already bound
# it) and common: a few kilobytes of repetitive XML, or a small tar's zero padding, compress
# well beyond 100:1. Above it, no invoice compresses that well; a bomb does.
_RATIO_FLOOR = 1 * MB

# What a tar adds around the bytes of its files: per record a 512-byte header, up to 511
# bytes of padding, and room for a pax / GNU long-name header; at the end, two zero blocks
# padded to a 10 KiB record. A tar within the limits is not bigger than its files plus this
# (a tar with pax headers of kilobytes per file is refused: no tool writes those for invoices).
_TAR_RECORD_OVERHEAD = 4 * 512
_TAR_END_OVERHEAD = 2 * 10240

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_ENCRYPTED = 0x1  # general purpose flag bit 0: traditional PKWARE encryption
_ZIP_STRONG_ENCRYPTION = 0x40  # bit 6: strong encryption

# Zip records, as in the PKWARE APPNOTE (and zipfile's own struct formats).
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL_RECORD = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")

_SEPARATORS = re.compile(r"[/\\]")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Entry:
    """One file of the flow: its path inside the archive (normalised), or the upload's name."""

    name: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class RefusedEntry:
    """A file of the archive that was not extracted, and why."""

    name: str
    finding: Finding


@dataclass(frozen=True)
class Unpacked:
    """The files of a flow, and those of its archive that were refused one by one."""

    entries: tuple[Entry, ...]
    refused: tuple[RefusedEntry, ...]


@dataclass(frozen=True)
class _Member:
    """One record of an archive, as its directory / header declares it, not yet read."""

    name: str  # as stored in the archive
    is_dir: bool
    size: int  # declared uncompressed size
    compressed: int | None  # declared compressed size (zip only)
    unreadable: tuple[str, str] | None  # (rule, why) for a record that is never a file to read
    chunks: Callable[[], Iterator[bytes]] = field(repr=False)


class _CorruptError(Exception):
    """The archive's own structure is broken at some point (turned into IRR_SYNTAX)."""


# What the standard library raises on bytes it cannot make sense of.
_CORRUPT_ERRORS = (
    _CorruptError,
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    struct.error,
    EOFError,
    OSError,  # gzip.BadGzipFile among others
    ValueError,  # UnicodeDecodeError of a zip name flagged UTF-8, among others
    NotImplementedError,  # zipfile: a "version needed to extract" beyond what it knows
)


def is_archive(content: bytes) -> bool:
    """Whether `content` is a zip, a gzip or a tar, by its magic bytes (never by a name)."""
    return _kind(content) is not None


def unpack(content: bytes, filename: str, limits: Limits = DEFAULT_LIMITS) -> Unpacked:
    """The files of an upload; raises `Rejection` when the upload as a whole is refused."""
    check_size(content, limits.max_upload_bytes, "upload")
    kind = _kind(content)
    if kind is None:
        return Unpacked(entries=(Entry(filename, content),), refused=())
    if kind == "zip":
        return _extract(_zip_members(content, limits), limits, compressed_size=len(content))
    if kind == "gzip":
        tar = _gunzip(content, limits)
        if not _is_tar(tar):
            raise reject(
                "INTAKE-ARCHIVE-TYPE",
                "archive",
                "gzip file that does not hold a tar archive: a compressed flow must be a "
                ".tar.gz (or .tgz) of invoice files, or a zip",
                ReasonCode.IRR_TYPE_F,
            )
        # The gzip stream already passed the ratio checks; tar itself compresses nothing.
        return _extract(_tar_members(tar, limits), limits, compressed_size=None)
    return _extract(_tar_members(content, limits), limits, compressed_size=None)


def _kind(content: bytes) -> ArchiveKind | None:
    if content.startswith(_ZIP_MAGICS):
        return "zip"
    if content.startswith(_GZIP_MAGIC):
        return "gzip"
    if _is_tar(content):
        return "tar"
    return None


def _is_tar(content: bytes) -> bool:
    """A ustar / GNU tar: `ustar` at offset 257 of the first header and a valid checksum.

    The checksum makes sure an invoice that merely happens to hold "ustar" at byte 257 is not
    taken for an archive.
    """
    if len(content) < 512 or content[257:262] != b"ustar":
        return False
    checksum = content[148:156].replace(b"\x00", b" ").strip()
    try:
        stored = int(checksum, 8)
    except ValueError:
        return False
    header = content[:148] + b" " * 8 + content[156:512]
    unsigned = sum(header)
    signed = sum(b - 256 if b > 127 else b for b in header)
    return stored in (unsigned, signed)


def _fail(rule: str, location: str, message: str, code: ReasonCode) -> NoReturn:
    """Refuse the whole upload."""
    raise reject(rule, location, message, code)


def _corrupt(location: str, err: BaseException) -> NoReturn:
    detail = str(err) or type(err).__name__
    _fail(
        "INTAKE-ARCHIVE-CORRUPT",
        location,
        f"the archive is corrupt or truncated ({detail})",
        ReasonCode.IRR_SYNTAX,
    )


def _too_many_records(count_text: str, limits: Limits) -> NoReturn:
    _fail(
        "INTAKE-ARCHIVE-ENTRIES",
        "archive",
        f"the archive holds {count_text} records (files, directories and metadata); "
        f"the limit is {limits.max_archive_records:,}",
        ReasonCode.IRR_TAILLE_F,
    )


# --- zip -------------------------------------------------------------------------------------


def _zip_members(content: bytes, limits: Limits) -> list[_Member]:
    """The records of a zip's central directory, checked before anything is inflated."""
    # Count the records ourselves first, stopping past the limit: zipfile builds an object per
    # record, and a 120 MB upload can hold millions of them.
    records = _count_central_records(content, limits.max_archive_records)
    if records is not None and records > limits.max_archive_records:
        _too_many_records(f"more than {limits.max_archive_records:,}", limits)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            infos = archive.infolist()
    except _CORRUPT_ERRORS as err:
        _corrupt("archive", err)
    if len(infos) > limits.max_archive_records:
        _too_many_records(f"{len(infos):,}", limits)
    for info in infos:
        if info.flag_bits & (_ZIP_ENCRYPTED | _ZIP_STRONG_ENCRYPTION):
            _fail(
                "INTAKE-ARCHIVE-ENCRYPTED",
                info.filename,
                "encrypted zip: the platform cannot read encrypted files; send the flow "
                "without a password",
                ReasonCode.IRR_TYPE_F,
            )
    return [_zip_member(content, info) for info in infos]


def _zip_member(content: bytes, info: zipfile.ZipInfo) -> _Member:
    unreadable = None
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # bzip2, lzma, deflate64...: no common tool uses them for invoices, and each is one
        # more decompressor to trust with untrusted bytes (bzip2 bombs inflate far beyond 1000:1).
        unreadable = (
            "INTAKE-ARCHIVE-METHOD",
            f"zip compression method {info.compress_type} is not accepted; use deflate "
            "(the default of every zip tool) or no compression",
        )
    return _Member(
        name=info.filename,
        is_dir=info.filename.endswith("/"),  # ZipInfo.is_dir() fails on an empty name
        size=info.file_size,
        compressed=info.compress_size,
        unreadable=unreadable,
        chunks=functools.partial(_zip_chunks, content, info),
    )


def _count_central_records(content: bytes, cap: int) -> int | None:
    """Central directory records, counted up to `cap` + 1; None if the directory is not found.

    None leaves the verdict to zipfile, which then refuses the archive as corrupt.
    """
    eocd = content.rfind(b"PK\x05\x06", max(0, len(content) - _EOCD.size - 0xFFFF))
    if eocd < 0 or eocd + _EOCD.size > len(content):
        return None
    size: int = _EOCD.unpack_from(content, eocd)[5]
    start = eocd - size
    locator = eocd - _EOCD64_LOCATOR.size
    if locator >= 0 and content.startswith(b"PK\x06\x07", locator):
        record = locator - _EOCD64.size
        if record >= 0 and content.startswith(b"PK\x06\x06", record):
            size = _EOCD64.unpack_from(content, record)[8]
            start = record - size
    if start < 0:
        return None
    count, position, end = 0, start, start + size
    while position + _CENTRAL_RECORD.size <= end and count <= cap:
        if not content.startswith(b"PK\x01\x02", position):
            break
        record_fields = _CENTRAL_RECORD.unpack_from(content, position)
        position += _CENTRAL_RECORD.size + sum(record_fields[12:15])
        count += 1
    return count


def _zip_chunks(content: bytes, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The member's bytes, inflated `_CHUNK` at a time from the upload in memory.

    Read here rather than through `ZipFile.open`, which stops at the declared size: a member
    that inflates to more than its header says must show it, not be silently cut short.
    """
    offset = info.header_offset
    if offset < 0 or offset + _LOCAL_HEADER.size > len(content):
        raise _CorruptError(f"the local header of {info.filename!r} is missing")
    local = _LOCAL_HEADER.unpack_from(content, offset)
    if local[0] != b"PK\x03\x04":
        raise _CorruptError(f"bad local header signature for {info.filename!r}")
    start = offset + _LOCAL_HEADER.size + local[9] + local[10]
    end = start + info.compress_size
    if end > len(content):
        raise _CorruptError(f"the data of {info.filename!r} runs past the end of the upload")
    data = memoryview(content)[start:end]
    crc = 0
    if info.compress_type == zipfile.ZIP_STORED:
        for position in range(0, len(data), _CHUNK):
            piece = bytes(data[position : position + _CHUNK])
            crc = zlib.crc32(piece, crc)
            yield piece
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as zip stores it
        position = 0
        while not inflater.eof:
            if inflater.unconsumed_tail:
                compressed: bytes | memoryview = inflater.unconsumed_tail
            elif position < len(data):
                compressed = data[position : position + _CHUNK]
                position += _CHUNK
            else:
                raise _CorruptError(f"the deflate stream of {info.filename!r} is truncated")
            # max_length bounds what one call may inflate, whatever the compressed bytes say.
            piece = inflater.decompress(compressed, _CHUNK)
            crc = zlib.crc32(piece, crc)
            if piece:
                yield piece
    if crc != info.CRC:
        raise _CorruptError(f"CRC mismatch for {info.filename!r}")


# --- tar and gzip ----------------------------------------------------------------------------


def _gunzip(content: bytes, limits: Limits) -> bytes:
    """Inflate a gzip upload, stopping as soon as it is bigger than any acceptable tar."""
    bound = (
        limits.max_archive_total_bytes
        + limits.max_archive_records * _TAR_RECORD_OVERHEAD
        + _TAR_END_OVERHEAD
    )
    ratio_bound = limits.max_compression_ratio * len(content)
    parts: list[bytes] = []
    total = 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(content)) as stream:
            while piece := stream.read(_CHUNK):
                total += len(piece)
                if total > bound:
                    _fail(
                        "INTAKE-ARCHIVE-BOMB",
                        "archive",
                        f"the gzip stream inflates to more than {bound:,} bytes, more than a "
                        f"tar of {limits.max_archive_total_bytes:,} bytes of files can be",
                        ReasonCode.IRR_TAILLE_F,
                    )
                if total > max(ratio_bound, _RATIO_FLOOR):
                    _fail(
                        "INTAKE-ARCHIVE-BOMB",
                        "archive",
                        f"the gzip stream of {len(content):,} bytes inflates to at least "
                        f"{total:,} bytes: a compression ratio over "
                        f"{limits.max_compression_ratio}:1 (compression bomb)",
                        ReasonCode.IRR_TAILLE_F,
                    )
                parts.append(piece)
    except _CORRUPT_ERRORS as err:
        _corrupt("archive", err)
    return b"".join(parts)


def _tar_members(content: bytes, limits: Limits) -> list[_Member]:
    """The headers of a tar, all read (and counted) before any file is extracted."""
    members: list[_Member] = []
    try:
        # Left open: the members are read from it later, and over BytesIO it holds nothing
        # to release.
        tar = tarfile.open(fileobj=io.BytesIO(content), mode="r:")  # noqa: SIM115
        while (info := tar.next()) is not None:
            if len(members) >= limits.max_archive_records:
                _too_many_records(f"more than {limits.max_archive_records:,}", limits)
            members.append(_tar_member(tar, info))
        # tarfile stops quietly at a damaged or cut header past the first one, and ignores a
        # second archive appended to the first: anything but zero padding left after the last
        # member means files would silently go missing.
        if content.count(0, tar.offset) != len(content) - tar.offset:
            raise _CorruptError(f"unreadable data after byte {tar.offset:,} of the tar")
    except _CORRUPT_ERRORS as err:
        _corrupt("archive", err)
    return members


def _tar_member(tar: tarfile.TarFile, info: tarfile.TarInfo) -> _Member:
    unreadable = None
    if not info.isreg() and not info.isdir():
        # A link points elsewhere (outside the flow, or to another member), a device or fifo
        # is no file: none is an invoice.
        if info.issym():
            what = f"symbolic link (to {info.linkname!r})"
        elif info.islnk():
            what = f"hard link (to {info.linkname!r})"
        elif info.ischr() or info.isblk():
            what = "device file"
        elif info.isfifo():
            what = "named pipe (fifo)"
        else:
            what = f"tar member of type {info.type!r}"
        unreadable = ("INTAKE-ARCHIVE-MEMBER-TYPE", f"{what}: only regular files are accepted")
    return _Member(
        name=info.name,
        is_dir=info.isdir(),
        size=info.size if info.isreg() else 0,
        compressed=None,
        unreadable=unreadable,
        chunks=functools.partial(_tar_chunks, tar, info),
    )


def _tar_chunks(tar: tarfile.TarFile, info: tarfile.TarInfo) -> Iterator[bytes]:
    stream = tar.extractfile(info)
    if stream is None:  # pragma: no cover - only regular files get here
        raise _CorruptError(f"{info.name!r} cannot be read")
    while piece := stream.read(_CHUNK):
        yield piece


# --- both ------------------------------------------------------------------------------------


def _is_junk(name: str) -> bool:
    """macOS metadata: Finder's `.DS_Store`, Archive Utility's `__MACOSX/`, `._*` forks."""
    parts = _SEPARATORS.split(name)
    return "__MACOSX" in parts or parts[-1] == ".DS_Store" or parts[-1].startswith("._")


def _path_problem(name: str) -> str | None:
    """Why a member name is refused as a path, or None."""
    problem = text_problem(name)
    if problem is not None:
        return f"the name {problem}"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "absolute path"
    parts = _SEPARATORS.split(name)
    if ".." in parts:
        return "'..' in the path (path traversal)"
    if not any(part not in ("", ".") for part in parts):
        return "empty name"
    return None


def _normalise(name: str) -> str:
    """`a//b/./c.xml` and `a\\b\\c.xml` both become `a/b/c.xml`."""
    return "/".join(part for part in _SEPARATORS.split(name) if part not in ("", "."))


def _extract(members: Sequence[_Member], limits: Limits, compressed_size: int | None) -> Unpacked:
    """Check the archive as declared, then read its files one by one within the limits."""
    files = [m for m in members if not m.is_dir and not _is_junk(m.name)]
    if len(files) > limits.max_archive_entries:
        _fail(
            "INTAKE-ARCHIVE-ENTRIES",
            "archive",
            f"the archive holds {len(files):,} files; the limit is "
            f"{limits.max_archive_entries:,} per flow",
            ReasonCode.IRR_TAILLE_F,
        )
    ratio = limits.max_compression_ratio
    for member in files:
        if (
            member.compressed is not None
            and member.size > _RATIO_FLOOR
            and member.size > ratio * member.compressed
        ):
            _fail(
                "INTAKE-ARCHIVE-BOMB",
                member.name,
                f"{member.size:,} bytes compressed into {member.compressed:,}: a compression "
                f"ratio over {ratio}:1 (compression bomb)",
                ReasonCode.IRR_TAILLE_F,
            )
    declared = sum(m.size for m in files)
    if compressed_size is not None and declared > max(ratio * compressed_size, _RATIO_FLOOR):
        _fail(
            "INTAKE-ARCHIVE-BOMB",
            "archive",
            f"the archive's {compressed_size:,} bytes declare {declared:,} bytes of files: a "
            f"compression ratio over {ratio}:1 (compression bomb)",
            ReasonCode.IRR_TAILLE_F,
        )
    if declared > limits.max_archive_total_bytes:
        _fail(
            "INTAKE-ARCHIVE-TOTAL",
            "archive",
            f"the archive's files declare {declared:,} bytes in all; the limit is "
            f"{limits.max_archive_total_bytes:,} bytes",
            ReasonCode.IRR_TAILLE_F,
        )
    return _Extraction(limits).run(members)


class _Extraction:
    """Reads the files of an archive whose declared figures passed, trusting none of them."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0  # bytes actually read so far, all files together
        self.seen: set[str] = set()
        self.entries: list[Entry] = []
        self.refused: list[RefusedEntry] = []

    def run(self, members: Sequence[_Member]) -> Unpacked:
        for member in members:
            if not member.is_dir and not _is_junk(member.name):
                self.take(member)
        if not self.entries and not self.refused:
            _fail(
                "INTAKE-ARCHIVE-EMPTY",
                "archive",
                "the archive holds no file (only directories or macOS metadata, or nothing)",
                ReasonCode.IRR_VIDE_F,
            )
        return Unpacked(entries=tuple(self.entries), refused=tuple(self.refused))

    def refuse(self, name: str, rule: str, message: str, code: ReasonCode) -> None:
        self.refused.append(RefusedEntry(name, Finding(rule, name, message, code)))

    def take(self, member: _Member) -> None:
        problem = _path_problem(member.name)
        if problem is not None:
            self.refuse(
                shown(member.name),
                "INTAKE-ARCHIVE-PATH",
                f"{problem}: a file in the archive must have a relative path inside it",
                ReasonCode.IRR_TYPE_F,
            )
            return
        name = _normalise(member.name)
        if name in self.seen:
            # The first one keeps the name, refused or not: two files may not share it.
            self.refuse(
                name,
                "INTAKE-ARCHIVE-DUPLICATE",
                "a second file of the same name in the archive",
                ReasonCode.IRR_TYPE_F,
            )
            return
        self.seen.add(name)
        if member.unreadable is not None:
            rule, message = member.unreadable
            self.refuse(name, rule, message, ReasonCode.IRR_TYPE_F)
            return
        if member.size > self.limits.max_file_bytes:
            self.refuse(
                name,
                "INTAKE-ARCHIVE-ENTRY-SIZE",
                f"the file is {member.size:,} bytes; the limit is "
                f"{self.limits.max_file_bytes:,} bytes per file",
                ReasonCode.IRR_TAILLE_F,
            )
            return
        content = self.read(name, member)
        if not content:
            self.refuse(
                name,
                "INTAKE-ARCHIVE-ENTRY-EMPTY",
                "the file is empty (0 bytes)",
                ReasonCode.IRR_VIDE_F,
            )
        elif is_archive(content):
            self.refuse(
                name,
                "INTAKE-ARCHIVE-NESTED",
                f"the file is itself a {_kind(content)} archive: nested archives are not "
                "accepted, put the invoice files directly in the flow's archive",
                ReasonCode.IRR_TYPE_F,
            )
        else:
            self.entries.append(Entry(name, content))

    def read(self, name: str, member: _Member) -> bytes:
        """The member's bytes, stopping at the first one past what it declared."""
        parts: list[bytes] = []
        count = 0
        try:
            for piece in member.chunks():
                count += len(piece)
                self.total += len(piece)
                # member.size is within max_file_bytes (checked above), so this bounds both.
                if count > member.size:
                    _fail(
                        "INTAKE-ARCHIVE-BOMB",
                        name,
                        f"the file inflates to more than the {member.size:,} bytes its header "
                        "declares: the archive's sizes cannot be trusted",
                        ReasonCode.IRR_TAILLE_F,
                    )
                if self.total > self.limits.max_archive_total_bytes:
                    _fail(
                        "INTAKE-ARCHIVE-TOTAL",
                        name,
                        f"the files read so far exceed {self.limits.max_archive_total_bytes:,} "
                        "bytes in all",
                        ReasonCode.IRR_TAILLE_F,
                    )
                parts.append(piece)
        except _CORRUPT_ERRORS as err:
            _corrupt(name, err)
        if count != member.size:
            _corrupt(name, _CorruptError(f"{count:,} bytes where {member.size:,} are declared"))
        return b"".join(parts)
