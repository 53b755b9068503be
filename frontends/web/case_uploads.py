"""Files on the support pages: what a customer or an agent uploads with a message goes
through ``pr.case_files.take`` (type by content, size, name, virus scan) before the
message is written; a file is served back only through ``pr.case_files.read``, to who
may see the case, as a download (never rendered by the browser)."""

from __future__ import annotations

import io
from collections.abc import Iterable

from flask import Response, send_file
from werkzeug.datastructures import FileStorage

from postroom.core.cases.model import AttachmentRef
from postroom.core.errors import ValidationError
from postroom.frontends.web.context import current_postroom


def take_files(uploads: Iterable[FileStorage | str | None]) -> list[AttachmentRef]:
    """The references of the files chosen in a form (an empty file input sends one
    nameless part: it is no file); ValidationError with the attachment's code."""
    files = [f for f in uploads if isinstance(f, FileStorage) and f.filename]
    case_files = current_postroom().case_files
    if len(files) > case_files.limits.max_files:
        raise ValidationError(
            f"at most {case_files.limits.max_files} files at once", code="attachment_too_many"
        )
    # one byte past the limit is enough to refuse it, without reading the rest
    return [
        case_files.take(f.filename or "", f.stream.read(case_files.limits.max_bytes + 1))
        for f in files
    ]


def max_megabytes() -> int:
    return max(1, current_postroom().case_files.limits.max_bytes // (1024 * 1024))


def download(reference: AttachmentRef, content: bytes) -> Response:
    response = send_file(
        io.BytesIO(content),
        mimetype=reference.content_type,
        as_attachment=True,
        download_name=reference.filename,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
