"""``pr.case_files``: files attached to cases, taken in and served back.

``take`` checks an uploaded file (type by content, size, name, the virus scanner; see
``attachments``) and keeps its content by sha256; the ``AttachmentRef`` it answers goes
with the case's message. ``read`` serves a file back only to whom may see a message
carrying it: a user of the case's account or its contact (never through an internal
note), or staff. Any other asker, like an unknown file, gets ``attachment_not_found``
(or the case's ``case_not_found``), so nobody learns that a case or a file exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from postroom.core.cases.attachments import AttachmentLimits, NoVirusScanner, check_file
from postroom.core.cases.model import Actor, ActorKind, AttachmentRef, CaseDetail
from postroom.core.errors import NotFound
from postroom.core.ports import VirusScanner


class CaseViews(Protocol):
    """The cases service's reads, each as one kind of viewer may see a case."""

    def get(self, customer_number: str, number: str) -> CaseDetail: ...

    def get_for_contact(self, address: str, number: str) -> CaseDetail: ...

    def get_for_staff(self, number: str, *, by: Actor) -> CaseDetail: ...


class ContentStore(Protocol):
    def put(self, content: bytes) -> str: ...

    def read(self, sha256: str) -> bytes: ...


class CaseFiles:
    def __init__(
        self,
        cases: CaseViews,
        files: ContentStore,
        limits: AttachmentLimits,
        scanner: Callable[[], VirusScanner] = NoVirusScanner,
    ) -> None:
        self._cases = cases
        self._files = files
        self.limits = limits
        self._scanner = scanner

    def take(self, name: str, content: bytes) -> AttachmentRef:
        """Check and keep an uploaded file; its reference for the case's message.
        ValidationError with the attachment's code when it may not be kept."""
        checked = check_file(name, content, self.limits, self._scanner())
        self._files.put(content)
        return AttachmentRef(
            sha256=checked.sha256,
            filename=checked.name,
            content_type=checked.media_type,
            size=checked.size,
        )

    def read(self, number: str, sha256: str, *, by: Actor) -> tuple[AttachmentRef, bytes]:
        """The file ``sha256`` of case ``number`` with its reference (name, type), if
        ``by`` may see a message of the case that carries it."""
        detail = self._visible(number, by)
        for message in detail.messages:
            for attachment in message.attachments:
                if attachment.sha256 == sha256:
                    return attachment, self._files.read(sha256)
        raise NotFound("no such attachment", code="attachment_not_found")

    def _visible(self, number: str, by: Actor) -> CaseDetail:
        if by.kind is ActorKind.STAFF:
            return self._cases.get_for_staff(number, by=by)
        if by.kind is ActorKind.CUSTOMER and by.account:
            return self._cases.get(by.account, number)
        if by.kind is ActorKind.CONTACT and by.id:
            return self._cases.get_for_contact(by.id, number)
        raise NotFound("no such attachment", code="attachment_not_found")
