"""The dashboard in a real headless browser: pages load without console errors, a history chart
shows one point per stored run, and a stored step is marked where it happened."""

from __future__ import annotations

from datetime import datetime

import pytest

from lmgauge.cli.main import main
from tests.browser import browser_page, chromium_path
from tests.test_store import step_series

pytest.importorskip("playwright", reason="the dashboard tests drive Chromium with Playwright")
if chromium_path() is None:
    pytest.skip("no Chromium to test the dashboard in: apt-get install chromium",
                allow_module_level=True)  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard")
    store = f"sqlite:///{folder}/s.db"
    step_series(store, folder)
    assert main(["dashboard", "--store", store, "--out", str(folder / "site")]) == 0
    return folder / "site"


def chart(page, name: str):
    return page.evaluate(
        f"(() => {{ const c = document.getElementById('chart-{name}');"
        " return {traces: c.data.map(t => [t.name, t.x.length]),"
        " shapes: (c.layout.shapes || []).map(s => s.x0),"
        " notes: (c.layout.annotations || []).map(a => a.text)}; })()"
    )


def test_the_model_page_shows_every_run_and_marks_the_step(site, tmp_path):
    with browser_page() as page:
        page.goto((site / "model-gpt2-default.html").as_uri())
        page.wait_for_function("document.getElementById('chart-decode_step_seconds').data")
        decode = chart(page, "decode_step_seconds")
        page.screenshot(path=str(tmp_path / "gpt2.png"))
        assert page.errors == []
    assert sorted(count for _, count in decode["traces"]) == [10, 24]
    assert [datetime.fromisoformat(x).date().isoformat() for x in decode["shapes"]] == [
        "2026-11-15"
    ]
    assert decode["notes"][0].startswith("step +")


def test_the_index_loads_clean_and_links_every_model(site, tmp_path):
    with browser_page() as page:
        page.goto((site / "index.html").as_uri())
        links = page.eval_on_selector_all("li a", "links => links.map(a => a.textContent)")
        page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
        assert page.errors == []
    assert links == ["gpt2 (default)", "gpt2-medium (default)"]
    assert (site / "plotly.min.js").stat().st_size > 1_000_000, "the site needs no network"


def test_a_dashboard_folder_that_cannot_be_written_is_one_sentence(site, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = f"sqlite:///{site.parent}/s.db"
    assert main(["dashboard", "--store", store, "--out", str(blocker / "site")]) == 2
    assert "cannot write the dashboard into" in capsys.readouterr().err


def test_a_stored_ab_verdict_shows_on_the_index(tmp_path, capsys):
    import json

    store = f"sqlite:///{tmp_path}/s.db"
    verdict = {
        "format": "lmgauge-ab-report", "schema_version": 1, "created_utc": "2026-11-24T10:00:00",
        "status": "complete", "passed": False, "pairs": 4, "runs": [],
        "sides": {"base": {"description": "HEAD~1"}, "new": {"description": "HEAD"}},
        "rows": [{"model": "gpt2", "metric": "decode_step_seconds", "params": {}, "gated": True,
                  "fails_gate": True, "ratio": 1.2}],
    }  # fmt: skip
    path = tmp_path / "ab.json"
    path.write_text(json.dumps(verdict))
    assert main(["store", str(path), str(path), "--store", store]) == 0
    assert "already stored as A/B run 1" in capsys.readouterr().out
    stopped = {**verdict, "schema_version": 2, "created_utc": "2026-11-25T10:00:00", "pairs": 1,
               "judged": 0,
               "reasons": ["stopped after pair 1: b.py::t failed on the new side and in no base "
                           "run, so no later pair can pass this A/B run",
                           "test b.py::t: failed in call (RuntimeError: boom)"]}  # fmt: skip
    later = tmp_path / "ab2.json"
    later.write_text(json.dumps(stopped))
    assert main(["store", str(later), "--store", store]) == 0
    assert main(["dashboard", "--store", store, "--out", str(tmp_path / "site")]) == 0
    with browser_page() as page:
        page.goto((tmp_path / "site" / "index.html").as_uri())
        text = page.inner_text("body")
        assert page.errors == []
    assert "A/B verdicts" in text and "FAILED" in text and "gpt2 decode_step_seconds" in text
    assert "why it failed" in text and "stopped after pair 1: b.py::t" in text, (
        "a verdict's reasons are stored: the test that ended it, not unjudged figures")  # fmt: skip
    assert "gpt2 decode_step_seconds {}: failed (ratio 1.2)" in text, (
        "an older verdict: its failing figures")  # fmt: skip


def test_a_store_of_one_unnamed_run_reads_without_the_catalogue(tmp_path):
    """Issue 20: the index called a run without a name "nan", a chart of one run drew ticks a
    tenth of a millisecond apart, machines were named by CPU on one page and by host name on
    another, and chart titles were raw metric names."""
    from lmgauge.store.engine import open_store
    from lmgauge.store.writing import store_report
    from tests.test_store import dated

    store = f"sqlite:///{tmp_path}/s.db"
    document = dated(1, 0, host=None)
    document["run"]["name"] = None
    store_report(open_store(store), document)
    assert main(["dashboard", "--store", store, "--out", str(tmp_path / "site")]) == 0
    with browser_page() as page:
        page.goto((tmp_path / "site" / "index.html").as_uri())
        heading = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")[0]
        machine = page.eval_on_selector("h2 + p", "p => p.textContent")
        page.goto((tmp_path / "site" / "model-gpt2-default.html").as_uri())
        page.wait_for_function("document.getElementById('chart-decode_step_seconds').data")
        layout = page.evaluate(
            "(() => { const c = document.getElementById('chart-decode_step_seconds');"
            " return {title: c.layout.title.text, range: c._fullLayout.xaxis.range,"
            " traces: c.data.map(t => t.name)}; })()"
        )
        page.screenshot(path=str(tmp_path / "one-run.png"))
        assert page.errors == []
    assert heading == "Newest run: run 1"
    assert "AMD EPYC x2" in machine and "nan" not in machine
    assert layout["title"] == "Decode step: one new token (seconds; lower is better)"
    start, end = (datetime.fromisoformat(x[:19]) for x in layout["range"])
    assert (end - start).days >= 1, layout["range"]
    assert all(name.startswith("AMD EPYC x2") for name in layout["traces"])


def test_machines_are_named_the_same_way_on_every_page():
    from lmgauge.render.dashboard_charts import machine_label, series_label

    assert machine_label("AMD EPYC x2", "vm") == "AMD EPYC x2 (vm)"
    assert machine_label("Intel Xeon x2", float("nan")) == "Intel Xeon x2"
    assert series_label(("Intel Xeon x2", "", "{}")) == "Intel Xeon x2"
