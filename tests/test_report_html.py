"""The HTML report (`snakemake --report`) of the tiny run: built, then opened in a real headless Chromium.

Reuses the tiny workflow run of the end-to-end test (conftest.tiny_run), so it adds only the report
build and the browser session. Skips the browser part only where no Chromium is installed
(`make test` installs Debian's chromium with tests/install_chromium.sh).
"""
import json
import re
import time
from pathlib import Path

import pytest

from browser import Browser, file_url, find_chromium
from conftest import ROOT, TINY, run_snakemake
from transientrepro.paper import published_by_model
from transientrepro.report import format_value

CATEGORIES = {"Data", "t2", "ConvEntion", "Baselines", "t2 on SDSS-II", "Comparison", "Run"}
KEY_TABLE = "results/report/published_vs_reproduced.csv"


def test_every_caption_file_is_used():
    """Each workflow/report/*.rst is the workflow description or the caption of some report item."""
    rules = "\n".join(p.read_text() for p in [ROOT / "Snakefile", *(ROOT / "workflow" / "rules").glob("*.smk")])
    unused = [p.name for p in (ROOT / "workflow" / "report").glob("*.rst") if f'"{p.name}"' not in rules
              and f"/{p.name}\"" not in rules]
    assert not unused, f"caption files no report item uses: {unused}"


@pytest.fixture(scope="module")
def tiny_report(tiny_run):
    repo, res = tiny_run
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    t0 = time.monotonic()
    rep = run_snakemake(["--configfile", TINY, "--report", "results/report.html"], cwd=repo, timeout=600)
    assert rep.returncode == 0, rep.stdout[-3000:] + rep.stderr[-3000:]
    print(f"report built in {time.monotonic() - t0:.1f} s")
    return repo, repo / "results" / "report.html"


def _figures(repo: Path) -> list[str]:
    """Every figure of figures/, as the path the report lists it under."""
    pngs = sorted((repo / "figures").rglob("*.png"))
    assert pngs, "the tiny run gathered no figure"
    return [f"results/figures/{p.relative_to(repo / 'figures').as_posix()}" for p in pngs]


def _embedded(html: Path, var: str) -> dict:
    m = re.search(rf'<script id="{var}">\s*var {var} = (.*?);\s*</script>', html.read_text(encoding="utf-8"), re.S)
    assert m, f"report has no {var} block"
    return json.loads(m.group(1))


@pytest.mark.slow
def test_report_embeds_every_figure_with_a_caption(tiny_report):
    repo, html = tiny_report
    size = html.stat().st_size
    print(f"report: {size / 1e6:.1f} MB")
    assert 1e5 < size < 50e6, size
    results = _embedded(html, "results")
    categories = _embedded(html, "categories")
    assert set(categories) == CATEGORIES
    for path in _figures(repo):
        assert path in results, f"{path} (in figures/) is not in the report"
        r = results[path]
        assert r["mime_type"] == "image/png" and r["data_uri"].startswith("data:image/png;")
        assert re.search(r"(t2|ConvEntion) (Fig|Table)|no counterpart", r["caption"]), (path, r["caption"][:300])
    for path in [KEY_TABLE, "results/report/config.yaml", "results/report/software_versions.csv"]:
        assert path in results and results[path]["caption"], path


NAV = """
(() => {
  const a = [...document.querySelectorAll('#app a')].find(x => x.innerText.trim() === %s);
  if (!a) return false;
  a.click();
  return true;
})()
"""


@pytest.mark.slow
def test_report_in_headless_chromium(tiny_report):
    """Open the report as a reader would: it loads, every figure of figures/ is named with its
    caption and displays, and the published-vs-reproduced table is there with the papers' values."""
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium installed (make test installs Debian's chromium: tests/install_chromium.sh)")
    repo, html = tiny_report
    figures = _figures(repo)
    with Browser(exe, timeout=30) as b:
        b.open(file_url(html), timeout=60)
        b.wait_for("typeof app !== 'undefined' && document.querySelector('#app').innerText.includes('Workflow')")
        # scripts ran: the "enable JavaScript" warning is hidden and the app has rendered its menu
        assert b.eval("getComputedStyle(document.querySelector('#jswarning')).display") == "none"
        landing = b.eval("document.body.innerText")
        assert "test_tiny" in landing and "Embedded data vs the papers" in landing, landing[:2000]
        assert set(b.eval("Object.keys(categories)")) == CATEGORIES

        # a real click on a category of the menu lists its subcategories
        assert b.eval(NAV % json.dumps("Comparison"))
        b.wait_for("document.body.innerText.includes('Tables')")

        # every subcategory view names its results; together they name every figure of figures/
        seen = set()
        for cat, subcats in b.eval("categories").items():
            for sub, paths in subcats.items():
                # as a reader goes: menu -> category -> subcategory (the report's result list keeps its
                # entries while it stays mounted, so it is reached afresh each time)
                b.eval("app.setView({navbarMode: 'menu'})")
                b.wait_for("app.state.navbarMode === 'menu'", timeout=10)
                b.eval(f"app.showCategory({json.dumps(cat)})")
                b.wait_for(f"app.state.category === {json.dumps(cat)}", timeout=10)
                b.eval(f"app.setView({{navbarMode: 'subcategory', category: {json.dumps(cat)}, subcategory: {json.dumps(sub)}}})")
                b.wait_for(f"{json.dumps(paths)}.every(p => document.body.innerText.includes(p))", timeout=10)
                seen.update(paths)
        assert not set(figures) - seen, f"figures not named in the report: {sorted(set(figures) - seen)}"

        # each figure's page shows its caption; its eye button displays the image
        for path in figures:
            b.eval(f"app.showResultInfo({json.dumps(path)})")
            b.wait_for(f"app.state.resultPath === {json.dumps(path)} && document.body.innerText.toLowerCase().includes('description')",
                       timeout=10)
            caption = b.eval("[...document.querySelectorAll('.prose')].map(e => e.innerText).join(' ')")
            assert re.search(r"(t2|ConvEntion) (Fig|Table)|no counterpart", caption), (path, caption[:300])
        clicked = b.eval(f"""(() => {{
            const span = [...document.querySelectorAll('#app span')].find(s => s.innerText.trim() === {json.dumps(figures[-1])});
            const a = span && span.parentElement.querySelector('a');
            if (!a) return false;
            a.click();
            return true;
        }})()""")
        assert clicked, "no view button beside the figure's path"
        assert b.wait_for("(() => { const i = document.querySelector('img[src^=\"data:image/png\"]');"
                          " return i && i.complete && i.naturalWidth > 100; })()", timeout=10)

        # the published-vs-reproduced table, rendered in the caption of the key table
        b.eval(f"app.showResultInfo({json.dumps(KEY_TABLE)})")
        b.wait_for(f"app.state.resultPath === {json.dumps(KEY_TABLE)}", timeout=10)
        b.wait_for("[...document.querySelectorAll('table')].some(t => t.innerText.includes('reproduced'))", timeout=10)
        rows = b.eval("""(() => {
            const t = [...document.querySelectorAll('table')].find(t => t.innerText.includes('reproduced'));
            return [...t.querySelectorAll('tr')].map(r => [...r.children].map(c => c.innerText.trim()));
        })()""")
        assert b.exceptions() == [], b.exceptions()
    header, body = rows[0], rows[1:]
    assert header[:5] == ["paper", "model", "metric", "published", "reproduced"], header
    table = {(r[1], r[2].removesuffix(" [%]")): r for r in body}
    t2 = json.loads((repo / "results/plasticc/t2/metrics.json").read_text())
    pub = published_by_model()
    assert table[("t2", "log_loss")][3] == format_value(pub["t2"]["log_loss"])
    assert table[("t2", "log_loss")][4] == format_value(t2["log_loss"])
    for model in ("convention_g", "cnn_gru_g"):  # the tiny config's ConvEntion variant and baseline
        m = json.loads((repo / f"results/sdss/{'baselines/' if model.startswith('cnn') else ''}{model}/metrics.json").read_text())
        row = table[(model, "accuracy")]
        assert row[3] == format_value(pub[model]["accuracy"])
        assert row[4].startswith(format_value(100 * m["accuracy"])), row
