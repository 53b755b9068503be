"""Attachments of cases: what may be kept, judged by content, never by name. Pure.

A file's type is read from its first bytes (its magic number) and must be on the
allow-list (PDF, PNG, JPEG, GIF, plain text, CSV); an executable, a script, an archive
or anything unknown is refused, and so is a file whose name claims another allowed
type than its content (an executable called ``invoice.pdf``, a PNG called ``.pdf``).
Names are cut to their last path component, cleared of control and reserved
characters and of leading dots, and shortened with their extension kept. Size limits
are settings. A virus scanner (``ports.VirusScanner``, provided by a plugin; the
default scans nothing) has the last word.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

import attrs

from postroom.core.errors import ValidationError
from postroom.core.ports import VirusScanner

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
TEXT = "text/plain"
CSV = "text/csv"

#: The allowed types and the extensions a name of each may carry.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg", ".jpe"),
    GIF: (".gif",),
    TEXT: (".txt", ".text", ".log"),
    CSV: (".csv",),
}
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
)
#: Content that is refused whatever its name says, with what it is.
_DANGEROUS: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "a Mach-O or Java executable"),
    (b"#!", "a script"),
    (b"PK\x03\x04", "a ZIP archive (or Office document)"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0", "an OLE document (macros)"),
)
#: The longest name kept (extension included), in characters.
MAX_NAME = 120
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 20
_RESERVED = re.compile(r'[<>:"|?*\\/]')
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


@attrs.frozen
class CheckedFile:
    """A file that may be kept: its safe name, its type read from its content, its
    size and its sha256 (the name of its content in the store)."""

    name: str
    media_type: str
    size: int
    sha256: str


@attrs.frozen
class AttachmentLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES


class NoVirusScanner:
    """The default: nothing scans (a plugin provides ClamAV or the like)."""

    name = "none"

    def scan(self, content: bytes) -> str | None:
        return None


class UnavailableScanner:
    """Stands for a scanner plugin that failed to load: it cannot tell, so every file
    is refused (``attachment_not_scanned``) rather than let through unscanned."""

    name = "unavailable"

    def scan(self, content: bytes) -> str | None:
        raise RuntimeError("the virus scanner plugin failed to load")


def sniff(content: bytes) -> str | None:
    """The allowed type ``content`` is, by its first bytes; None when it is none of them."""
    for magic, media_type in _SIGNATURES:
        if content.startswith(magic):
            return media_type
    if any(content.startswith(magic) for magic, _what in _DANGEROUS):
        return None
    return TEXT if _is_text(content) else None


def _is_text(content: bytes) -> bool:
    if b"\x00" in content[:8192]:
        return False
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(unicodedata.category(c) == "Cc" and c not in "\n\r\t\f" for c in text[:8192])


def dangerous(content: bytes) -> str | None:
    """What dangerous thing ``content`` is (an executable, an archive...), if it is one."""
    for magic, what in _DANGEROUS:
        if content.startswith(magic):
            return what
    return None


def safe_name(name: str) -> str:
    """``name`` fit to store and to offer for download: its last path component (no
    ``../``, no drive, no backslash trick), no control, reserved or bidi-override
    character, no leading dot, not a Windows device name, at most ``MAX_NAME``
    characters with its extension kept; "attachment" when nothing is left."""
    text = unicodedata.normalize("NFC", name)
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c for c in text
    )
    text = _RESERVED.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip().lstrip(".").strip()
    stem, dot, extension = text.rpartition(".")
    if not dot:
        stem, extension = text, ""
    if stem.lower() in _WINDOWS_DEVICES:
        stem = f"_{stem}"
    extension = extension[:10]
    suffix = f".{extension}" if extension else ""
    stem = stem[: MAX_NAME - len(suffix)].rstrip(" .")
    return f"{stem}{suffix}" if stem else f"attachment{suffix}"


def check_file(
    name: str,
    content: bytes,
    limits: AttachmentLimits,
    scanner: VirusScanner | None = None,
) -> CheckedFile:
    """``content`` under ``name`` if it may be kept; ValidationError with a stable code
    when not: ``attachment_empty``, ``attachment_too_large``, ``attachment_type_refused``,
    ``attachment_disguised``, ``attachment_infected``, ``attachment_not_scanned``."""
    clean = safe_name(name)
    if not content:
        raise ValidationError(f"{clean} is empty", code="attachment_empty")
    if len(content) > limits.max_bytes:
        raise ValidationError(
            f"{clean} is {len(content)} bytes; the limit is {limits.max_bytes}",
            code="attachment_too_large",
        )
    media_type = sniff(content)
    extension = _extension(clean)
    what = dangerous(content)
    if media_type is None:
        claimed = _claimed_type(extension)
        if what is not None and claimed is not None:
            raise ValidationError(
                f"{clean} is {what}, not a {claimed} file", code="attachment_disguised"
            )
        raise ValidationError(
            f"{clean} is {what or 'of a type that is not accepted'}; accepted are PDF, "
            "PNG, JPEG, GIF, plain text and CSV",
            code="attachment_type_refused",
        )
    if media_type == TEXT and extension == ".csv":
        media_type = CSV
    if extension and extension not in EXTENSIONS[media_type]:
        raise ValidationError(
            f"{clean} is named {extension} but its content is {media_type}",
            code="attachment_disguised",
        )
    if not extension:
        clean = safe_name(clean + EXTENSIONS[media_type][0])
    try:
        threat = (scanner or NoVirusScanner()).scan(content)
    except Exception as error:  # a scanner that cannot tell lets nothing through
        raise ValidationError(
            f"{clean} could not be checked by the virus scanner ({type(error).__name__})",
            code="attachment_not_scanned",
        ) from error
    if threat:
        raise ValidationError(
            f"{clean} was refused by the virus scanner: {threat}", code="attachment_infected"
        )
    return CheckedFile(
        name=clean,
        media_type=media_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )


def first_scanner(scanners: Sequence[VirusScanner]) -> VirusScanner:
    """The scanner to use: the first a plugin provided, else none."""
    return scanners[0] if scanners else NoVirusScanner()


def _extension(name: str) -> str:
    _stem, dot, extension = name.rpartition(".")
    return f".{extension.lower()}" if dot and _stem else ""


def _claimed_type(extension: str) -> str | None:
    for media_type, extensions in EXTENSIONS.items():
        if extension in extensions:
            return media_type
    return None
