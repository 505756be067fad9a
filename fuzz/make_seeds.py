#!/usr/bin/env python3
"""Write the hand-made seeds of fuzz/corpus/ (deterministic; run from anywhere).

    python3 fuzz/make_seeds.py

pdf/       minimal PDFs covering what the reader handles: classic xref, FlateDecode content,
           a Form XObject drawn with Do, TJ arrays and text-state operators, inherited
           Resources/MediaBox, CropBox + /Rotate, a Type0 (two-byte) font with a ToUnicode
           CMap and /W widths; plus three small third-party fixtures copied from
           tests/fixtures/pdfs (xref stream + object streams, rotated CropBox, incremental
           update).
json/      envelope-create bodies (three-step and one-shot shapes) and a draft patch body.
multipart/ `POST /documents` bodies with the boundary `fuzzboundary` (the multipart target's):
           a PDF with a `name` part, a PNG, and an unusual but valid form.
"""

import base64
import json
import pathlib
import shutil
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "corpus"
BOUNDARY = b"fuzzboundary"


def pdf(objects, version=b"1.4", root=1):
    """A PDF with a classic xref table; objects[i] is object i+1 (bytes, without obj/endobj)."""
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return bytes(out)


def stream(content, extra=b"", compress=False):
    if compress:
        content = zlib.compress(content, 9)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def minimal():
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
            b" /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
            stream(b"BT /F1 12 Tf 72 760 Td (Signature of the employee:) Tj ET"),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def features():
    page1 = (
        b"q 1 0 0 1 10 10 cm BT /F1 11 Tf 14 TL 2 Tc 1 Tw 90 Tz 1 Ts 72 700 Td"
        b" [(Sign)-250(ature)] TJ T* (Date:) ' 3 1 (Initials:) \" ET Q"
        b" q 0.5 0 0 0.5 100 100 cm /X1 Do Q"
        b" BT /F2 10 Tf 1 0 0 1 72 600 Tm <00410042> Tj ET"
    )
    form = b"BT /F1 9 Tf 0 0 Td (Approved by) Tj ET"
    page2 = b"BT /F1 12 Tf 100 100 TD (Sign here) Tj 0 -20 Td (Page 2) Tj ET"
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap"
        b" /CMapName /Fuzz def 1 begincodespacerange <0000> <FFFF> endcodespacerange"
        b" 2 beginbfchar <0041> <0053> <0042> <0069> endbfchar"
        b" 1 beginbfrange <0043> <0045> <0061> endbfrange"
        b" endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            # Resources and MediaBox inherited from the page tree node.
            b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /MediaBox [0 0 612 792]"
            b" /Resources << /Font << /F1 7 0 R /F2 8 0 R >> /XObject << /X1 6 0 R >> >> >>",
            b"<< /Type /Page /Parent 2 0 R /Contents 5 0 R >>",
            b"<< /Type /Page /Parent 2 0 R /CropBox [36 36 576 756] /Rotate 90"
            b" /Contents [11 0 R] >>",
            stream(page1, compress=True),
            stream(
                form,
                b" /Type /XObject /Subtype /Form /BBox [0 0 200 50] /Matrix [1 0 0 1 5 5]"
                b" /Resources << /Font << /F1 7 0 R >> >>",
            ),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /FirstChar 32"
            b" /Widths [600 600 600] /Encoding /WinAnsiEncoding >>",
            b"<< /Type /Font /Subtype /Type0 /BaseFont /Fuzz /Encoding /Identity-H"
            b" /DescendantFonts [9 0 R] /ToUnicode 10 0 R >>",
            b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Fuzz /DW 500"
            b" /W [65 [600 700] 67 69 550]"
            b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
            stream(cmap, compress=True),
            stream(page2),
        ],
        version=b"1.7",
    )


def png():
    """A 2x2 RGB PNG."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00\x00\xff\x00" for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def multipart(parts):
    out = bytearray()
    for headers, body in parts:
        out += b"--" + BOUNDARY + b"\r\n"
        for header in headers:
            out += header + b"\r\n"
        out += b"\r\n" + body + b"\r\n"
    out += b"--" + BOUNDARY + b"--\r\n"
    return bytes(out)


def write(folder, name, data):
    path = CORPUS / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main():
    small = minimal()
    write("pdf", "minimal.pdf", small)
    write("pdf", "features.pdf", features())
    for fixture in ("xref-stream-1.7.pdf", "rotated-cropbox.pdf", "incremental-update.pdf"):
        shutil.copyfile(ROOT / "tests/fixtures/pdfs" / fixture, CORPUS / "pdf" / fixture)

    def body(value):
        return json.dumps(value, indent=1).encode() + b"\n"

    write(
        "json",
        "create-three-step.json",
        body(
            {
                "subject": "Employment contract",
                "message": "Please sign",
                "documentIds": ["doc_01HZX5Y6Z7A8B9C0D1E2F3G4H5"],
                "recipients": [
                    {"email": "a@example.com", "name": "Alice", "role": "SIGNER", "signingOrder": 1},
                    {"email": "b@example.com", "role": "APPROVER", "signingOrder": 2, "phone": "+33612345678",
                     "id": "rcp_x", "status": "PENDING", "signedAt": None, "accessToken": {"x": [1]}},
                    {"email": "c@example.com", "role": "VIEWER"},
                ],
                "fields": [
                    {"recipientEmail": "a@example.com", "documentIndex": 0, "pageNumber": 1,
                     "fieldType": "SIGNATURE", "x": 72.5, "y": 700, "width": 150, "height": 40},
                    {"recipientEmail": "a@example.com", "fieldType": "DATE_SIGNED",
                     "anchorText": "Signature of the employee", "anchorPlacement": "below", "anchorIndex": 0},
                ],
                "signatureLevel": "ADVANCED",
                "expiresAt": "2031-01-02T03:04:05Z",
                "category": "HR",
                "tags": ["onboarding", "Paris"],
                "locale": "fr-BE",
                "redirectUrl": "https://example.com/done",
                "initialsOnEveryPage": True,
                "workspaceId": "default",
                "requireSmsOtp": False,
                "reminders": {"afterDays": 2, "everyDays": 3},
            }
        ),
    )
    write(
        "json",
        "create-one-shot.json",
        body(
            {
                "subject": "NDA",
                "documents": [{"name": "nda.pdf", "base64Pdf": base64.b64encode(small).decode()}],
                "signers": [{"email": "x@example.org", "name": "X", "signingOrder": 1}],
                "draft": True,
            }
        ),
    )
    write(
        "json",
        "patch.json",
        body({"subject": "Renamed", "message": None, "expiresAt": None, "reminders": None, "tags": []}),
    )

    write(
        "multipart",
        "pdf-with-name",
        multipart(
            [
                ([b'Content-Disposition: form-data; name="name"'], "Contrat de travail".encode()),
                (
                    [
                        b'Content-Disposition: form-data; name="file"; filename="contract.pdf"',
                        b"Content-Type: application/pdf",
                    ],
                    small,
                ),
            ]
        ),
    )
    write(
        "multipart",
        "png",
        multipart(
            [
                (
                    [
                        b"Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''sign%C3%A9.png",
                        b"Content-Type: image/png",
                    ],
                    png(),
                )
            ]
        ),
    )
    write(
        "multipart",
        "unusual-form",
        b"preamble\r\n"
        + multipart(
            [
                ([b'Content-Disposition: form-data; name="other"'], b"ignored"),
                ([b"content-disposition: form-data; name=file", b"Content-Transfer-Encoding: binary"], small),
            ]
        ),
    )


if __name__ == "__main__":
    main()
