"""``/help``: the help centre. Anyone reads and searches the published articles and votes
on them, without signing in; staff (agents, supervisors, admins) write, edit, publish and
archive them and read the reports (docs/knowledge.md).

A new-case form carries a deflection token: the articles it suggests link here with
``?from=<token>``, which counts the read (a form whose reader read an article and never
became a case is "deflected"). ``/help/suggestions`` is that list for a browser without
JavaScript; ``/api/v1/articles/suggestions`` is the same for the form's script.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3
from wtforms.validators import InputRequired, Optional

from postroom.core.errors import NotFound, PostroomError, ValidationError
from postroom.core.knowledge.model import (
    Article,
    Language,
    Product,
    Status,
    is_deflection_token,
    make_draft,
)
from postroom.frontends.web.arguments import record_id
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import current_user, roles_required

bp = Blueprint("help", __name__, url_prefix="/help")

#: Who writes the knowledge base.
WRITERS = ("agent", "supervisor", "staff:admin")
#: The assistant hands off at two misses in a row: a larger count from a form is noise.
MISSES_CARRIED = 9


def product_names() -> dict[str, Any]:
    return {
        Product.METERS.value: _("Postage meters"),
        Product.SOFTWARE.value: _("Portal and account"),
        Product.SHIPPING.value: _("Shipping and tracking"),
        Product.BILLING.value: _("Billing and payments"),
    }


def topic_names() -> dict[str, Any]:
    return {
        "inspections": _("Inspections"),
        "postage": _("Postage and refills"),
        "connection": _("Connecting and syncing"),
        "refunds": _("Refunds"),
        "registers": _("Registers"),
        "equipment": _("Equipment"),
        "contracts": _("Contracts"),
        "supplies": _("Ink and slogans"),
        "tracking": _("Tracking"),
        "claims": _("Traces and claims"),
        "support": _("Support"),
        "invoices": _("Invoices"),
        "payments": _("Payments"),
        "account": _("Your account"),
    }


def status_names() -> dict[str, Any]:
    return {
        Status.DRAFT.value: _("Draft"),
        Status.PUBLISHED.value: _("Published"),
        Status.ARCHIVED.value: _("Archived"),
    }


def _topic_name(topic: str) -> str:
    return str(topic_names().get(topic, topic.replace("-", " ").capitalize()))


bp.add_app_template_filter(_topic_name, "topic_name")


def _language() -> Language:
    return Language.FR if str(get_locale()) == "fr" else Language.EN


def _by_topic(articles: list[Article]) -> list[tuple[str, list[Article]]]:
    groups: dict[str, list[Article]] = {}
    for article in articles:
        groups.setdefault(article.topic, []).append(article)
    return sorted(groups.items(), key=lambda item: _topic_name(item[0]))


# ------------------------------------------------------------------ readers


@bp.get("")
def index() -> str:
    """Search (``q``) and browse by product (``product``, ``topic``)."""
    knowledge = current_postroom().knowledge
    language = _language()
    query = (request.args.get("q") or "").strip()
    product = request.args.get("product") or None
    topic = request.args.get("topic") or None
    if product not in (None, *product_names()):
        abort(404)
    result, error = None, None
    if query:
        try:
            result = knowledge.search(query, language, limit=20, product=product)
        except ValidationError as failure:
            error = failure.code
    articles = knowledge.list(language=language, product=product, topic=topic) if not query else []
    by_product: dict[str, list[tuple[str, list[Article]]]] = {}
    for name in product_names():
        subset = [a for a in articles if a.product.value == name]
        if subset:
            by_product[name] = _by_topic(subset)
    return render_template(
        "help/index.html",
        query=query,
        product=product,
        topic=topic,
        result=result,
        error=error,
        by_product=by_product,
        products=product_names(),
    )


@bp.get("/articles/<slug>")
def article(slug: str) -> str:
    knowledge = current_postroom().knowledge
    found = knowledge.get(slug)
    token = request.args.get("from")
    if is_deflection_token(token):  # a mangled link shows the article, uncounted
        knowledge.note_read(str(token), found.slug)
    return render_template(
        "help/article.html",
        article=found,
        translations=knowledge.translations(found),
        related=knowledge.related(found),
        products=product_names(),
        form=FlaskForm(),
    )


@bp.post("/articles/<slug>/vote")
def vote(slug: str) -> Response:
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    choice = request.form.get("helpful")
    if choice not in ("yes", "no"):
        abort(400)
    current_postroom().knowledge.vote(slug, _voter(), choice == "yes")
    flash(_("Thank you: your answer helps us improve this article."), "ok")
    return redirect(url_for("help.article", slug=slug))


def _voter() -> str:
    """A stable, opaque key of the reader: the signed-in person, else this browser's
    session. Keyed with the installation's secret, so it names nobody in the database."""
    user = current_user()
    if user is not None:
        who = f"user:{user.user_id}"
    else:
        if "reader" not in session:
            session["reader"] = secrets.token_urlsafe(16)
        who = f"reader:{session['reader']}"
    secret = current_postroom().config.resolved_secret_key().encode()
    return hmac.new(secret, who.encode(), hashlib.sha256).hexdigest()


@bp.get("/suggestions")
def suggestions() -> str:
    """Articles for what a customer is writing in a new case (the form's fallback
    without JavaScript): ``subject``, ``description`` and the form's ``token``."""
    knowledge = current_postroom().knowledge
    subject = (request.args.get("subject") or "")[:200]
    description = (request.args.get("description") or "")[:2000]
    token = request.args.get("token", "")
    if not is_deflection_token(token):
        token = knowledge.new_deflection_token()
    hits = knowledge.suggest(subject, description, _language()) if subject or description else []
    return render_template(
        "help/suggestions.html", hits=hits, token=token, subject=subject, description=description
    )


@bp.route("/ask", methods=["GET", "POST"])
def ask() -> str:
    """Ask the virtual assistant, without JavaScript: one question per post, the count
    of misses carried in the form. Signed in as a customer, it reads that account's own
    balance and meters (the account comes from the session, never from the form)."""
    form = FlaskForm()
    reply = None
    question = ""
    error = None
    misses = 0
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        question = request.form.get("question", "")
        misses = min(record_id(request.form.get("misses", "0")) or 0, MISSES_CARRIED)
        user = current_user()
        customer = None if user is None else user.account_number
        try:
            reply = current_postroom().assistant.answer(
                question, _language(), customer_number=customer, misses=misses
            )
        except ValidationError as failure:
            error = failure.code
        else:
            misses = reply.misses
    return render_template(
        "help/ask.html", reply=reply, question=question, error=error, misses=misses
    )


# ------------------------------------------------------------------ staff


class ArticleForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    title = StringField(_("Title"), validators=[InputRequired()])
    slug = StringField(_("Address (slug)"), validators=[InputRequired()])
    family = StringField(_("Family (shared by the translations)"), validators=[InputRequired()])
    language = SelectField(
        _("Language"),
        choices=[SelectChoice("en", "English"), SelectChoice("fr", "Français")],
    )
    product = SelectField(_("Product"), validate_choice=False)
    topic = StringField(_("Topic"), validators=[InputRequired()])
    related = StringField(
        _("Related articles (families, comma-separated)"), validators=[Optional()]
    )
    body = TextAreaField(_("Text (Markdown)"), validators=[InputRequired()])


#: Which form field an error code of the core belongs to.
FIELD_OF_CODE = {
    "missing_title": "title",
    "title_too_long": "title",
    "invalid_slug": "slug",
    "slug_taken": "slug",
    "invalid_family": "family",
    "translation_exists": "language",
    "invalid_language": "language",
    "invalid_product": "product",
    "invalid_topic": "topic",
    "invalid_related": "related",
    "missing_body": "body",
    "body_too_long": "body",
    "control_character": "body",
}


def _article_form(article: Article | None = None) -> ArticleForm:
    form = ArticleForm(obj=None)
    form.product.choices = [SelectChoice(k, str(v)) for k, v in product_names().items()]
    if article is not None and request.method == "GET":
        form.title.data = article.title
        form.slug.data = article.slug
        form.family.data = article.family
        form.language.data = article.language.value
        form.product.data = article.product.value
        form.topic.data = article.topic
        form.related.data = ", ".join(article.related)
        form.body.data = article.body
    return form


def _staff_name() -> str:
    user = current_user()
    assert user is not None  # roles_required let the request in
    return user.email


@bp.get("/staff")
@roles_required(*WRITERS)
def staff() -> str:
    knowledge = current_postroom().knowledge
    return render_template(
        "help/staff.html",
        articles=knowledge.list(status=None),
        missed=knowledge.missed_searches(20),
        deflection=knowledge.deflection(),
        votes=knowledge.votes()[:20],
        statuses=status_names(),
        form=FlaskForm(),
    )


@bp.route("/staff/new", methods=["GET", "POST"])
@roles_required(*WRITERS)
def new() -> str | Response:
    form = _article_form()
    if form.validate_on_submit():
        try:
            created = current_postroom().knowledge.write(_draft(form), _staff_name())
        except PostroomError as error:
            _show(form, error)
        else:
            flash(_("The article was saved as a draft."), "ok")
            return redirect(url_for("help.edit", slug=created.slug))
    return render_template("help/edit.html", form=form, article=None, versions=[])


@bp.route("/staff/articles/<slug>", methods=["GET", "POST"])
@roles_required(*WRITERS)
def edit(slug: str) -> str | Response:
    knowledge = current_postroom().knowledge
    found = knowledge.get(slug, staff=True)
    form = _article_form(found)
    if form.validate_on_submit():
        try:
            saved = knowledge.edit(found.slug, _draft(form), _staff_name())
        except PostroomError as error:
            _show(form, error)
        else:
            flash(_("The article was saved (version %(version)s).", version=saved.version), "ok")
            return redirect(url_for("help.edit", slug=saved.slug))
    return render_template(
        "help/edit.html",
        form=form,
        article=found,
        versions=knowledge.versions(found.slug),
        statuses=status_names(),
        status_form=FlaskForm(),
    )


@bp.post("/staff/articles/<slug>/status")
@roles_required(*WRITERS)
def set_status(slug: str) -> Response:
    if not FlaskForm().validate_on_submit():
        abort(400)
    target = request.form.get("status", "")
    try:
        changed = current_postroom().knowledge.set_status(slug, target)
    except NotFound:
        raise
    except PostroomError as error:
        flash(error.message, "error")
        return redirect(url_for("help.edit", slug=slug))
    flash(_("The article is now %(status)s.", status=status_names()[changed.status.value]), "ok")
    return redirect(url_for("help.edit", slug=changed.slug))


def _draft(form: ArticleForm) -> Any:
    return make_draft(
        family=form.family.data,
        slug=form.slug.data,
        language=form.language.data,
        title=form.title.data,
        body=form.body.data,
        product=form.product.data,
        topic=form.topic.data,
        related=form.related.data or "",
    )


def error_messages() -> dict[str, Any]:
    """The writer's-language text of each error code of the core."""
    return {
        "missing_title": _("Give the article a title."),
        "title_too_long": _("A title is at most 200 characters."),
        "invalid_slug": _("Lower-case letters, digits and hyphens only, e.g. meter-locked."),
        "slug_taken": _("Another article has this address."),
        "invalid_family": _("Lower-case letters, digits and hyphens only, e.g. meter-locked."),
        "translation_exists": _("This family has a text in this language already."),
        "invalid_topic": _("Lower-case letters, digits and hyphens only, e.g. inspections."),
        "invalid_related": _("Name up to 10 other families, separated by commas."),
        "missing_body": _("Write the article's text."),
        "body_too_long": _("The text is at most 100,000 characters."),
        "control_character": _("Remove the control characters from the text."),
    }


def _show(form: ArticleForm, error: PostroomError) -> None:
    field = getattr(form, FIELD_OF_CODE.get(error.code, "body"))
    field.errors = [*field.errors, error_messages().get(error.code, error.message)]
