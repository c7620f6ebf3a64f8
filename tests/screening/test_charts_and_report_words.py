"""The results' drawings and the PDF in words: dose-response curves with axis titles and
units whose tick labels all lie inside the drawing (measured in Chromium), plate heat maps
with a colour legend, numbers in Norwegian style, and the PDF naming the same diagnosis with
its grade as the web page."""

import io
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from screening import services
from screening.models import DrugResult
from tests.conftest import PASSWORD, sign_in
from tests.screening.factories import analysed, make_world

pytestmark = pytest.mark.django_db

NBSP = "\u00a0"
CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "screening.css"


@pytest.fixture
def world():
    return make_world(with_totp=True)


def _results_page(client, world) -> tuple:
    request, _, _ = analysed(world)
    sign_in(client, world.lab)
    page = client.get(f"/screening/requests/{request.pk}/results/").content.decode()
    return request, page


def test_every_curve_has_axis_titles_with_units(client, world):
    _, page = _results_page(client, world)
    curves = re.findall(r'<svg class="curve".*?</svg>', page, re.S)
    assert len(curves) == 30
    for svg in curves:
        assert ">Concentration (nM, log scale)</text>" in svg
        assert ">Inhibition (%)</text>" in svg
        assert f">100{NBSP}%</text>" in svg and f">0{NBSP}%</text>" in svg
    # The tested range 1 nM to 10 µM: decades as Norwegian numbers (U+00A0 between groups).
    assert f">10{NBSP}000</text>" in curves[0] and f">1{NBSP}000</text>" in curves[0]


def test_every_heat_map_has_a_colour_legend(client, world):
    _, page = _results_page(client, world)
    maps = re.findall(r'<svg class="heatmap".*?</svg>', page, re.S)
    assert len(maps) == 2
    for svg in maps:
        legend = svg[svg.index('<g class="legend">') :]
        assert ">Inhibition (%)</text>" in legend
        assert [int(b) for b in re.findall(r'<rect class="band-(\d+)"', legend)] == list(range(11))
        assert "<title>45–55 % inhibition</title>" in legend
        assert "<title>under 5 % inhibition</title>" in legend
        assert "<title>95 % inhibition or more</title>" in legend
        assert f">50{NBSP}%</text>" in legend and "no reading" in legend
        assert "control well" in legend


def test_the_cards_show_scores_and_ic50_in_norwegian_style(client, world):
    request, page = _results_page(client, world)
    result = DrugResult.objects.filter(
        run__upload__request=request, ic50_nm__gt=1000, ic50_nm__lt=10000
    ).first()
    assert result is not None, "the two-plate fixture has a drug with IC50 above 1 µM"
    whole, tenth = divmod(round(result.ic50_nm * 10), 10)
    thousands, rest = divmod(whole, 1000)
    assert f"{thousands}{NBSP}{rest:03d},{tenth}{NBSP}nM" in page


@pytest.mark.browser
def test_no_tick_label_or_title_leaves_the_drawing(client, world, page):
    """Chromium lays the curves out with the page's own style sheet; every text's box must lie
    within the SVG's viewBox (the last tick label used to be cut off on the right)."""
    _, html = _results_page(client, world)
    curves = re.findall(r'<svg class="curve".*?</svg>', html, re.S)[:6]
    maps = re.findall(r'<svg class="heatmap".*?</svg>', html, re.S)[:1]
    page.set_content(
        f"<!doctype html><html><head><style>{CSS.read_text()}</style></head><body>"
        + "".join(f'<div style="width:320px">{svg}</div>' for svg in curves + maps)
        + "</body></html>"
    )
    outside = page.evaluate(
        """() => [...document.querySelectorAll('svg')].flatMap(svg => {
            const box = svg.viewBox.baseVal;
            return [...svg.querySelectorAll('text')].map(t => {
                const b = t.getBBox();
                const m = t.transform.baseVal.consolidate();
                // A rotated title: its box turned by the same matrix.
                let [x0, y0, x1, y1] = [b.x, b.y, b.x + b.width, b.y + b.height];
                if (m) {
                    const p = new DOMPoint(b.x, b.y).matrixTransform(m.matrix);
                    const q = new DOMPoint(b.x + b.width, b.y + b.height).matrixTransform(m.matrix);
                    [x0, x1] = [Math.min(p.x, q.x), Math.max(p.x, q.x)];
                    [y0, y1] = [Math.min(p.y, q.y), Math.max(p.y, q.y)];
                }
                const inside = x0 >= box.x - 0.5 && y0 >= box.y - 0.5
                    && x1 <= box.x + box.width + 0.5 && y1 <= box.y + box.height + 0.5;
                return inside ? null : `${t.textContent} [${x0},${y0},${x1},${y1}]`;
            }).filter(Boolean);
        })"""
    )
    assert outside == []
    assert page.locator("svg.curve text.axis-title").count() == 12


def test_the_pdf_names_the_diagnosis_with_its_grade_as_the_web_page_does(client, world):
    request, _, _ = analysed(world)
    report = services.report_save(
        screening_request=request, by=world.lab, interpretation="CDK4/6 stands out."
    )
    services.report_sign(report=report, by=world.lab, password=PASSWORD)
    sign_in(client, world.clinician)
    web = client.get(f"/screening/reports/{report.pk}/").content.decode()
    diagnosis = "Glioblastoma, IDH-wildtype, CNS WHO grade 4"
    assert f"<dt>Diagnosis</dt><dd>{diagnosis}</dd>" in web
    pdf = client.get(f"/screening/reports/{report.pk}/pdf/").content
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert diagnosis in re.sub(r"\s+", " ", text)
    # The curves in the PDF carry the same axis titles as on the page.
    assert "Concentration (nM, log scale)" in text and "Inhibition (%)" in text


def test_the_results_api_keeps_plain_numbers(client, world):
    request, _ = _results_page(client, world)
    drugs = client.get(f"/api/v1/screening/requests/{request.pk}/results/").json()["drugs"]
    scored = [d for d in drugs if d["ic50_nm"] is not None]
    assert scored and all(isinstance(d["ic50_nm"], float) for d in scored)
