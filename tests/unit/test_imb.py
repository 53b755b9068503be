"""The IMb encoder against the worked examples of USPS-B-3200 (rev. G, Appendix B)."""

from __future__ import annotations

import pytest

from postroom.core import imb
from postroom.core.errors import ValidationError

TRACKING = ("01", "234", "567094", "987654321")

# (routing, binary data, FCS, codewords, characters after FCS inversion, bars)
APPENDIX_B = [
    (
        "",
        0x00000000001122103B5C2004B1,
        0x051,
        [0, 0, 0, 0, 559, 202, 508, 451, 124, 34],
        [0x1FE0, 0x001F, 0x001F, 0x001F, 0x0ADB, 0x01A3, 0x1BC3, 0x1838, 0x012B, 0x0076],
        "ATTFATTDTTADTAATTDTDTATTDAFDDFADFDFTFFFFFTATFAAAATDFFTDAADFTFDTDT",
    ),
    (
        "01234",
        0x0000000D138A87BAB5CF3804B1,
        0x065,
        [0, 0, 15, 14, 290, 567, 385, 48, 388, 666],
        [0x1FE0, 0x001F, 0x02BF, 0x0057, 0x0255, 0x18DB, 0x1B17, 0x009D, 0x030B, 0x0583],
        "DTTAFADDTTFTDTFTFDTDDADADAFADFATDDFTAAAFDTTADFAAATDFDTDFADDDTDFFT",
    ),
    (
        "012345678",
        0x000202BDC097711204D21804B1,
        0x606,
        [659, 110, 1113, 1363, 198, 413, 470, 468, 1333, 1026],
        [0x1154, 0x1F07, 0x01FE, 0x0110, 0x019A, 0x1298, 0x03A2, 0x03A1, 0x0084, 0x14EE],
        "ADFTTAFDTTTTFATTADTAAATFTFTATDAAAFDDADATATDTDTTDFDTDATADADTDFFTFA",
    ),
    (
        "01234567891",
        0x016907B2A24ABC16A2E5C004B1,
        0x751,
        [673, 787, 607, 1022, 861, 19, 816, 1294, 35, 602],
        [0x0DCB, 0x085C, 0x08E4, 0x0B06, 0x06DD, 0x1740, 0x17C6, 0x1200, 0x123F, 0x1B2B],
        "AADTFFDFTDADTAADAATFDTDDAAADDTDTTDAFADADDDTFFFDDTTTADFAAADFTDAADA",
    ),
]


@pytest.mark.parametrize(("routing", "data", "fcs", "words", "chars", "bars"), APPENDIX_B)
def test_every_step_matches_the_specification(routing, data, fcs, words, chars, bars):
    assert imb.binary_data(*TRACKING, routing) == data
    assert imb.frame_check_sequence(data) == fcs
    assert imb.codewords(data, fcs) == words
    assert imb.characters(words, fcs) == chars
    assert imb.bars(chars) == bars
    assert imb.encode(*TRACKING, routing) == bars


def test_postalpro_encoder_example():
    # USPS PostalPro encoder output for 23 / 270 / 592831 / 482031240 / 96713024817.
    assert (
        imb.encode("23", "270", "592831", "482031240", "96713024817")
        == "DDADATADTAATDTTTDFDTTFTFFADTFTDFTATAAFTTFATDAATATDATATFADAADDTFDT"
    )


def test_character_tables_have_the_specified_sizes_and_weights():
    assert len(set(imb._TABLE_5_OF_13)) == 1287
    assert all(c.bit_count() == 5 for c in imb._TABLE_5_OF_13)
    assert len(set(imb._TABLE_2_OF_13)) == 78
    assert all(c.bit_count() == 2 for c in imb._TABLE_2_OF_13)


def test_nine_digit_mailer_id_with_six_digit_serial():
    bars = imb.encode("00", "700", "912345678", "123456", "12345")
    assert len(bars) == 65
    assert set(bars) <= set("ADFT")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (("1", "234", "567094", "987654321", ""), "imb_invalid_barcode_id"),
        (("05", "234", "567094", "987654321", ""), "imb_invalid_barcode_id"),
        (("0a", "234", "567094", "987654321", ""), "imb_invalid_barcode_id"),
        (("01", "23", "567094", "987654321", ""), "imb_invalid_service_type"),
        (("01", "234", "56709", "987654321", ""), "imb_invalid_mailer_id"),
        (("01", "234", "967094", "987654321", ""), "imb_invalid_mailer_id"),
        (("01", "234", "812345678", "987654", ""), "imb_invalid_mailer_id"),
        (("01", "234", "567094", "98765432", ""), "imb_invalid_serial"),
        (("01", "234", "912345678", "987654321", ""), "imb_invalid_serial"),
        (("01", "234", "567094", "987654321", "1234"), "imb_invalid_routing"),
        (("01", "234", "567094", "987654321", "1234567890"), "imb_invalid_routing"),
        (("01", "234", "567094", "987654321", "12345-678"), "imb_invalid_routing"),
        (("01", "234", "567094", "\uff1987654321", ""), "imb_invalid_serial"),
    ],
)
def test_invalid_fields_are_rejected_with_a_stable_code(fields, code):
    with pytest.raises(ValidationError) as caught:
        imb.encode(*fields)
    assert caught.value.code == code
