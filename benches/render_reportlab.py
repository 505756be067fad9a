"""The same contract text set with reportlab (the comparison renderer of `cargo bench --bench render`).

Usage: render_reportlab.py CONTRACT.json RUNS  → prints "pages=<n> ms=<mean per render>".
CONTRACT.json: {"title": str, "sections": [{"heading": str, "paragraphs": [str]}]}
"""
import io
import json
import sys
import time

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

contract = json.load(open(sys.argv[1]))
runs = int(sys.argv[2])
styles = getSampleStyleSheet()


def render():
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4)
    story = [Paragraph(contract["title"], styles["Title"])]
    for section in contract["sections"]:
        story.append(Paragraph(section["heading"], styles["Heading2"]))
        for paragraph in section["paragraphs"]:
            story.append(Paragraph(paragraph, styles["BodyText"]))
            story.append(Spacer(1, 4))
    doc.build(story)
    return doc.page


render()
start = time.perf_counter()
for _ in range(runs):
    pages = render()
elapsed = (time.perf_counter() - start) * 1000 / runs
print(f"pages={pages} ms={elapsed:.2f}")
