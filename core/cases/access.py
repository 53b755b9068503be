"""Who may see and touch a case, and the look-ups every use case of the area shares."""

from __future__ import annotations

from postroom.core.cases import model
from postroom.core.cases.model import Actor, ActorKind, Case, CaseDetail
from postroom.core.cases.store import CaseRepository
from postroom.core.errors import NotFound, PermissionDenied, ValidationError

#: history actions a customer sees (the rest are staff matters: notes, assignment)
PUBLIC_ACTIONS = frozenset(
    {"opened", "status", "reply", "message", "reopened", "closed", "merged", "follow-up", "claim"}
)
#: the chain of merges followed when a merged number is asked for
MAX_MERGE_HOPS = 5


def resolve(repository: CaseRepository, number: str) -> Case | None:
    """The case under ``number``, following merges to the surviving case."""
    case = repository.get(number)
    hops = 0
    while case is not None and case.merged_into is not None and hops < MAX_MERGE_HOPS:
        case = repository.get(case.merged_into)
        hops += 1
    return case


def locked(repository: CaseRepository, number: str) -> Case:
    case = repository.lock(number)
    if case is None:  # gone between the look-up and the write: cannot happen, cases stay
        raise not_found(number)
    return case


def detail_for(repository: CaseRepository, case: Case, *, public: bool) -> CaseDetail:
    messages = repository.messages(case.id)
    history = repository.history(case.id)
    if public:
        messages = [m for m in messages if m.public]
        history = [h for h in history if h.action in PUBLIC_ACTIONS]
    return CaseDetail(case, tuple(messages), tuple(history))


def may_write(by: Actor, case: Case) -> bool:
    if by.kind is ActorKind.CUSTOMER:
        return case.customer_number is not None and case.customer_number == by.account
    if by.kind is ActorKind.CONTACT:
        return bool(by.id) and case.contact.email == by.id.strip().lower()
    return False


def staff_only(by: Actor) -> None:
    if not isinstance(by, Actor) or not by.is_staff:
        raise PermissionDenied("staff only", code="staff_only")


def case_number(text: str) -> str:
    try:
        return model.parse_case_number(text)
    except ValidationError:  # no case can have this number
        raise not_found(text) from None


def not_found(number: object) -> NotFound:
    return NotFound(f"no case {number!r}", code="case_not_found")


def supervisors_only(by: Actor) -> None:
    if not isinstance(by, Actor) or not by.supervises:
        raise PermissionDenied("supervisors only", code="supervisors_only")
