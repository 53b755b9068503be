"""Every text the portal and the kiosk show has its French translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]


def _french(folder: Path) -> set[str]:
    with (folder / "translations/fr/LC_MESSAGES/messages.po").open("rb") as po:
        # a plural's id is its (singular, plural) pair: the singular is what the code names
        return {
            m.id if isinstance(m.id, str) else m.id[0] for m in read_po(po) if m.id and m.string
        }


def _used(folder: Path) -> set[str]:
    found = extract_from_dir(str(folder), METHODS, options_map={"**/templates/**.html": {}})
    return {message if isinstance(message, str) else message[0] for *_, message, _c, _x in found}


def test_every_text_of_the_web_and_the_kiosk_is_translated_to_french():
    translated = _french(ROOT / "frontends" / "web")
    assert "Price a piece" in _used(ROOT / "frontends" / "web")  # the extraction finds texts
    missing = sorted(
        text
        for folder in (ROOT / "frontends" / "web", ROOT / "frontends" / "kiosk")
        for text in _used(folder)
        if text not in translated
    )
    assert missing == [], f"texts without a French translation: {missing}"


def test_the_french_catalogue_names_each_text_once_and_reads_cleanly():
    """A merge must leave one entry a text (gettext's tools refuse a catalogue with two)
    and no conflict markers, which the lenient reader above would pass over."""
    path = ROOT / "frontends" / "web" / "translations/fr/LC_MESSAGES/messages.po"
    text = path.read_text(encoding="utf-8")
    markers = [line for line in text.splitlines() if line.startswith(("<<<<<<<", ">>>>>>>"))]
    assert markers == []
    ids = [
        (m.context, m.id if isinstance(m.id, str) else m.id[0])
        for m in read_po(path.open("rb"))
        if m.id
    ]
    # read_po folds duplicates into one entry: count the msgid lines themselves
    written = [line for line in text.splitlines() if line.startswith("msgid ")]
    assert len(written) == len(ids) + 1  # + the header's empty msgid
