"""Attachment rules (core.cases.attachments): type by content, disguises, sizes, names,
the virus-scan port. Pure: no I/O."""

from __future__ import annotations

import hashlib

import pytest

from postroom.core.cases.attachments import (
    AttachmentLimits,
    check_file,
    safe_name,
    sniff,
)
from postroom.core.errors import ValidationError

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00"
LIMITS = AttachmentLimits(max_bytes=1000, max_files=3)


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        ("Grüße, a note\n".encode(), "text/plain"),
        (EXE, None),
        (b"\x7fELF\x02\x01", None),
        (b"#!/bin/sh\nrm -rf /\n", None),
        (b"PK\x03\x04 zip", None),
        (b"\x00\x01\x02binary", None),
        (b"\xff\xfe not utf-8", None),
    ],
)
def test_the_type_is_read_from_the_content(content, media_type):
    assert sniff(content) == media_type


def test_an_allowed_file_is_checked_and_named_by_its_sha256():
    checked = check_file("receipt.PDF", PDF, LIMITS)
    assert checked.media_type == "application/pdf"
    assert checked.name == "receipt.PDF"
    assert checked.size == len(PDF)
    assert checked.sha256 == hashlib.sha256(PDF).hexdigest()


def test_a_csv_is_text_named_csv():
    assert check_file("rates.csv", b"a,b\n1,2\n", LIMITS).media_type == "text/csv"


def test_a_name_without_extension_gets_its_types():
    assert check_file("scan", PNG, LIMITS).name == "scan.png"


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("invoice.pdf", EXE, "attachment_disguised"),
        ("photo.jpg", b"#!/bin/sh\n", "attachment_disguised"),
        ("photo.pdf", PNG, "attachment_disguised"),
        ("setup.exe", EXE, "attachment_type_refused"),
        ("notes.txt.exe", b"plain text", "attachment_disguised"),
        ("archive.zip", b"PK\x03\x04", "attachment_type_refused"),
        ("empty.pdf", b"", "attachment_empty"),
        ("big.pdf", PDF + b"x" * 1000, "attachment_too_large"),
    ],
)
def test_refused_files_have_a_stable_code(name, content, code):
    with pytest.raises(ValidationError) as refused:
        check_file(name, content, LIMITS)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.pdf", "evil.pdf"),
        ("C:\\Users\\ann\\receipt.pdf", "receipt.pdf"),
        ("/absolute/path.txt", "path.txt"),
        (".hidden.txt", "hidden.txt"),
        ("...", "attachment"),
        ("", "attachment"),
        ("a\x00b\r\nc.txt", "a b c.txt"),
        ("invoice\u202egpj.exe", "invoice gpj.exe"),
        ("what?<are>:these*|.txt", "what__are__these__.txt"),
        ("CON.txt", "_CON.txt"),
        ("x" * 500 + ".pdf", "x" * 116 + ".pdf"),
    ],
)
def test_names_are_sanitised(name, safe):
    assert safe_name(name) == safe


def test_a_scanner_has_the_last_word():
    class Infected:
        name = "test"

        def scan(self, content: bytes) -> str | None:
            return "Eicar-Test-Signature" if b"EICAR" in content else None

    assert check_file("ok.txt", b"clean", LIMITS, Infected()).name == "ok.txt"
    with pytest.raises(ValidationError) as refused:
        check_file("x.txt", b"X5O!P%@AP EICAR", LIMITS, Infected())
    assert refused.value.code == "attachment_infected"


def test_a_scanner_that_cannot_tell_lets_nothing_through():
    class Down:
        name = "down"

        def scan(self, content: bytes) -> str | None:
            raise ConnectionError("clamd is not running")

    with pytest.raises(ValidationError) as refused:
        check_file("ok.txt", b"clean", LIMITS, Down())
    assert refused.value.code == "attachment_not_scanned"
