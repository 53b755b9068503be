"""The printed indicium: a Data Matrix symbol beside a human-readable block (pure).

Bytes in, bytes out, no I/O. The symbol's content (docs/meter-protocol.md, "Indicium
symbol") is::

    2 bytes  n = length of the indicium record, big-endian
    n bytes  the indicium record (``IndiciumRecord.to_bytes()``)
    rest     the device's ECDSA P-256 / SHA-256 signature over the record (DER)

``render_png`` and ``render_svg`` draw the symbol (encoded by zxing-cpp, which also
decodes it) with the carrier mark, amount, date, origin ZIP, meter serial, piece count,
the customer's ad slogan and ad graphic; ``read_symbol`` gets the content back from a
PNG (or any raster image) or from the SVG.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import unicodedata
import zlib
from collections.abc import Sequence
from functools import lru_cache
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import attrs
import zxingcpp
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from postroom.core.errors import ValidationError
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.money import Money

#: The ``id`` of the SVG path that holds the symbol's dark modules.
SVG_SYMBOL_ID = "postroom-datamatrix"
#: Longest ad slogan printed beside an indicium (characters).
MAX_SLOGAN = 60
#: Pixels per Data Matrix module in the PNG: 0.51 mm at 200 dpi, a meter print head's
#: resolution (ISO/IEC 16022 readers want 0.25 mm or more; postal specs ask about 0.5 mm).
PNG_SCALE = 4
PNG_DPI = 200
QUIET = 2  # modules of white around the symbol (ISO/IEC 16022 asks for one)
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_IMAGE_PIXELS = 16_000_000

_LEN = struct.Struct(">H")
_RUN = re.compile(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z")


class UnreadableIndicium(ValidationError):
    """The image holds no readable indicium symbol."""

    code = "indicium_unreadable"


# -- the symbol's content ------------------------------------------------------------------------


def pack_symbol(record: bytes, signature: bytes) -> bytes:
    """The bytes a Data Matrix symbol carries: record length, record, signature."""
    if not 1 <= len(record) <= 0xFFFF or not signature:
        raise ValidationError("an indicium needs a record and a signature", code="invalid_indicium")
    return _LEN.pack(len(record)) + record + signature


def unpack_symbol(data: bytes) -> tuple[bytes, bytes]:
    """``(record bytes, signature)`` from a symbol's content (``invalid_indicium`` if bad)."""
    if len(data) < _LEN.size:
        raise ValidationError("indicium symbol content is too short", code="invalid_indicium")
    (length,) = _LEN.unpack_from(data)
    record = data[_LEN.size : _LEN.size + length]
    signature = data[_LEN.size + length :]
    if len(record) != length or not signature:
        raise ValidationError(
            "indicium symbol content is truncated (record or signature missing)",
            code="invalid_indicium",
        )
    return record, signature


# -- what is printed beside the symbol -----------------------------------------------------------


def check_slogan(text: str | None) -> str | None:
    """A printable ad slogan of at most ``MAX_SLOGAN`` characters (``invalid_slogan``)."""
    if text is None:
        return None
    text = " ".join(text.split())
    if not text:
        return None
    if len(text) > MAX_SLOGAN or any(unicodedata.category(c).startswith("C") for c in text):
        raise ValidationError(
            f"the slogan is at most {MAX_SLOGAN} printable characters", code="invalid_slogan"
        )
    return text


#: An ad graphic is printed this many pixels high at the PNG's 200 dpi (24 mm), at most
#: twice as wide, 1 bit a pixel.
GRAPHIC_HEIGHT = 192
MAX_GRAPHIC_BYTES = 2 * 1024 * 1024


@lru_cache(maxsize=8)
def _normal_graphic(data: bytes) -> bytes:
    if len(data) > MAX_GRAPHIC_BYTES:
        raise ValidationError("the ad graphic is larger than 2 MiB", code="invalid_graphic")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValidationError("the ad graphic has too many pixels", code="invalid_graphic")
            rgba = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ValidationError(
            "the ad graphic is not a PNG, JPEG or other raster image", code="invalid_graphic"
        ) from None
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    grey = Image.alpha_composite(white, rgba).convert("L")
    ratio = min(GRAPHIC_HEIGHT / grey.height, 2 * GRAPHIC_HEIGHT / grey.width)
    size = (max(1, round(grey.width * ratio)), max(1, round(grey.height * ratio)))
    bilevel = grey.resize(size, Image.Resampling.LANCZOS).point(_LEVELS).convert("1")
    out = io.BytesIO()
    bilevel.save(out, "PNG")
    return out.getvalue()


def check_graphic(data: bytes | None) -> bytes | None:
    """An ad graphic as printed: any raster image, flattened on white, scaled to
    ``GRAPHIC_HEIGHT`` pixels high (at most twice as wide), 1 bit a pixel, as PNG
    (``invalid_graphic`` when it cannot be read)."""
    return None if data is None else _normal_graphic(bytes(data))


@lru_cache(maxsize=8)
def _graphic_ink(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        ink = image.convert("L").point(lambda p: 255 if p < 128 else 0)
        return ink.convert("1", dither=Image.Dither.NONE)


@lru_cache(maxsize=64)
def _amount(mills: int, currency: str) -> str:
    return Money(mills, currency).format()  # the same postage piece after piece


@attrs.frozen
class HumanBlock:
    """The human-readable lines of an indicium, the ad slogan and the ad graphic."""

    mark: str
    amount: str
    mailing_date: str
    origin_zip: str
    serial: str
    piece: int
    slogan: str | None = attrs.field(default=None, converter=check_slogan)
    graphic: bytes | None = attrs.field(default=None, converter=check_graphic, repr=False)

    @classmethod
    def of(
        cls,
        record: IndiciumRecord,
        mark: str,
        slogan: str | None = None,
        graphic: bytes | None = None,
    ) -> HumanBlock:
        return cls(
            mark=mark,
            amount=_amount(record.postage.mills, record.postage.currency),
            mailing_date=record.mailing_date.isoformat(),
            origin_zip=record.origin_zip,
            serial=record.serial,
            piece=record.piece,
            slogan=slogan,
            graphic=graphic,
        )

    @property
    def lines(self) -> tuple[str, ...]:
        return (
            self.mark,
            self.amount,
            self.mailing_date,
            f"FROM {self.origin_zip}",
            f"METER {self.serial}",
            f"PIECE {self.piece:06d}",
        )


# -- the module matrix ---------------------------------------------------------------------------

Matrix = tuple[tuple[bool, ...], ...]


def _symbol(content: bytes) -> tuple[int, int, bytes]:
    """``(width, height, pixels)`` of the Data Matrix (ECC 200) symbol of ``content``:
    one byte a module, 0 dark, 255 light, row after row."""
    try:
        # square symbols only: the rectangular DMRE sizes zxing-cpp may otherwise pick
        # (64x24...) are not read by every postal scanner
        barcode = zxingcpp.create_barcode(
            content, zxingcpp.BarcodeFormat.DataMatrix, force_square=True
        )
    except (ValueError, RuntimeError) as error:
        raise ValidationError(
            f"cannot encode the indicium: {error}", code="invalid_indicium"
        ) from None
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    return image.shape[1], image.shape[0], memoryview(image).tobytes()  # type: ignore[arg-type]  # has the buffer protocol


def encode_matrix(content: bytes) -> Matrix:
    """The Data Matrix (ECC 200) modules of ``content``, rows of dark (True) / light."""
    width, height, pixels = _symbol(content)
    return tuple(
        tuple(p < 128 for p in pixels[row * width : (row + 1) * width]) for row in range(height)
    )


def _matrix_image(
    width: int, height: int, pixels: bytes, scale: int, levels: tuple[int, int] = (0, 255)
) -> Image.Image:
    """The symbol in greyscale (``levels``: dark, light), ``scale`` pixels a module, with
    its quiet zone."""
    small = Image.frombytes("L", (width, height), pixels.translate(_levels(*levels)))
    big = small.resize((width * scale, height * scale), Image.Resampling.NEAREST)
    return ImageOps.expand(big, QUIET * scale, fill=levels[1])


@lru_cache(maxsize=4)
def _levels(dark: int, light: int) -> bytes:
    return bytes(dark if p < 128 else light for p in range(256))


_LEVELS = _levels(0, 255)
#: The PNG canvas is drawn in ASCII "0" (dark) and "1" (light): its bytes are then the
#: binary digits of the packed 1-bit rows, read by ``int(..., 2)`` with no translation.
_DARK_PX, _LIGHT_PX = b"0"[0], b"1"[0]


# -- PNG -----------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=512)
def _ink(text: str, size: int) -> Image.Image:
    """Where the ink of one line of text goes (a 1-bit mask), cached: lines repeat piece
    after piece. A line ending in a number of two digits or more (the piece count) is its
    cached stem plus its last digit, so a new piece count mostly costs one glyph."""
    font = _font(size)
    bottom = int(font.getbbox("Ag0", mode="1")[3]) + size // 8
    number = re.fullmatch(r"(.*\d)(\d)", text)  # a stem with a digit: spacing stays
    if number is None:
        right = int(font.getbbox(text, mode="1")[2]) + size // 4
        mask = Image.new("1", (right, bottom), 0)
        ImageDraw.Draw(mask).text((0, 0), text, fill=1, font=font)
        return mask
    stem = _ink(number[1], size)
    x = round(font.getlength(number[1]))
    advance = [round(font.getlength(digit)) for digit in number[2]]
    mask = Image.new("1", (x + sum(advance) + size // 4, bottom), 0)
    mask.paste(1, (0, 0), stem)
    for digit, step in zip(number[2], advance, strict=True):
        mask.paste(1, (x, 0), _ink(digit, size))
        x += step
    return mask


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_PAD = 8  # a dark column of 8 pixels left of each row: packed, it is PNG's filter byte 0


def _png_bilevel(image: Image.Image, dpi: int) -> bytes:
    """A 1-bit greyscale PNG of an image drawn in ``_DARK_PX`` and ``_LIGHT_PX`` whose
    rows start with ``_PAD`` dark pixels (not part of the picture: they pack into each
    row's filter byte, 0)."""
    width, height = image.size
    bits = image.tobytes()
    rows = int(bits, 2).to_bytes(len(bits) // 8, "big")
    per_metre = round(dpi / 0.0254)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", struct.pack(">IIBBBBB", width - _PAD, height, 1, 0, 0, 0, 0)),
            _chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
            _chunk(b"IDAT", zlib.compress(rows, 1)),
            _chunk(b"IEND", b""),
        ]
    )


@attrs.frozen
class _Layout:
    side: int  # pixels of the symbol with its quiet zone (height = width: square symbols)
    line: int  # pixels of a line of text
    margin: int
    left: int = 0  # pixels of the ad graphic and its margin, left of the symbol

    def size(self, level: int) -> int:
        return int(self.line * (1.1 if level < 2 else 0.8))

    def advance(self, level: int) -> int:
        return int(self.line * (1.35 if level < 2 else 1.1))


@lru_cache(maxsize=32)
def _template(
    lines: tuple[str, ...],
    last: str,
    slogan: str | None,
    graphic: bytes | None,
    layout: _Layout,
) -> Image.Image:
    """The blank indicium with the ad graphic and every line but the last (the piece
    count, whose digits ``last`` shows as 8s) drawn: the same for every piece of a mail
    run. Rows start with the ``_PAD`` dark pixels."""
    texts = [_ink(text, layout.size(level)) for level, text in enumerate((*lines, last))]
    ink = _ink(slogan, int(layout.line * 0.9)) if slogan else None
    art = _graphic_ink(graphic) if graphic else None
    side, line, margin, left = layout.side, layout.line, layout.margin, layout.left
    width = max(
        left + side + line // 2 + max(t.width for t in texts) + margin,
        margin + (ink.width + margin if ink else 0),
    )
    width += -width % 8  # whole bytes a row
    top = max(side, art.height + 2 * margin if art else 0)
    size = (_PAD + width, top + (int(line * 1.4) if ink else 0))
    canvas = Image.new("L", size, _LIGHT_PX)
    canvas.paste(_DARK_PX, (0, 0, _PAD, canvas.height))
    if art:
        canvas.paste(_DARK_PX, (_PAD + margin, margin), art)
    x, y = _PAD + left + side + line // 2, margin
    for level, text in enumerate(texts[:-1]):
        canvas.paste(_DARK_PX, (x, y), text)
        y += layout.advance(level)
    if ink:
        canvas.paste(_DARK_PX, (_PAD + margin, top), ink)
    return canvas


def render_png(content: bytes, block: HumanBlock, *, scale: int = PNG_SCALE) -> bytes:
    """A bilevel PNG at 200 dpi, as a meter's print head prints it: the ad graphic, the
    symbol, the human-readable block to its right, the slogan below."""
    symbol = _matrix_image(*_symbol(content), scale, (_DARK_PX, _LIGHT_PX))
    side, margin = max(symbol.size), QUIET * scale
    left = _graphic_ink(block.graphic).width + 2 * margin if block.graphic else 0
    layout = _Layout(side, max(side // 8, 14), margin, left)
    *lines, last = block.lines
    shape = re.sub(r"\d", "8", last)
    canvas = _template(tuple(lines), shape, block.slogan, block.graphic, layout).copy()
    canvas.paste(symbol, (_PAD + left, 0))
    level = len(lines)
    y = layout.margin + sum(layout.advance(n) for n in range(level))
    ink = _ink(last, layout.size(level))
    canvas.paste(_DARK_PX, (_PAD + left + side + layout.line // 2, y), ink)
    return _png_bilevel(canvas, PNG_DPI)


# -- SVG -----------------------------------------------------------------------------------------


_DARK = re.compile(rb"[\x00-\x7f]+")


def _runs(width: int, height: int, pixels: bytes) -> str:
    """The dark modules as one path: a rectangle per horizontal run."""
    parts = []
    for y in range(height):
        for run in _DARK.finditer(pixels, y * width, (y + 1) * width):
            x, n = run.start() - y * width, run.end() - run.start()
            parts.append(f"M{x} {y}h{n}v1h-{n}z")
    return "".join(parts)


def render_svg(content: bytes, block: HumanBlock) -> bytes:
    """An SVG document: the symbol as one path of module runs, the text as SVG text.

    Units are millimetres (0.5 mm modules). The path ``#postroom-datamatrix`` carries
    ``data-modules="WxH"``, which ``read_symbol`` uses to rebuild and decode the symbol.
    """
    cols, rows, pixels = _symbol(content)
    module = 0.5
    side = (max(cols, rows) + 2 * QUIET) * module
    line = side / 8
    # text widths are estimated (0.6 em a character): the viewer's font decides
    ems = max(len(t) * (1.1 if i < 2 else 0.8) for i, t in enumerate(block.lines)) * 0.6
    slogan_ems = len(block.slogan) * 0.9 * 0.6 if block.slogan else 0
    margin = QUIET * module
    art = _graphic_ink(block.graphic) if block.graphic else None
    mm = 25.4 / PNG_DPI  # the graphic keeps its printed size
    left = art.width * mm + 2 * margin if art else 0
    top = max(side, art.height * mm + 2 * margin if art else 0)
    width = max(left + side + line * (ems + 1), slogan_ems * line + 2 * margin)
    height = top + (line * 1.4 if block.slogan else 0)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.2f}mm" height="{height:.2f}mm"'
        f' viewBox="0 0 {width:.2f} {height:.2f}">',
        f"<title>{escape(block.mark)} {escape(block.amount)} meter {escape(block.serial)}"
        f" piece {block.piece}</title>",
        '<rect width="100%" height="100%" fill="#fff"/>',
        f'<path id="{SVG_SYMBOL_ID}" data-modules="{cols}x{rows}" fill="#000"'
        f' transform="translate({left + margin:.2f} {margin}) scale({module})"'
        f' d="{_runs(cols, rows, pixels)}"/>',
    ]
    if art is not None and block.graphic is not None:
        href = "data:image/png;base64," + base64.b64encode(block.graphic).decode()
        out.append(
            f'<image class="graphic" x="{margin}" y="{margin}" width="{art.width * mm:.2f}"'
            f' height="{art.height * mm:.2f}" href="{href}"/>'
        )
    out.append('<g font-family="Helvetica, Arial, sans-serif" fill="#000">')
    x, y = left + side + line / 2, margin
    for index, text in enumerate(block.lines):
        size = line * (1.1 if index < 2 else 0.8)
        y += size
        weight = ' font-weight="bold"' if index < 2 else ""
        out.append(
            f'<text x="{x:.2f}" y="{y:.2f}" font-size="{size:.2f}"{weight}>{escape(text)}</text>'
        )
        y += line * (0.25 if index < 2 else 0.3)
    if block.slogan:
        out.append(
            f'<text class="slogan" x="{margin:.2f}" y="{top + line:.2f}"'
            f' font-size="{line * 0.9:.2f}" font-style="italic">{escape(block.slogan)}</text>'
        )
    out += ["</g>", "</svg>", ""]
    return "\n".join(out).encode("utf-8")


# -- reading an image back -----------------------------------------------------------------------


def _svg_matrix(data: bytes) -> Matrix:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnreadableIndicium("SVG with a DOCTYPE or entities is not read")
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 - no DTD, no entities (checked above)
    except ElementTree.ParseError as error:
        raise UnreadableIndicium(f"not a well-formed SVG: {error}") from None
    path = next(
        (el for el in root.iter() if el.get("id") == SVG_SYMBOL_ID and el.tag.endswith("path")),
        None,
    )
    if path is None:
        raise UnreadableIndicium(
            f"the SVG has no #{SVG_SYMBOL_ID} symbol (rasterize other SVGs to PNG first)"
        )
    size = re.fullmatch(r"(\d{1,3})x(\d{1,3})", path.get("data-modules", ""))
    drawing = path.get("d", "")
    if size is None or _RUN.sub("", drawing):
        raise UnreadableIndicium("the SVG's symbol is not one postroom wrote")
    cols, rows = int(size[1]), int(size[2])
    grid = [[False] * cols for _ in range(rows)]
    for match in _RUN.finditer(drawing):
        x, y, run, back = (int(g) for g in match.groups())
        if run != back or y >= rows or x + run > cols:
            raise UnreadableIndicium("the SVG's symbol has modules outside its size")
        for col in range(x, x + run):
            grid[y][col] = True
    return tuple(tuple(row) for row in grid)


def _decode(image: Image.Image) -> bytes:
    found = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.DataMatrix)
    )
    symbols: Sequence[zxingcpp.Barcode] = [b for b in found if b.valid]
    if not symbols:
        raise UnreadableIndicium("no readable Data Matrix symbol in the image")
    if len(symbols) > 1:
        raise UnreadableIndicium("more than one Data Matrix symbol in the image")
    return bytes(symbols[0].bytes)


def read_symbol(data: bytes) -> bytes:
    """The content of the one Data Matrix symbol in a PNG (or other raster) or our SVG."""
    if len(data) > MAX_IMAGE_BYTES:
        raise UnreadableIndicium("image larger than 8 MiB")
    head = data[:512].lstrip()
    if head.startswith((b"<?xml", b"<svg")) or b"<svg" in head:
        matrix = _svg_matrix(data)
        pixels = bytes(0 if dark else 255 for row in matrix for dark in row)
        return _decode(_matrix_image(len(matrix[0]), len(matrix), pixels, 4))
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise UnreadableIndicium("image has too many pixels")
            grey = image.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise UnreadableIndicium("not a PNG, raster image or postroom SVG") from None
    return _decode(grey)
