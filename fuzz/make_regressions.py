#!/usr/bin/env python3
"""Write the hand-made hostile PDFs of fuzz/regressions/pdf/ (deterministic; run from anywhere).

    python3 fuzz/make_regressions.py

.ci/fuzz runs every file here at the start of the pdf target's run (they are read, never
grown), so a fixed problem stays fixed. See fuzz/README.md for what each one found.
"""

import pathlib
import zlib

from make_seeds import pdf, stream

OUT = pathlib.Path(__file__).resolve().parent / "regressions" / "pdf"


def one_page(content, extra=(), resources=b"/Font << /F1 5 0 R >>", contents=b"4 0 R"):
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << "
            + resources
            + b" >> /Contents "
            + contents
            + b" >>",
            content,
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
        + list(extra)
    )


def deflate_spaces(count):
    """zlib of `count` spaces, without holding them all."""
    compressor = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    out = []
    for _ in range(count >> 20):
        out.append(compressor.compress(chunk))
    out.append(compressor.flush())
    return b"".join(out)


def main():
    OUT.mkdir(parents=True, exist_ok=True)

    # 1 GiB of content behind two Flate filters, in 2.4 KB.
    twice = zlib.compress(deflate_spaces(1 << 30), 9)
    (OUT / "decode-flate-flate-1gib.pdf").write_bytes(
        one_page(
            b"<< /Length %d /Filter [/FlateDecode /FlateDecode] >>\nstream\n" % len(twice)
            + twice
            + b"\nendstream"
        )
    )

    # One 8 MiB (decoded) content stream listed 1,000 times in /Contents.
    once = deflate_spaces(8 << 20)
    (OUT / "decode-contents-repeated.pdf").write_bytes(
        one_page(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(once) + once + b"\nendstream",
            contents=b"[" + b"4 0 R " * 1000 + b"]",
        )
    )

    # A form XObject drawing itself 60 times: 60^4 form runs down to the depth limit of 4.
    n = 60
    form = stream(
        b"BT /F1 1 Tf (x) Tj ET " + b"/X Do " * n,
        b" /Type /XObject /Subtype /Form /BBox [0 0 1 1]"
        b" /Resources << /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >>",
    )
    (OUT / "cpu-form-xobject-fan-out.pdf").write_bytes(
        one_page(
            stream(b"/X Do " * n),
            [form],
            resources=b"/Font << /F1 5 0 R >> /XObject << /X 6 0 R >>",
        )
    )

    # A CIDFont /W array of 2,000 ranges `0 4294967295 1`: each expands to 65,536 widths.
    (OUT / "cpu-cid-widths-ranges.pdf").write_bytes(
        one_page(
            stream(b"BT /F2 1 Tf <0041> Tj ET"),
            [
                b"<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H"
                b" /DescendantFonts [7 0 R] >>",
                b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /X /W ["
                + b"0 4294967295 1 " * 2000
                + b"] >>",
            ],
            resources=b"/Font << /F1 5 0 R /F2 6 0 R >>",
        )
    )

    # Page 1 shows "Sign"; page 2 also has a font with /FirstChar 4294967295 and two /Widths:
    # `first + offset` overflows while page 2 is read (caught at send, not by find_anchor).
    (OUT / "overflow-firstchar-widths.pdf").write_bytes(
        pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
                b" /Resources << /Font << /F1 7 0 R >> >> /Contents 5 0 R >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
                b" /Resources << /Font << /F1 7 0 R /F2 8 0 R >> >> /Contents 6 0 R >>",
                stream(b"BT /F1 12 Tf 72 760 Td (Sign) Tj ET"),
                stream(b"BT /F1 12 Tf 72 760 Td (Sign) Tj ET"),
                b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
                b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 4294967295"
                b" /Widths [1 2] >>",
            ]
        )
    )


if __name__ == "__main__":
    main()
