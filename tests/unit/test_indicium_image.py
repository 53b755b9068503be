"""The printed indicium: symbol content layout, Data Matrix PNG and SVG, reading them back."""

from __future__ import annotations

import hashlib
import io
from datetime import date
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from postroom.core.errors import ValidationError
from postroom.core.meters import indicium_image as ii
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.money import Money

RECORD = IndiciumRecord(
    "SN-42",
    7,
    Money(730, "USD"),
    date(2026, 3, 2),
    "12345",
    "first-class-letter",
    5110,
    4890,
    hashlib.sha256(b"table").digest(),
)
SIGNATURE = bytes(range(1, 71))  # DER-sized; the layout does not interpret it
CONTENT = ii.pack_symbol(RECORD.to_bytes(), SIGNATURE)
SVG = "{http://www.w3.org/2000/svg}"


def block(slogan: str | None = "Mail early") -> ii.HumanBlock:
    return ii.HumanBlock.of(RECORD, "US POSTAGE", slogan)


def test_symbol_layout_is_length_record_signature() -> None:
    record = RECORD.to_bytes()
    assert CONTENT[:2] == len(record).to_bytes(2, "big")
    assert CONTENT[2 : 2 + len(record)] == record
    assert CONTENT[2 + len(record) :] == SIGNATURE
    assert ii.unpack_symbol(CONTENT) == (record, SIGNATURE)
    assert IndiciumRecord.from_bytes(ii.unpack_symbol(CONTENT)[0]) == RECORD


@given(st.binary(min_size=1, max_size=600), st.binary(min_size=1, max_size=80))
def test_symbol_layout_round_trips(record: bytes, signature: bytes) -> None:
    assert ii.unpack_symbol(ii.pack_symbol(record, signature)) == (record, signature)


@pytest.mark.parametrize(
    "content", [b"", b"\x00", b"\x00\x05abc", CONTENT[: 2 + len(RECORD.to_bytes())]]
)
def test_truncated_symbol_content_is_refused(content: bytes) -> None:
    with pytest.raises(ValidationError) as error:
        ii.unpack_symbol(content)
    assert error.value.code == "invalid_indicium"


def test_human_block_lines() -> None:
    assert block().lines == (
        "US POSTAGE",
        "$0.73",
        "2026-03-02",
        "FROM 12345",
        "METER SN-42",
        "PIECE 000007",
    )


@pytest.mark.parametrize("slogan", ["x" * 61, "bell\x07", "zero\u200bwidth"])
def test_bad_slogans_are_refused(slogan: str) -> None:
    with pytest.raises(ValidationError) as error:
        block(slogan)
    assert error.value.code == "invalid_slogan"


def test_slogan_whitespace_is_normalised() -> None:
    assert block("  Mail\n early ").slogan == "Mail early"
    assert block("   ").slogan is None


def test_png_is_a_bilevel_200_dpi_image_whose_symbol_decodes() -> None:
    png = ii.render_png(CONTENT, block())
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "1"
        assert round(image.info["dpi"][0]) == ii.PNG_DPI
        assert image.width > image.height
    assert ii.read_symbol(png) == CONTENT


def test_png_matrix_matches_the_encoded_modules() -> None:
    matrix = ii.encode_matrix(CONTENT)
    png = ii.render_png(CONTENT, block(None))
    with Image.open(io.BytesIO(png)) as image:
        grey = image.convert("L")
    scale, quiet = ii.PNG_SCALE, ii.QUIET * ii.PNG_SCALE
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            centre = (quiet + x * scale + scale // 2, quiet + y * scale + scale // 2)
            assert (grey.getpixel(centre) == 0) == dark


def test_svg_is_well_formed_with_escaped_text_and_decodes() -> None:
    slogan = 'Tom & Jerry <b>"ads"</b>'
    svg = ii.render_svg(CONTENT, block(slogan))
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    texts = [el.text for el in root.iter(f"{SVG}text")]
    assert slogan in texts  # escaped in the file, the same text once parsed
    assert "US POSTAGE" in texts
    assert b"<b>" not in svg
    assert b"Tom &amp; Jerry &lt;b&gt;" in svg
    (path,) = [el for el in root.iter(f"{SVG}path") if el.get("id") == ii.SVG_SYMBOL_ID]
    matrix = ii.encode_matrix(CONTENT)
    assert path.get("data-modules") == f"{len(matrix[0])}x{len(matrix)}"
    assert ii.read_symbol(svg) == CONTENT


def test_svg_path_draws_exactly_the_dark_modules() -> None:
    svg = ii.render_svg(CONTENT, block())
    dark = sum(sum(row) for row in ii.encode_matrix(CONTENT))
    (path,) = [el for el in ElementTree.fromstring(svg).iter() if el.get("id") == ii.SVG_SYMBOL_ID]
    runs = [int(m[2]) for m in ii._RUN.findall(path.get("d", ""))]
    assert sum(runs) == dark


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"<svg xmlns='http://www.w3.org/2000/svg'><rect/></svg>",
        b"<svg><path id='postroom-datamatrix' data-modules='10x10' d='M0 0h99v1h-99z'/></svg>",
        b"<?xml version='1.0'?><!DOCTYPE svg [<!ENTITY a 'b'>]><svg>&a;</svg>",
        b"<svg><unclosed></svg>",
    ],
)
def test_unreadable_images_are_a_clear_error(data: bytes) -> None:
    with pytest.raises(ValidationError) as error:
        ii.read_symbol(data)
    assert error.value.code == "indicium_unreadable"


def test_a_blank_png_has_no_symbol() -> None:
    out = io.BytesIO()
    Image.new("L", (200, 200), 255).save(out, "PNG")
    with pytest.raises(ii.UnreadableIndicium, match="no readable Data Matrix"):
        ii.read_symbol(out.getvalue())


def graphic(width: int, height: int) -> bytes:
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))  # transparent: printed white
    image.paste((200, 0, 0, 255), (0, 0, width // 2, height))  # dark red: printed black
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("size", "printed"),
    [((300, 150), (384, 192)), ((50, 100), (96, 192)), ((2000, 100), (384, 19))],
)
def test_ad_graphics_are_scaled_bilevel_and_flattened_on_white(size, printed) -> None:
    normal = ii.check_graphic(graphic(*size))
    assert normal is not None
    with Image.open(io.BytesIO(normal)) as image:
        assert image.mode == "1"
        assert image.size == printed
        assert image.getpixel((1, 1)) == 0  # the red half is ink
        assert image.getpixel((image.width - 2, 1)) == 255  # transparency is paper
    assert ii.check_graphic(normal) == normal  # normalising twice changes nothing


@pytest.mark.parametrize("data", [b"", b"GIF89a-not-really", b"\x00" * 100])
def test_unreadable_ad_graphics_are_refused(data: bytes) -> None:
    with pytest.raises(ValidationError) as error:
        ii.check_graphic(data)
    assert error.value.code == "invalid_graphic"


def test_png_and_svg_with_an_ad_graphic_still_decode() -> None:
    art = ii.HumanBlock.of(RECORD, "US POSTAGE", "Mail early", graphic(300, 150))
    png = ii.render_png(CONTENT, art)
    assert ii.read_symbol(png) == CONTENT
    with (
        Image.open(io.BytesIO(png)) as image,
        Image.open(io.BytesIO(ii.render_png(CONTENT, block()))) as plain,
    ):
        assert image.width > plain.width  # the graphic sits left of the symbol
    svg = ii.render_svg(CONTENT, art)
    (picture,) = ElementTree.fromstring(svg).iter(f"{SVG}image")
    assert picture.get("href", "").startswith("data:image/png;base64,")
    assert ii.read_symbol(svg) == CONTENT


_TEXT = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=64)


@settings(max_examples=25, deadline=None)
@given(
    serial=_TEXT,
    piece=st.integers(1, 2**32 - 1),
    mills=st.integers(1, 2**32 - 1),
    category=_TEXT,
    registers=st.tuples(st.integers(0, 2**63), st.integers(0, 2**63)),
    signature=st.binary(min_size=8, max_size=72),
    svg=st.booleans(),
)
def test_any_record_survives_the_printed_image(
    serial, piece, mills, category, registers, signature, svg
) -> None:
    record = IndiciumRecord(
        serial,
        piece,
        Money(mills, "USD"),
        date(2026, 3, 2),
        "12345",
        category,
        registers[0],
        registers[1],
        bytes(32),
    )
    content = ii.pack_symbol(record.to_bytes(), signature)
    block = ii.HumanBlock.of(record, "US POSTAGE")
    image = ii.render_svg(content, block) if svg else ii.render_png(content, block)
    assert ii.read_symbol(image) == content


@pytest.mark.parametrize("length", [84, 102, 122, 170, 300, 500])
def test_symbols_are_square(length: int) -> None:
    """zxing-cpp would pick rectangular DMRE sizes (64x24) for some lengths."""
    matrix = ii.encode_matrix(bytes(length))
    assert len(matrix) == len(matrix[0])
