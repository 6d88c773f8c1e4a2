"""The HTML report of the embedded run, opened in a real headless Chromium.

``snakemake --report`` gathers every figure and key table view with its caption; the browser then
walks the report as a reader would: each method in the menu, each result's view button, each
image decoded. A screenshot is kept as a test artefact (``INTERPFLOW_TEST_ARTEFACTS``, default
``test-artefacts/``).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest
import yaml

from interpflow.registry import METHODS as REGISTERED
from tests.conftest import ROOT
from tests.workflow_helpers import UMASK, snakemake

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Every registered method the embedded overlay runs (it runs each one): one report category each.
METHODS = sorted(
    name for name in REGISTERED if name in yaml.safe_load((ROOT / "overlays" / "embedded.yaml").read_text())
)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# The flags the issue names, plus a fresh profile and a fixed window.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--window-size=1600,1000",
]
ARTEFACTS = Path(os.environ.get("INTERPFLOW_TEST_ARTEFACTS", ROOT / "test-artefacts"))


@pytest.fixture(scope="module")
def built_report(local_run):
    result = snakemake(local_run.workdir, "--report", "report.html")
    return local_run.workdir / "report.html", result.stdout + result.stderr


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})")
        pytest.skip("no chromium/chromedriver here (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def expected_results(workdir: Path) -> dict[str, set[str]]:
    """method -> the PNG figures, table views and comparison the run wrote for it (paths relative to workdir)."""
    expected = {}
    for method in METHODS:
        folder = workdir / "results" / method
        files = [*folder.rglob("figures/**/*.png"), *folder.rglob("tables/*.html"), folder / "comparison.png"]
        expected[method] = {path.relative_to(workdir).as_posix() for path in files}
    return expected


def subcategories(workdir: Path, method: str) -> set[str]:
    """The report's groups within a method: one per run (``instance · model``) and the comparison."""
    runs = {f"{run.parent.name} · {run.name}" for run in (workdir / "results" / method).glob("*/*") if run.is_dir()}
    return runs | {"comparison"}


def open_report(browser, path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    browser.get(path.as_uri())
    WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.TAG_NAME, "nav")))


def test_captions_render_without_errors(built_report):
    _, output = built_report
    assert "Report created." in output
    assert "ERROR/" not in output and "WARNING/" not in output, output  # docutils messages from a caption


def test_the_report_follows_the_umask(built_report):
    """Written under umask 002 (:data:`~tests.workflow_helpers.UMASK`), as the run's own files are
    (test_file_modes.py): colleagues in the group can read it."""
    path, _ = built_report
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~UMASK


def test_every_result_is_in_the_report_with_a_caption(built_report, local_run, browser):
    path, _ = built_report
    open_report(browser, path)
    categories = browser.execute_script("return categories")
    results = browser.execute_script("return results")
    assert sorted(categories) == METHODS
    expected = expected_results(local_run.workdir)
    for method in METHODS:
        assert set(categories[method]) == subcategories(local_run.workdir, method)
        assert len(categories[method]) >= 2  # every run on the embedded model, and the comparison
        shown = {path for results in categories[method].values() for path in results}
        assert shown == expected[method]
        assert categories[method]["comparison"] == [f"results/{method}/comparison.png"]
    fronts = results["results/streaming_sae/comparison.png"]["caption"]  # the sweep's Pareto fronts
    assert "Pareto fronts" in fronts and "ce_loss_score" in fronts
    for name, result in results.items():
        caption = result["caption"]
        assert "How to read" in caption or "/tables/" in name, name
        assert "system-message" not in caption and "{{" not in caption, name


def test_every_method_section_shows_every_figure(built_report, local_run, browser):
    """Click each method and each of its groups, then each result's view button, as a reader would;
    every image must decode."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    path, _ = built_report
    open_report(browser, path)
    expected = expected_results(local_run.workdir)
    menu = browser.find_element(By.TAG_NAME, "nav").text
    assert all(method in menu for method in METHODS), menu
    groups = browser.execute_script("return categories")
    shown, previous = {}, None
    for method in METHODS:
        browser.find_element(By.XPATH, f"//nav//*[text()='{method}']").click()
        for group in sorted(groups[method]):  # each run (instance · model) and the comparison
            browser.find_element(By.XPATH, f"//nav//*[text()='{group}']").click()
            n_rows = len(browser.find_elements(By.XPATH, "//nav//table/tbody/tr"))
            for index in range(n_rows):
                row = browser.find_elements(By.XPATH, "//nav//table/tbody/tr")[index]
                row.find_element(By.XPATH, ".//a[@iconname='eye']").click()
                view = WebDriverWait(browser, 10).until(lambda driver, before=previous: new_view(driver, before))
                previous = view["path"]
                if view["kind"] == "iframe":
                    view["table_rows"] = table_rows_in_frame(browser)
                shown[view["path"]] = view | {"method": method}
            if method == "subspace_removal" and group == "comparison":
                ARTEFACTS.mkdir(parents=True, exist_ok=True)
                browser.save_screenshot(str(ARTEFACTS / "report.png"))
            browser.find_element(By.XPATH, f"//nav//ol//a[text()='{method}']").click()  # back up one level
        browser.find_element(By.XPATH, "//nav//a[text()='Results']").click()
    for method in METHODS:
        assert {name for name, view in shown.items() if view["method"] == method} == expected[method]
    fronts = shown["results/streaming_sae/comparison.png"]  # training curves and the sweep's two Pareto fronts
    assert fronts["width"] > 2.5 * fronts["height"], fronts
    for name, view in shown.items():
        if name.endswith(".png"):
            assert view["kind"] == "img" and view["width"] > 100 and view["height"] > 100, (name, view)
        else:
            assert view["kind"] == "iframe" and view["table_rows"] >= 1, (name, view)
    assert (ARTEFACTS / "report.png").stat().st_size > 10_000


def new_view(driver, previous: str | None) -> dict | None:
    """The result (by path) the content pane shows, once it differs from ``previous`` and has loaded."""
    return driver.execute_script(
        """
        const previous = arguments[0];
        const pathOf = new Map(Object.entries(results).map(([path, result]) => [result.data_uri, path]));
        for (const img of document.querySelectorAll('img')) {
            const path = pathOf.get(img.getAttribute('src'));
            if (path && path !== previous && img.complete) {
                return {kind: 'img', path: path, width: img.naturalWidth, height: img.naturalHeight};
            }
        }
        for (const frame of document.querySelectorAll('iframe')) {
            const path = pathOf.get(frame.getAttribute('src'));
            if (path && path !== previous) return {kind: 'iframe', path: path};
        }
        return null;
        """,
        previous,
    )


def table_rows_in_frame(browser) -> int:
    """Rows of the HTML table inside the content pane's frame."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    try:
        return WebDriverWait(browser, 10).until(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "tbody tr")))
    finally:
        browser.switch_to.default_content()


def test_the_top_contexts_page_sorts_latents_by_each_statistic(local_run, browser):
    """The corpus SAE's page, as a reader uses it: click a statistic's header, the latents reorder by it."""
    from selenium.webdriver.common.by import By

    run = local_run.workdir / "results" / "streaming_sae" / "demo_topk" / "embedded"
    latents = pd.read_parquet(run / "latents.parquet")
    browser.get((run / "tables" / "top_contexts.html").as_uri())
    headers = {header.text.rstrip(" ▲▼"): header for header in browser.find_elements(By.TAG_NAME, "th")}
    assert list(headers)[:4] == ["latent", "density", "mean activation", "food score"]

    def column(index: int) -> list[float]:
        return browser.execute_script(
            "const rows = Array.from(document.querySelectorAll('tbody tr'));"
            "return rows.map(row => Number(row.cells[arguments[0]].dataset.value));",
            index,
        )

    shown = latents[latents["density"] > 0]
    assert len(column(0)) == len(shown) and browser.find_elements(By.TAG_NAME, "mark")
    # Each row draws its histogram and logit tokens, and shades its contexts' tokens by activation.
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.histogram")) == len(shown)
    assert browser.find_elements(By.CSS_SELECTOR, "td.logits span")
    shades = browser.execute_script(
        "return Array.from(document.querySelectorAll('.context span')).map(s => getComputedStyle(s).backgroundColor);"
    )
    assert len(set(shades)) > 2 and any(shade.startswith("rgba(244, 164, 96") for shade in shades)
    for index, name in enumerate(["density", "mean activation", "food score"], start=1):
        headers[name].click()
        values = column(index)
        assert values == sorted(values, reverse=True) and len(set(values)) > 1, name
        headers[name].click()
        assert column(index) == sorted(values), name
    headers["latent"].click()
    assert column(0) == sorted(shown["latent"], reverse=True)
