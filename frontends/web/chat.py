"""``/chat`` (customers) and ``/console/chats`` (support staff): the live chat.

Customers: a signed-in user of a customer account chats with the virtual assistant and,
after its hand-off, with an agent; only their own account's conversations answer (any
other token is 404). Staff agents, supervisors and admins see the queue per department
with wait times, take a chat (of two taking it at once one wins, the other is told) and
answer; anyone else gets 404. Every page works without JavaScript (forms and a refresh
link); ``static/chat.js`` adds live updates: server-sent events from ``.../events``, or
plain polling of ``.../messages`` where those fail. Both read the database, so any
``postroom serve`` process answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from postroom.core.errors import Conflict, PostroomError
from postroom.core.knowledge.chat import Agent
from postroom.core.knowledge.chat_model import ChatMessage, ChatStatus, Conversation
from postroom.frontends.web import long_poll
from postroom.frontends.web.arguments import record_id
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import current_user, login_required, roles_required

bp = Blueprint("chat", __name__)

SUPPORT = ("agent", "supervisor", "staff:admin")
#: How long one server-sent-events response waits for news at most (seconds).
EVENTS_WAIT = 20
#: How often a waiting response looks at the store (seconds).
EVENTS_TICK = 1.0
#: When the browser reconnects after an event, or after a response that could not wait
#: because enough others already were (milliseconds).
RETRY_MS = 500
BUSY_RETRY_MS = 2000


@bp.record_once
def _streams(state: Any) -> None:
    """The process's gate of waiting event streams: by default half the server's
    threads (``postroom serve`` says how many it has)."""
    app = state.app
    capacity = int(app.config.get("CHAT_WAITING_STREAMS", 4))
    app.extensions["chat_streams"] = long_poll.WaitGate(capacity)


def _customer() -> tuple[str, str]:
    user = current_user()
    if user is None or user.account_number is None:
        abort(404)  # staff and unverified people have no customer chat
    return user.account_number, user.name


def _agent() -> Agent:
    user = current_user()
    assert user is not None  # roles_required let the request in
    return Agent(str(user.user_id), user.name)


def _after() -> int:
    return record_id(request.args.get("after", "0"), digits=11) or 0


def system_texts() -> dict[str, Any]:
    """What the chat's own notes say, in the reader's language (stored in English)."""
    return {
        "joined": _("joined the chat"),
        "left": _("left the chat; it is back in the queue"),
        "the customer left a message": _("the customer left a message"),
        "closed by the customer": _("closed by the customer"),
        "closed by the agent": _("closed by the agent"),
        "abandoned: the customer left": _("abandoned: the customer left"),
    }


def _system_text(body: str) -> str:
    return str(system_texts().get(body, body))


_ARTICLE_PATH = re.compile(r"/help/articles/[a-z0-9]+(?:-[a-z0-9]+)*")


def _linked(body: str) -> Markup:
    """A message as HTML: escaped, with the help centre's article paths as links."""
    out = Markup()
    last = 0
    for match in _ARTICLE_PATH.finditer(body):
        out += escape(body[last : match.start()])
        out += Markup('<a href="{0}">{0}</a>').format(match.group())
        last = match.end()
    return out + escape(body[last:])


bp.add_app_template_filter(_linked, "chat_linked")
bp.add_app_template_filter(_system_text, "chat_system")


def _message_json(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "author": message.author.value,
        "name": message.name,
        "body": _system_text(message.body) if message.author.value == "system" else message.body,
        "at": message.at.isoformat(),
    }


def _state_json(
    conversation: Conversation, position: int | None, now: datetime | None = None
) -> dict[str, Any]:
    now = now or current_postroom().clock.now()
    return {
        "status": conversation.status.value,
        "position": position,
        "agent": conversation.agent_name,
        "agent_typing": conversation.agent_typing(now),
        "customer_typing": conversation.customer_typing(now),
        "case": conversation.case_number,
    }


# ------------------------------------------------------------------ customers


@bp.get("/chat")
@login_required
def start_page() -> str:
    _customer()
    return render_template("chat/start.html", form=FlaskForm())


@bp.post("/chat")
@login_required
def start() -> Response:
    number, name = _customer()
    if not FlaskForm().validate_on_submit():
        abort(400)
    language = "fr" if str(get_locale()) == "fr" else "en"
    conversation = current_postroom().chat.start(number, name, language)
    return redirect(url_for("chat.conversation", token=conversation.token))


@bp.get("/chat/<token>")
@login_required
def conversation(token: str) -> str:
    number, _name = _customer()
    found, messages, position = current_postroom().chat.messages(number, token)
    return render_template(
        "chat/conversation.html",
        conversation=found,
        messages=messages,
        position=position,
        form=FlaskForm(),
    )


@bp.post("/chat/<token>/say")
@login_required
def say(token: str) -> Response:
    number, _name = _customer()
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        current_postroom().chat.say(number, token, request.form.get("message", ""))
    except Conflict as error:
        if error.code != "chat_rate_limited" and error.code != "chat_closed":
            raise
        flash(_chat_error(error.code), "error")
    except PostroomError as error:
        if error.code not in ("empty_message", "message_too_long", "control_character"):
            raise
        flash(_chat_error(error.code), "error")
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"ok": True})
    return redirect(url_for("chat.conversation", token=token) + "#end")


@bp.post("/chat/<token>/leave-message")
@login_required
def leave_message(token: str) -> Response:
    number, _name = _customer()
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        case = current_postroom().chat.leave_message(number, token, request.form.get("message", ""))
    except PostroomError as error:
        if error.code not in ("empty_message", "message_too_long", "control_character"):
            raise
        flash(_chat_error(error.code), "error")
        return redirect(url_for("chat.conversation", token=token))
    flash(_("Your message is case %(number)s: we answer by email.", number=case), "ok")
    return redirect(url_for("chat.conversation", token=token))


@bp.post("/chat/<token>/close")
@login_required
def close(token: str) -> Response:
    number, _name = _customer()
    if not FlaskForm().validate_on_submit():
        abort(400)
    case = current_postroom().chat.close(number, token)
    flash(_("The chat is closed; its transcript is case %(number)s.", number=case), "ok")
    return redirect(url_for("chat.conversation", token=token))


@bp.post("/chat/<token>/typing")
@login_required
def typing(token: str) -> Response:
    number, _name = _customer()
    if not FlaskForm().validate_on_submit():
        abort(400)
    current_postroom().chat.typing(number, token)
    return jsonify({"ok": True})


@bp.get("/chat/<token>/messages")
@login_required
def messages(token: str) -> Response:
    """Polling: the messages after ``after`` and the conversation's state."""
    number, _name = _customer()
    found, new, position = current_postroom().chat.messages(number, token, _after())
    return jsonify(
        {"messages": [_message_json(m) for m in new], "state": _state_json(found, position)}
    )


@bp.get("/chat/<token>/events")
@login_required
def events(token: str) -> Response:
    """Server-sent events: what polling answers, pushed as soon as it changes. Each
    response waits at most ``CHAT_EVENTS_WAIT`` seconds and ends after one event; the
    browser reconnects with ``Last-Event-ID`` (the last message seen and a mark of
    the state). Only ``CHAT_WAITING_STREAMS`` responses of a process wait at once;
    the others look once and end, and their browsers come back ``retry`` later. A
    closed chat with nothing new answers 204, which stops the browser's reconnections."""
    number, _name = _customer()
    postroom = current_postroom()
    chat, clock = postroom.chat, postroom.clock
    seen = long_poll.parse_event_id(request.headers.get("Last-Event-ID"))
    last, seen_mark = seen if seen is not None else (_after(), "")
    found, new, position = chat.messages(number, token, last)  # 404 before the stream
    if found.status == ChatStatus.CLOSED and not new and seen is not None:
        return Response(status=204)
    settings = current_app.config
    wait = float(settings.get("CHAT_EVENTS_WAIT", EVENTS_WAIT))
    gate = current_app.extensions["chat_streams"]

    def stream() -> Iterator[str]:
        nonlocal found, new, position
        with gate.slot() as may_wait:
            # a response that waits is followed at once; one that could not, later
            yield f"retry: {RETRY_MS if may_wait else BUSY_RETRY_MS}\n\n"
            looks = max(1, int(wait / EVENTS_TICK)) if may_wait else 1
            for look in range(looks):
                if look:
                    if not gate.pause(EVENTS_TICK):
                        break
                    found, new, position = chat.messages(number, token, last)
                state = _state_json(found, position, clock.now())
                if new or long_poll.mark(state) != seen_mark:
                    newest = new[-1].id if new else last
                    data = json.dumps({"messages": [_message_json(m) for m in new], "state": state})
                    yield f"id: {long_poll.event_id(newest, state)}\ndata: {data}\n\n"
                    return
            yield ": nothing new\n\n"

    return Response(stream(), mimetype="text/event-stream", headers={"Cache-Control": "no-store"})


def _chat_error(code: str) -> Any:
    return {
        "chat_rate_limited": _("Too many messages at once: wait a moment and send again."),
        "chat_closed": _("This chat is closed."),
        "empty_message": _("Write a message first."),
        "message_too_long": _("A message is at most 4,000 characters."),
        "control_character": _("Remove the control characters from the message."),
    }[code]


# ------------------------------------------------------------------ staff


@bp.get("/console/chats")
@roles_required(*SUPPORT)
def console() -> str:
    chat = current_postroom().chat
    return render_template(
        "chat/console.html", queue=chat.queue(), mine=chat.mine(_agent()), form=FlaskForm()
    )


@bp.post("/console/chats/<int:conversation_id>/take")
@roles_required(*SUPPORT)
def take(conversation_id: int) -> Response:
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        current_postroom().chat.take(conversation_id, _agent())
    except Conflict:
        flash(_("Another agent took this chat first."), "error")
        return redirect(url_for("chat.console"))
    return redirect(url_for("chat.agent_view", conversation_id=conversation_id))


@bp.get("/console/chats/<int:conversation_id>")
@roles_required(*SUPPORT)
def agent_view(conversation_id: int) -> str:
    found, messages = current_postroom().chat.for_agent(conversation_id, _agent())
    return render_template(
        "chat/agent.html", conversation=found, messages=messages, form=FlaskForm()
    )


@bp.get("/console/chats/<int:conversation_id>/messages")
@roles_required(*SUPPORT)
def agent_messages(conversation_id: int) -> Response:
    found, new = current_postroom().chat.for_agent(conversation_id, _agent(), _after())
    return jsonify({"messages": [_message_json(m) for m in new], "state": _state_json(found, None)})


@bp.post("/console/chats/<int:conversation_id>/answer")
@roles_required(*SUPPORT)
def answer(conversation_id: int) -> Response:
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        current_postroom().chat.answer(conversation_id, _agent(), request.form.get("message", ""))
    except PostroomError as error:
        if error.code not in (
            "empty_message",
            "message_too_long",
            "control_character",
            "chat_closed",
        ):
            raise
        flash(_chat_error(error.code), "error")
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"ok": True})
    return redirect(url_for("chat.agent_view", conversation_id=conversation_id) + "#end")


@bp.post("/console/chats/<int:conversation_id>/typing")
@roles_required(*SUPPORT)
def agent_typing(conversation_id: int) -> Response:
    if not FlaskForm().validate_on_submit():
        abort(400)
    current_postroom().chat.agent_typing(conversation_id, _agent())
    return jsonify({"ok": True})


@bp.post("/console/chats/<int:conversation_id>/end")
@roles_required(*SUPPORT)
def end(conversation_id: int) -> Response:
    if not FlaskForm().validate_on_submit():
        abort(400)
    case = current_postroom().chat.end(conversation_id, _agent())
    flash(_("The chat is closed; its transcript is case %(number)s.", number=case), "ok")
    return redirect(url_for("chat.console"))


@bp.post("/console/chats/<int:conversation_id>/release")
@roles_required(*SUPPORT)
def release(conversation_id: int) -> Response:
    if not FlaskForm().validate_on_submit():
        abort(400)
    current_postroom().chat.release(conversation_id, _agent())
    return redirect(url_for("chat.console"))
