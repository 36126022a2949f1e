"""The QR SVG of ``qr/start`` / ``qr/check`` scans anywhere: its own white background, the
4-module quiet zone, decoded back to the ``tg://login`` URL by a real decoder (zxing-cpp)
after painting it, as a page would, over a dark background."""

from __future__ import annotations

import re

import zxingcpp
from PIL import Image, ImageDraw

from unifyport_telegram.qr_render import qr_payload

DARK_PAGE = (27, 31, 36)


def paint(svg: str, scale: int = 4) -> Image.Image:
    """Paint segno's SVG (a filled background path, then ``h`` runs of dark modules on
    half-module rows) the way a browser does, over a dark page colour."""
    size = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    image = Image.new("RGB", (size, size), DARK_PAGE)
    draw = ImageDraw.Draw(image)
    for fill, d in re.findall(r'<path (?:fill|class="qrline" stroke)="([^"]+)" d="([^"]+)"', svg):
        colour = (255, 255, 255) if fill in ("#fff", "#ffffff", "white") else (0, 0, 0)
        if d.endswith("z"):  # the background rectangle
            w = int(re.match(r"M0 0h(\d+)", d).group(1))  # type: ignore[union-attr]
            draw.rectangle((0, 0, w * scale - 1, w * scale - 1), fill=colour)
            continue
        x = y = 0.0
        for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", d):
            if op == "M":
                x, y = float(a), float(b)
            elif op == "m":
                x, y = x + float(a), y + float(b)
            else:
                top = int((y - 0.5) * scale)
                draw.rectangle((int(x * scale), top, int((x + float(a)) * scale) - 1,
                                top + scale - 1), fill=colour)
                x += float(a)
    return image


def test_qr_svg_decodes_on_a_dark_page_with_a_4_module_quiet_zone() -> None:
    payload = qr_payload(b"\x01" * 29, 0.0)
    svg = payload["svg"]
    assert 'fill="#fff"' in svg
    (result,) = zxingcpp.read_barcodes(paint(svg))
    assert result.text == payload["url"] and result.text.startswith("tg://login?token=")
    modules = 17 + 4 * int(result.extra["Version"])
    module_px = (result.position.top_right.x - result.position.top_left.x) / modules
    assert round(result.position.top_left.x / module_px) == 4
    assert round(result.position.top_left.y / module_px) == 4
