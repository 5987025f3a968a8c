"""A send's label: its 2-D code (segno) above the tracking number and the address, as PNG,
and the same page as PDF (Pillow writes both)."""

from __future__ import annotations

import io

import segno
from PIL import Image, ImageDraw, ImageFont

_WIDTH, _HEIGHT = 600, 400  # px; at 150 dpi a 10 × 6.8 cm label


def _page(*, tracking_number: str, code_payload: str, lines: list[str]) -> Image.Image:
    code = io.BytesIO()
    segno.make(code_payload, error="m").save(code, kind="png", scale=6, border=2)
    code.seek(0)
    qr = Image.open(code).convert("L")
    page = Image.new("L", (_WIDTH, _HEIGHT), 255)
    page.paste(qr, (20, 20))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=22)
    small = ImageFont.load_default(size=16)
    x = 40 + qr.width
    draw.text((x, 30), "trunkdrop", fill=0, font=font)
    draw.text((x, 70), tracking_number, fill=0, font=font)
    for i, line in enumerate(lines):
        draw.text((x, 120 + 24 * i), line[:40], fill=0, font=small)
    draw.text((20, _HEIGHT - 40), tracking_number, fill=0, font=font)
    return page


def label_png(*, tracking_number: str, code_payload: str, lines: list[str]) -> bytes:
    out = io.BytesIO()
    _page(tracking_number=tracking_number, code_payload=code_payload, lines=lines).save(
        out, format="PNG"
    )
    return out.getvalue()


def label_pdf(*, tracking_number: str, code_payload: str, lines: list[str]) -> bytes:
    out = io.BytesIO()
    _page(tracking_number=tracking_number, code_payload=code_payload, lines=lines).save(
        out, format="PDF", resolution=150.0, title=f"trunkdrop label {tracking_number}"
    )
    return out.getvalue()
