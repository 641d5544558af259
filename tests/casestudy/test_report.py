"""casestudy.report.render_html: the headline, the table, the charts, one self-contained page."""

import re
from html.parser import HTMLParser

import pytest

from casestudy.report import headline, render_html
from tests.casestudy.report_results import LIST_SCHEDULE, RESULTS, results


class Page(HTMLParser):
    """What a browser would fetch or run: every tag's URL attributes, every script, the text of each element id."""

    def __init__(self, html: str):
        super().__init__()
        self.urls, self.tags, self.ids, self.cells = [], [], {}, []
        self._open_id, self._in_cell = None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        for name in ("src", "href", "xlink:href", "data", "action", "poster"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if attrs.get("id"):
            self.ids[attrs["id"]] = ""
            self._open_id = attrs["id"]
        if tag == "td":
            self._in_cell = attrs.get("class") or ""

    def handle_data(self, data):
        if self._open_id is not None:
            self.ids[self._open_id] += data
        if self._in_cell is not None:
            self.cells.append((self._in_cell, data.strip()))
            self._in_cell = None

    def handle_endtag(self, tag):
        self._open_id = None if tag == "p" else self._open_id


@pytest.fixture
def rendered(tmp_path):
    path = render_html(RESULTS, tmp_path)
    return path, path.read_text(encoding="utf-8")


def test_the_report_is_written_as_casestudy_html_in_the_folder_given(tmp_path):
    folder = tmp_path / "var" / "reports"  # made if missing
    path = render_html(RESULTS, folder)
    assert path == folder / "casestudy.html"
    assert path.is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["casestudy.html"]  # no temporary file left beside it


def test_the_headline_says_how_many_customers_the_naive_design_charged_twice_and_the_refined_zero(rendered):
    _, html = rendered
    page = Page(html)
    assert page.ids["headline"].strip() == "naive: 37 customers charged twice, balance drift 48,100; refined: 0"
    assert page.ids["also-failed"].strip() == (
        "The naive design also: 5 payments lost, 9 events lost, 3 events duplicated, 4 events for payments never made."
    )


def test_a_refined_design_that_failed_is_named_in_the_headline_not_hidden(tmp_path):
    bad = results(refined={**RESULTS["refined"], "double_charges": 2, "balance_drift": -500})
    assert headline(bad).endswith("; refined: 2 customers charged twice, balance drift -500")
    html = render_html(bad, tmp_path).read_text()
    assert "refined-failed" in html


def test_the_table_has_every_figure_of_every_design_and_marks_each_failure(rendered):
    _, html = rendered
    header = re.search(r'<table id="comparison">.*?</thead>', html, re.S).group(0)
    assert [c for c in re.findall(r'<th scope="col">(\w+)</th>', header)] == ["naive", "refined", "sync", "async"]
    for key in ("attempted", "double_charges", "lost_payments", "balance_drift", "events_lost", "events_duplicated"):
        assert f'data-key="{key}"' in html
    for key in ("p50_ms", "p99_ms", "per_second", "final_status_p50_ms", "final_status_p99_ms", "known_at_once"):
        assert f'data-key="{key}"' in html
    bad = [text for css, text in Page(html).cells if css == "bad"]
    assert bad == ["37", "5", "48,100", "9", "3", "4"]  # the naive design's six failures, nothing else


def test_the_charts_are_inline_svg_and_the_page_fetches_and_runs_nothing(rendered):
    _, html = rendered
    page = Page(html)
    for chart in ("chart-failures", "chart-latency", "chart-faults"):
        assert re.search(rf'<figure id="{chart}" class="chart">\s*<svg', html), chart
    assert page.tags.count("svg") == 3
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert not [url for url in page.urls if not url.startswith("#")]  # only the SVGs' own references
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_the_charts_carry_their_figures_as_text(rendered):
    _, html = rendered
    failures = re.search(r'<figure id="chart-failures".*?</figure>', html, re.S).group(0)
    for text in ("customers charged twice", "balance drift (minor units)", "48,100", "37", "naive", "refined"):
        assert f">{text}<" in failures, text
    latency = re.search(r'<figure id="chart-latency".*?</figure>', html, re.S).group(0)
    for text in ("sync", "async", "5,100", "36,000"):
        assert f">{text}<" in latency, text
    timeline = re.search(r'<figure id="chart-faults".*?</figure>', html, re.S).group(0)
    for fault in RESULTS["fault_schedule"]["designs"]:
        assert f">{fault['kind']} (naive, refined)<" in timeline
    assert ">processor_stall (sync, async)<" in timeline


def test_figures_beyond_the_required_ones_are_in_the_table_and_objects_are_not(rendered):
    _, html = rendered
    for key in ("customers_charged", "extra_charges", "client_timeout_seconds"):
        assert f'data-key="{key}"' in html
    assert 'data-key="faults_injected"' not in html and 'data-key="outage"' not in html


def test_the_fault_schedule_is_listed_with_each_window_and_its_phases(rendered):
    _, html = rendered
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", html)
    assert rows == [
        ("4.9", "", "webhook_replay", "naive, refined", "param=12"),
        ("14.2", "22", "processor_latency", "naive, refined", "param=6500"),
        ("24.9", "30.1", "web_kill_in_flight", "naive, refined", "mid=26.4"),
        ("34.8", "41", "redis_down", "naive, refined", ""),
        ("45", "50.2", "webhook_duplicates", "naive, refined", "acquirer=sandbox"),
        ("15.3", "33", "processor_stall", "sync, async", "acquirer=sandbox"),
    ]


def test_a_schedule_given_as_one_list_is_played_in_every_phase(tmp_path):
    html = render_html(results(fault_schedule=LIST_SCHEDULE), tmp_path).read_text()
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", html)
    assert rows == [
        ("6.1", "", "client_timeout_retry", "every phase"),
        ("9.5", "17", "processor_latency", "every phase"),
        ("19.2", "", "web_kill_in_flight", "every phase"),
        ("37", "45", "redis_down", "every phase"),  # a window given as a duration
    ]
    timeline = re.search(r'<figure id="chart-faults".*?</figure>', html, re.S).group(0)
    assert ">redis_down<" in timeline


def test_what_each_mode_saw_during_the_outage_is_a_table(rendered):
    _, html = rendered
    outage = re.search(r'<table id="outage">.*?</table>', html, re.S).group(0)
    assert re.findall(r'<th scope="col">(\w+)</th>', outage) == ["sync", "async"]
    assert "<td>gave_up: 62, 200 processing: 18</td><td>202 processing: 170</td>" in outage
    assert "<td>15.3 – 33</td>" in outage
    assert '<th scope="row">last final status after resume seconds</th><td>21.4</td><td>24.9</td>' in outage


def test_the_same_results_give_the_same_bytes(tmp_path):
    first = render_html(RESULTS, tmp_path / "a").read_bytes()
    second = render_html(results(), tmp_path / "b").read_bytes()
    assert first == second


def test_names_from_the_results_are_escaped_in_the_page_and_in_the_charts(tmp_path):
    hostile = "<script>alert(1)</script>"
    schedule = {"designs": [{"at": 3, "kind": hostile, "note": hostile}], hostile: [{"at": 1, "kind": "x"}]}
    html = render_html(results(fault_schedule=schedule), tmp_path).read_text()
    assert hostile not in html
    assert "script" not in Page(html).tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_run_missing_a_mode_or_a_figure_still_gets_a_report(tmp_path):
    partial = results(refined={"attempted": 10}, fault_schedule={})
    del partial["sync"], partial["async"]
    html = render_html(partial, tmp_path).read_text()
    page = Page(html)
    assert (
        page.ids["headline"]
        .strip()
        .endswith(  # a figure not given is not a zero
            "refined: not measured: customers charged twice, payments lost, balance drift (minor units), events lost, "
            "events duplicated"
        )
    )
    assert re.findall(r'<th scope="col">(\w+)</th>', html) == ["naive", "refined"]
    assert "No faults in this run." in html
    assert 'id="outage"' not in html
    assert page.tags.count("svg") == 3


def test_a_new_report_replaces_the_old_one(tmp_path):
    render_html(RESULTS, tmp_path)
    path = render_html(results(seed=99), tmp_path)
    assert "Seed 99," in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["casestudy.html"]
