"""Flow uploads: single files pass through, zip / tar / tar.gz batches are unpacked within the
limits, hostile archives are refused with coded findings. Every archive is built in memory."""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import random
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Callable

import pytest

from facturier.domain.model import ReasonCode
from facturier.intake.archive import Entry, Unpacked, is_archive, unpack
from facturier.intake.errors import Rejection
from facturier.intake.safety import MB, Limits

XML = b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoice>' + b"<Note>x</Note>" * 40 + b"</Invoice>"
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 20 + b"%%EOF\n"

Members = list[tuple[str, bytes]]
Build = Callable[[Members], bytes]


def _zip(members: Members, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on a duplicate name, which we want
        with zipfile.ZipFile(buffer, "w", method) as archive:
            for name, content in members:
                archive.writestr(zipfile.ZipInfo(name), content, compress_type=method)
    return buffer.getvalue()


def _tar(members: Members, mode: str = "w", special: list[tarfile.TarInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, format=tarfile.PAX_FORMAT) as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
        for info in special or []:
            archive.addfile(info)
    return buffer.getvalue()


def _targz(members: Members, special: list[tarfile.TarInfo] | None = None) -> bytes:
    return _tar(members, "w:gz", special)


def _rejected(content: bytes, limits: Limits | None = None) -> Rejection:
    with pytest.raises(Rejection) as caught:
        if limits is None:
            unpack(content, "flow")
        else:
            unpack(content, "flow", limits)
    return caught.value


def _names(unpacked: Unpacked) -> list[str]:
    return [entry.name for entry in unpacked.entries]


def _refused(unpacked: Unpacked) -> dict[str, tuple[ReasonCode, str]]:
    return {r.name: (r.finding.reason_code, r.finding.rule) for r in unpacked.refused}


def _central(archive: bytes, index: int = 0) -> int:
    """Offset of the `index`-th central directory record of a zip."""
    position = -1
    for _ in range(index + 1):
        position = archive.index(b"PK\x01\x02", position + 1)
    return position


def _patch(archive: bytes, offset: int, fmt: str, value: int) -> bytes:
    patched = bytearray(archive)
    struct.pack_into(fmt, patched, offset, value)
    return bytes(patched)


@functools.cache
def _zeros_zip() -> bytes:
    """50 MB of zeros deflated into about 50 KB: a ratio of about 1000:1."""
    return _zip([("bomb.xml", bytes(50 * MB))])


# --- single files ----------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "filename"), [(XML, "f.xml"), (PDF, "f.pdf")])
def test_single_file_passes_through(content: bytes, filename: str) -> None:
    assert unpack(content, filename) == Unpacked(entries=(Entry(filename, content),), refused=())


def test_the_content_decides_not_the_name() -> None:
    assert _names(unpack(XML, "flow.zip")) == ["flow.zip"]
    assert _names(unpack(_zip([("a.xml", XML)]), "invoice.xml")) == ["a.xml"]


def test_is_archive_by_magic() -> None:
    assert is_archive(_zip([("a.xml", XML)]))
    assert is_archive(_zip([]))  # an empty zip is just its end record, PK\x05\x06
    assert is_archive(_targz([("a.xml", XML)]))
    assert is_archive(_tar([("a.xml", XML)]))
    assert not is_archive(XML)
    assert not is_archive(PDF)
    # "ustar" at offset 257 alone is not enough: the tar header checksum must hold too.
    assert not is_archive(XML[:257].ljust(257) + b"ustar" + b" " * 300)


def test_empty_upload_is_refused() -> None:
    rejection = _rejected(b"")
    assert rejection.reason_code is ReasonCode.IRR_VIDE_F


def test_upload_over_the_limit_is_refused() -> None:
    rejection = _rejected(_zip([("a.xml", XML)]), Limits(max_upload_bytes=100))
    assert rejection.reason_code is ReasonCode.IRR_TAILLE_F
    assert "100 bytes" in rejection.errors[0].message


# --- batches ---------------------------------------------------------------------------------


def test_zip_with_three_entries() -> None:
    members = [("a.xml", XML), ("b.pdf", PDF), ("sub/c.xml", XML + b"\n")]
    unpacked = unpack(_zip(members), "flow.zip")
    assert unpacked.entries == tuple(Entry(name, content) for name, content in members)
    assert unpacked.refused == ()


def test_stored_zip() -> None:
    unpacked = unpack(_zip([("a.xml", XML), ("b.pdf", PDF)], zipfile.ZIP_STORED), "flow.zip")
    assert [e.content for e in unpacked.entries] == [XML, PDF]


@pytest.mark.parametrize("build", [_tar, _targz], ids=["tar", "tar.gz"])
def test_tar_and_tar_gz(build: Build) -> None:
    members = [("a.xml", XML), ("dir/b.pdf", PDF)]
    unpacked = unpack(build(members), "flow.tgz")
    assert unpacked.entries == tuple(Entry(name, content) for name, content in members)
    assert unpacked.refused == ()


def test_directories_and_macos_junk_are_skipped() -> None:
    members = [
        ("batch/", b""),
        ("batch/a.xml", XML),
        ("__MACOSX/", b""),
        ("__MACOSX/batch/._a.xml", b"\x00\x05\x16\x07junk"),
        ("batch/.DS_Store", b"\x00\x00\x00\x01Bud1"),
        ("batch/._b.xml", b"\x00\x05\x16\x07junk"),
    ]
    for archive in (_zip(members), _tar(members), _targz(members)):
        unpacked = unpack(archive, "flow")
        assert _names(unpacked) == ["batch/a.xml"]
        assert unpacked.refused == ()


def test_names_are_normalised() -> None:
    unpacked = unpack(_zip([("./a//b/./c.xml", XML), ("d\\e.xml", XML)]), "flow.zip")
    assert _names(unpacked) == ["a/b/c.xml", "d/e.xml"]


def test_archive_without_files_is_refused() -> None:
    for archive in (_zip([]), _zip([("only/", b""), (".DS_Store", b"junk")])):
        rejection = _rejected(archive)
        assert rejection.reason_code is ReasonCode.IRR_VIDE_F
        assert rejection.rules == {"INTAKE-ARCHIVE-EMPTY"}


# --- whole-upload limits, checked before extracting ------------------------------------------


@pytest.mark.parametrize("build", [_zip, _tar, _targz], ids=["zip", "tar", "tar.gz"])
def test_too_many_entries(build: Build) -> None:
    archive = build([(f"{i}.xml", XML) for i in range(3)])
    rejection = _rejected(archive, Limits(max_archive_entries=2))
    assert rejection.reason_code is ReasonCode.IRR_TAILLE_F
    assert rejection.rules == {"INTAKE-ARCHIVE-ENTRIES"}
    assert "3 files; the limit is 2" in rejection.errors[0].message
    # Directories and junk do not count toward the limit on files.
    archive = build([("d/", b""), ("d/1.xml", XML), ("d/2.xml", XML)])
    assert _names(unpack(archive, "f", Limits(max_archive_entries=2))) == ["d/1.xml", "d/2.xml"]


@pytest.mark.parametrize("build", [_zip, _tar], ids=["zip", "tar"])
def test_too_many_records_of_any_kind(build: Build) -> None:
    archive = build([(f"d{i}/", b"") for i in range(10)] + [("a.xml", XML)])
    rejection = _rejected(archive, Limits(max_archive_records=5))
    assert rejection.reason_code is ReasonCode.IRR_TAILLE_F
    assert rejection.rules == {"INTAKE-ARCHIVE-ENTRIES"}


def test_declared_total_too_large() -> None:
    archive = _zip([("a.xml", XML), ("b.xml", XML)])
    rejection = _rejected(archive, Limits(max_archive_total_bytes=len(XML) + 10))
    assert rejection.reason_code is ReasonCode.IRR_TAILLE_F
    assert rejection.rules == {"INTAKE-ARCHIVE-TOTAL"}
    assert f"{2 * len(XML):,} bytes" in rejection.errors[0].message


def test_zip_bomb_is_caught_by_its_declared_ratio() -> None:
    rejection = _rejected(_zeros_zip())
    assert rejection.reason_code is ReasonCode.IRR_TAILLE_F
    assert rejection.rules == {"INTAKE-ARCHIVE-BOMB"}
    assert rejection.errors[0].location == "bomb.xml"
    assert "52,428,800 bytes" in rejection.errors[0].message


def test_many_small_bombs_are_caught_by_the_overall_ratio() -> None:
    # Each member stays under the 1 MB below which a ratio is not judged; all together they
    # still inflate 1000:1.
    archive = _zip([(f"{i}.xml", bytes(MB)) for i in range(5)])
    rejection = _rejected(archive)
    assert rejection.rules == {"INTAKE-ARCHIVE-BOMB"}
    assert rejection.errors[0].location == "archive"


def test_zip_lying_small_about_its_size_stops_at_the_declared_size() -> None:
    # The central directory says 100 bytes (so the ratio looks harmless); the data inflates
    # to 50 MB. Reading stops at the first chunk past 100 bytes.
    archive = _zeros_zip()
    archive = _patch(archive, _central(archive) + 24, "<L", 100)
    rejection = _rejected(archive)
    assert rejection.reason_code is ReasonCode.IRR_TAILLE_F
    assert rejection.rules == {"INTAKE-ARCHIVE-BOMB"}
    assert rejection.errors[0].location == "bomb.xml"
    assert "more than the 100 bytes its header declares" in rejection.errors[0].message


def test_zip_lying_big_about_its_size_is_corrupt() -> None:
    archive = _zip([("a.xml", XML), ("b.xml", XML)])
    archive = _patch(archive, _central(archive) + 24, "<L", len(XML) + 500)
    rejection = _rejected(archive)
    assert rejection.reason_code is ReasonCode.IRR_SYNTAX
    assert rejection.rules == {"INTAKE-ARCHIVE-CORRUPT"}
    assert rejection.errors[0].location == "a.xml"


def test_zip_with_a_bad_crc_is_corrupt() -> None:
    archive = _zip([("a.xml", XML)])
    archive = _patch(archive, _central(archive) + 16, "<L", 0xDEADBEEF)
    rejection = _rejected(archive)
    assert rejection.reason_code is ReasonCode.IRR_SYNTAX
    assert "CRC" in rejection.errors[0].message


def test_gzip_bomb_is_bounded() -> None:
    # 20 MB of zeros in a tar.gz of about 20 KB: inflation stops at 100 times the upload.
    archive = _targz([("bomb.xml", bytes(20 * MB))])
    rejection = _rejected(archive)
    assert rejection.reason_code is ReasonCode.IRR_TAILLE_F
    assert rejection.rules == {"INTAKE-ARCHIVE-BOMB"}
    # Without the ratio, the total limit still bounds the stream.
    rejection = _rejected(archive, Limits(max_compression_ratio=10_000, max_archive_total_bytes=MB))
    assert rejection.rules == {"INTAKE-ARCHIVE-BOMB"}
    assert "more than a tar of 1,048,576 bytes" in rejection.errors[0].message


def test_encrypted_zip_is_refused() -> None:
    archive = _zip([("a.xml", XML)])
    archive = _patch(archive, 6, "<H", 0x1)  # local header flags
    archive = _patch(archive, _central(archive) + 8, "<H", 0x1)  # central directory flags
    rejection = _rejected(archive)
    assert rejection.reason_code is ReasonCode.IRR_TYPE_F
    assert rejection.rules == {"INTAKE-ARCHIVE-ENCRYPTED"}


@pytest.mark.parametrize("build", [_zip, _targz, _tar], ids=["zip", "tar.gz", "tar"])
def test_truncated_archive_is_corrupt(build: Build) -> None:
    archive = build([("a.xml", XML * 20), ("b.xml", PDF * 20)])
    rejection = _rejected(archive[: len(archive) // 2])
    assert rejection.reason_code is ReasonCode.IRR_SYNTAX
    assert rejection.rules == {"INTAKE-ARCHIVE-CORRUPT"}


def test_tar_with_data_after_its_end_is_corrupt() -> None:
    # tarfile alone would stop at the first archive's end and drop b.xml without a word.
    rejection = _rejected(_tar([("a.xml", XML)]) + _tar([("b.xml", XML)]))
    assert rejection.reason_code is ReasonCode.IRR_SYNTAX


def test_gzip_that_is_not_a_tar_is_refused() -> None:
    rejection = _rejected(gzip.compress(XML))
    assert rejection.reason_code is ReasonCode.IRR_TYPE_F
    assert rejection.rules == {"INTAKE-ARCHIVE-TYPE"}


# --- per-entry refusals: the other files are still extracted ---------------------------------


def test_nested_archives_are_refused_and_siblings_extracted() -> None:
    inner = _zip([("inner.xml", XML)])
    members = [("a.xml", XML), ("inner.zip", inner), ("inner.tgz", _targz([("x.xml", XML)]))]
    members.append(("inner.tar", _tar([("y.xml", XML)])))
    unpacked = unpack(_zip(members), "flow.zip")
    assert _names(unpacked) == ["a.xml"]
    assert _refused(unpacked) == {
        "inner.zip": (ReasonCode.IRR_TYPE_F, "INTAKE-ARCHIVE-NESTED"),
        "inner.tgz": (ReasonCode.IRR_TYPE_F, "INTAKE-ARCHIVE-NESTED"),
        "inner.tar": (ReasonCode.IRR_TYPE_F, "INTAKE-ARCHIVE-NESTED"),
    }
    assert "nested archives are not accepted" in unpacked.refused[0].finding.message


@pytest.mark.parametrize("build", [_zip, _targz], ids=["zip", "tar.gz"])
def test_path_traversal_and_absolute_names_are_refused(build: Build) -> None:
    members = [
        ("ok.xml", XML),
        ("../evil.xml", XML),
        ("a/../../evil2.xml", XML),
        ("/etc/evil.xml", XML),
        ("C:\\evil.xml", XML),
    ]
    unpacked = unpack(build(members), "flow")
    assert _names(unpacked) == ["ok.xml"]
    refused = _refused(unpacked)
    assert set(refused) == {"../evil.xml", "a/../../evil2.xml", "/etc/evil.xml", "C:\\evil.xml"}
    assert set(refused.values()) == {(ReasonCode.IRR_TYPE_F, "INTAKE-ARCHIVE-PATH")}


@pytest.mark.parametrize("build", [_zip, _targz], ids=["zip", "tar.gz"])
def test_names_with_characters_a_text_may_not_hold_are_refused_and_quoted_safely(
    build: Build,
) -> None:
    # (zipfile and tarfile end a name at its first NUL: "nul\x00.xml" is read as "nul".)
    members = [("ok.xml", XML), ("esc\x1b[2J.xml", XML), ("a\ufffe.xml", XML), ("b\x85.xml", XML)]
    unpacked = unpack(build(members), "flow")
    assert _names(unpacked) == ["ok.xml"]
    refused = _refused(unpacked)
    assert set(refused) == {"esc\ufffd[2J.xml", "a\ufffd.xml", "b\ufffd.xml"}
    assert set(refused.values()) == {(ReasonCode.IRR_TYPE_F, "INTAKE-ARCHIVE-PATH")}


def test_tar_links_devices_and_fifos_are_refused() -> None:
    specials = []
    for name, kind in [
        ("link.xml", tarfile.SYMTYPE),
        ("hard.xml", tarfile.LNKTYPE),
        ("dev", tarfile.CHRTYPE),
        ("fifo", tarfile.FIFOTYPE),
    ]:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
        specials.append(info)
    unpacked = unpack(_targz([("a.xml", XML)], special=specials), "flow.tgz")
    assert _names(unpacked) == ["a.xml"]
    refused = {r.name: r.finding for r in unpacked.refused}
    assert set(refused) == {"link.xml", "hard.xml", "dev", "fifo"}
    assert {f.reason_code for f in refused.values()} == {ReasonCode.IRR_TYPE_F}
    assert "symbolic link" in refused["link.xml"].message
    assert "/etc/passwd" in refused["link.xml"].message


@pytest.mark.parametrize("build", [_zip, _tar], ids=["zip", "tar"])
def test_empty_entry_is_refused(build: Build) -> None:
    unpacked = unpack(build([("a.xml", XML), ("empty.xml", b"")]), "flow")
    assert _names(unpacked) == ["a.xml"]
    assert _refused(unpacked) == {
        "empty.xml": (ReasonCode.IRR_VIDE_F, "INTAKE-ARCHIVE-ENTRY-EMPTY")
    }


@pytest.mark.parametrize("build", [_zip, _tar], ids=["zip", "tar"])
def test_duplicate_names_refuse_the_second(build: Build) -> None:
    unpacked = unpack(build([("a.xml", XML), ("b.xml", PDF), ("./a.xml", PDF)]), "flow")
    assert unpacked.entries == (Entry("a.xml", XML), Entry("b.xml", PDF))
    assert _refused(unpacked) == {"a.xml": (ReasonCode.IRR_TYPE_F, "INTAKE-ARCHIVE-DUPLICATE")}


@pytest.mark.parametrize("build", [_zip, _targz], ids=["zip", "tar.gz"])
def test_entry_over_the_file_limit_is_refused(build: Build) -> None:
    big = XML + b"<!-- padding -->" * 100
    unpacked = unpack(
        build([("big.xml", big), ("a.xml", XML)]), "flow", Limits(max_file_bytes=1000)
    )
    assert _names(unpacked) == ["a.xml"]
    finding = unpacked.refused[0].finding
    assert (finding.reason_code, finding.rule) == (
        ReasonCode.IRR_TAILLE_F,
        "INTAKE-ARCHIVE-ENTRY-SIZE",
    )
    assert f"{len(big):,} bytes; the limit is 1,000 bytes" in finding.message


def test_unsupported_zip_compression_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", XML, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("b.xml", XML, compress_type=zipfile.ZIP_BZIP2)
    unpacked = unpack(buffer.getvalue(), "flow.zip")
    assert _names(unpacked) == ["a.xml"]
    assert _refused(unpacked) == {"b.xml": (ReasonCode.IRR_TYPE_F, "INTAKE-ARCHIVE-METHOD")}


# --- robustness ------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [_zip, _targz, _tar], ids=["zip", "tar.gz", "tar"])
def test_damaged_archives_give_a_result_or_a_rejection(build: Build) -> None:
    """Random byte flips and cuts: unpack returns or raises Rejection, nothing else."""
    archive = build([("a.xml", XML), ("d/", b""), ("b.pdf", PDF)])
    rng = random.Random(20240901)
    for _ in range(300):
        damaged = bytearray(archive)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if rng.random() < 0.3:
            del damaged[rng.randrange(len(damaged)) :]
        with contextlib.suppress(Rejection):
            unpack(bytes(damaged), "flow")
