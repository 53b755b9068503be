"""Uploaded ad-slogan graphics: what a meter may print, checked by content, never by
name or declared type.

A PNG is decoded (Pillow) and must fit the size and pixel limits. An SVG is parsed
without DTDs, entities or external references (defusedxml) and rebuilt from an
allow-list of elements and attributes: a script, an event handler, a foreignObject or a
reference outside the document is refused with its own code, and anything else not on
the list is left out of what the meter receives. No I/O.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET  # building only; parsing is defusedxml's
from enum import StrEnum

import attrs
import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from PIL import Image, UnidentifiedImageError

from postroom.core.errors import ValidationError

MAX_BYTES = 256 * 1024
MAX_WIDTH = 1200
MAX_HEIGHT = 400
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"

#: The SVG elements a slogan may use: shapes, text, groups, gradients.
ELEMENTS = frozenset(
    {
        "svg", "g", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
        "text", "tspan", "title", "desc", "defs", "linearGradient", "radialGradient", "stop",
    }
)  # fmt: skip
#: Presentation and geometry attributes; values are checked for references.
ATTRIBUTES = frozenset(
    {
        "id", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "width",
        "height", "d", "points", "transform", "viewBox", "preserveAspectRatio", "fill",
        "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
        "stroke-linecap", "stroke-linejoin", "opacity", "font-family", "font-size",
        "font-weight", "font-style", "text-anchor", "dominant-baseline", "letter-spacing",
        "offset", "stop-color", "stop-opacity", "gradientUnits", "gradientTransform",
        "version",
    }
)  # fmt: skip
#: Elements whose presence refuses the upload (not quietly dropped: the customer is told).
REFUSED = {"script": "svg_script_refused", "foreignObject": "svg_foreign_object_refused"}
_URL = re.compile(r"url\(\s*([^)]*)\)", re.IGNORECASE)
_LENGTH = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(px)?\s*")


class GraphicType(StrEnum):
    PNG = "image/png"
    SVG = "image/svg+xml"


@attrs.frozen
class Graphic:
    """A checked graphic: what the meter receives."""

    content_type: GraphicType
    data: bytes
    width: int
    height: int


def check_upload(data: object, declared: str | None = None) -> Graphic:
    """The upload as a graphic a meter may print, judged by its bytes. ``declared`` is
    the type the browser or client named: a file that is not what it claims to be is
    refused (``upload_type_mismatch``)."""
    if not isinstance(data, bytes) or not data:
        raise ValidationError("choose a PNG or SVG file", code="upload_empty")
    if len(data) > MAX_BYTES:
        raise ValidationError(
            f"a slogan graphic is at most {MAX_BYTES // 1024} KiB", code="upload_too_large"
        )
    found = GraphicType.PNG if data.startswith(PNG_MAGIC) else None
    if found is None and _looks_like_xml(data):
        found = GraphicType.SVG
    if found is None:
        raise ValidationError("the file is neither a PNG nor an SVG", code="upload_not_an_image")
    if declared is not None and declared.split(";")[0].strip().lower() != found.value:
        raise ValidationError(
            f"the file says it is {declared} but it is {found.value}", code="upload_type_mismatch"
        )
    return _png(data) if found is GraphicType.PNG else _svg(data)


def _looks_like_xml(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith((b"<?xml", b"<svg", b"<!--"))


def _png(data: bytes) -> Graphic:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise ValidationError("the file is not a PNG", code="upload_not_an_image")
            width, height = image.size
            _check_size(width, height)
            image.verify()  # every chunk's checksum: a truncated or doctored file fails
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise ValidationError("the PNG is damaged", code="upload_not_an_image") from None
    return Graphic(GraphicType.PNG, data, width, height)


def _check_size(width: int, height: int) -> None:
    if not (0 < width <= MAX_WIDTH and 0 < height <= MAX_HEIGHT):
        raise ValidationError(
            f"a slogan graphic is at most {MAX_WIDTH} x {MAX_HEIGHT} pixels",
            code="upload_too_many_pixels",
        )


def _svg(data: bytes) -> Graphic:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        raise ValidationError(
            "the SVG is not well-formed or declares a DTD or entities", code="svg_invalid"
        ) from None
    if _local(root.tag) != "svg":
        raise ValidationError("the file is not an SVG", code="upload_not_an_image")
    width = _length(root.get("width"))
    height = _length(root.get("height"))
    _check_size(width, height)
    clean = _rebuild(root)
    ET.register_namespace("", SVG_NS)
    out = ET.tostring(clean, encoding="utf-8", xml_declaration=True)
    return Graphic(GraphicType.SVG, out, width, height)


def _length(value: str | None) -> int:
    match = _LENGTH.fullmatch(value or "")
    if match is None:
        raise ValidationError(
            "an SVG slogan gives its width and height in pixels", code="svg_size_required"
        )
    return int(float(match.group(1)))


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1] if text.startswith("{") else text


def _namespace(tag: str) -> str | None:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else None


def _rebuild(source: ET.Element) -> ET.Element:
    """A new element of the allow-listed parts of ``source``; raises on what must refuse
    the whole upload."""
    name = _local(source.tag)
    element = ET.Element(f"{{{SVG_NS}}}{name}")
    for key, value in source.attrib.items():
        attribute = _local(key)
        if attribute.lower().startswith("on"):
            raise ValidationError(
                "an SVG slogan runs no script (event handlers)", code="svg_script_refused"
            )
        if attribute == "href" or "url(" in value.lower():
            _internal_reference(value if attribute == "href" else _URL.findall(value))
            if attribute == "href":
                continue  # a link to the document's own parts adds nothing to print
        if attribute == "style":
            raise ValidationError(
                "an SVG slogan uses presentation attributes, not style", code="svg_style_refused"
            )
        if attribute in ATTRIBUTES and _namespace(key) is None:
            element.set(attribute, value)
    element.text = source.text if name in ("text", "tspan", "title", "desc") else None
    for child in source:
        child_name = _local(child.tag)
        if child_name in REFUSED:
            raise ValidationError(
                f"an SVG slogan may not contain {child_name}", code=REFUSED[child_name]
            )
        if child_name in ELEMENTS and _namespace(str(child.tag)) in (SVG_NS, None):
            rebuilt = _rebuild(child)
            rebuilt.tail = child.tail if name in ("text", "tspan") else None
            element.append(rebuilt)
        else:  # metadata, an editor's own elements: dropped, but searched for scripts
            _refuse_hidden(child)
    return element


def _refuse_hidden(element: ET.Element) -> None:
    """What is dropped is still searched: a script or an outside reference in an
    editor's element refuses the upload as it would anywhere."""
    for inner in element.iter():
        if _local(inner.tag) in REFUSED:
            raise ValidationError(
                f"an SVG slogan may not contain {_local(inner.tag)}",
                code=REFUSED[_local(inner.tag)],
            )
        for key, value in inner.attrib.items():
            if _local(key).lower().startswith("on"):
                raise ValidationError(
                    "an SVG slogan runs no script (event handlers)", code="svg_script_refused"
                )
            if _local(key) == "href":
                _internal_reference(value)
            elif "url(" in value.lower():
                _internal_reference(_URL.findall(value))


def _internal_reference(value: str | list[str]) -> None:
    values = [value] if isinstance(value, str) else value
    for one in values:
        target = one.strip().strip("'\"")
        if not target.startswith("#"):
            raise ValidationError(
                "an SVG slogan refers to nothing outside itself", code="svg_external_reference"
            )
