"""The chat in a real headless Chromium: ask with Enter, click a citation, upload, phone and dark mode.

Hostile documents (script and onerror markup as text, and in a file name) must show as text and
never run. Saves the screenshots in $GROUNDQA_SCREENSHOTS (the README's are made with
`GROUNDQA_SCREENSHOTS=docs`), else in the system's temp folder. Skipped, with the reason, when Chromium is missing.
"""

import json
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from urllib.parse import unquote

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
HOSTILE_HTML = """<html><head><title>Zebra quartz notes</title></head><body>
<p>The zebra quartz mine opened in 1911 near Tallow Creek.</p>
<p>&lt;script&gt;alert("xss-text")&lt;/script&gt; Zebra quartz is mined by hand.</p>
<p>Zebra quartz <img src=x onerror="alert('xss-img')"> has black and white bands.</p>
</body></html>
"""
HOSTILE_MD = 'Zebra quartz <script>alert("xss-md")</script> prices rose in 1920 <img src=x onerror=alert(2)>.\n'
HOSTILE_NAME = "<img src=x onerror=alert(7)>.md"
TALLOW = ("Tallow Creek history\n\nThe Tallow Creek zebra quartz mine opened in 1911, a year after the railway came.\n"
          "Miners cut the stone by hand until 1950.\n")

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not found at {CHROMIUM}: install it with "
                       "`apt-get install -y chromium` (or `make browser`) to run the browser tests"),
]


def _shot(name: str) -> str:
    """Where a screenshot goes: $GROUNDQA_SCREENSHOTS, else a folder under the system's temp dir."""
    folder = Path(os.environ.get("GROUNDQA_SCREENSHOTS") or Path(tempfile.gettempdir()) / "groundqa-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory, encoder):
    """A server over an index built here: two sample files, a plain text, and three hostile documents."""
    from qa import KnowledgeBase
    from ui import build_app, launch_options

    root = tmp_path_factory.mktemp("browser")
    docs = root / "docs"
    docs.mkdir()
    for name in ("honey-harvest-and-extraction.pdf", "varroa-mites.md"):
        shutil.copy(SAMPLES / name, docs / name)
    (docs / "tallow-creek.txt").write_text(TALLOW)
    (docs / "hostile.html").write_text(HOSTILE_HTML)
    (docs / "hostile.md").write_text(HOSTILE_MD)
    (docs / HOSTILE_NAME).write_text("Quartz banding notes: the black bands of zebra quartz are iron oxide.\n")
    here = os.getcwd()
    os.chdir(root)  # sources are shown relative to the working folder, as `groundqa index docs` would give
    try:
        kb = KnowledgeBase.build(["docs"], index_dir=root / "index", encoder=encoder, show_progress=False)
    finally:
        os.chdir(here)
    examples = ["When did the zebra quartz mine open?", "What is the maximum moisture content for extracted honey?"]
    app = build_app(kb, upload_dir=root / "uploads", examples=examples)
    app.queue()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    yield {"url": f"http://127.0.0.1:{port}/", "kb": kb, "root": root}
    app.close()


@pytest.fixture(scope="module")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Page:
    """A fresh browser page on the site that records dialogs (which only a script could open) and requests."""

    def __init__(self, chromium, url: str, **context):
        self.context = chromium.new_context(accept_downloads=True, **context)
        self.page = self.context.new_page()
        # A loaded 2-core machine (CI beside other jobs) can take long for an upload or a first answer.
        self.page.set_default_timeout(120_000)
        self.dialogs, self.requests = [], []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url, wait_until="networkidle")

    def ask(self, question: str, expect: str) -> str:
        """Type into the question box, press Enter, wait for the answer; its text."""
        answers = self.page.locator(".gq-answer")
        before = answers.count()
        box = self.page.locator("#gq-question textarea")
        box.fill(question)
        box.press("Enter")
        answers.nth(before).wait_for(timeout=120_000)
        text = answers.nth(before).inner_text()
        assert expect in text, text
        return text

    def open_documents(self) -> None:
        """Open the Documents panel. A click that lands before the page's scripts are ready is
        lost on a loaded machine, so click again until the upload field shows (each wait 30 s)."""
        upload = self.page.locator("#gq-upload")
        for _ in range(4):
            if upload.is_visible():
                return
            self.page.locator("#gq-documents > button").first.click()
            try:
                upload.wait_for(state="visible", timeout=30_000)
                return
            except Exception as exc:  # playwright's TimeoutError; the package is imported only when present
                if type(exc).__name__ != "TimeoutError":
                    raise
        upload.wait_for(state="visible")

    def open_citation(self, link, shown: str) -> None:
        """Click a citation until the source panel holds `shown` (a JS expression); like a
        panel's button, a click can be lost on a loaded machine, so it is tried again (30 s each)."""
        for attempt in range(4):
            link.click()
            try:
                self.page.wait_for_function(shown, timeout=30_000)
                return
            except Exception as exc:  # playwright's TimeoutError; the package is imported only when present
                if type(exc).__name__ != "TimeoutError" or attempt == 3:
                    raise

    def close(self):
        self.context.close()


@pytest.fixture
def open_page(chromium, site):
    pages = []

    def make(**context):
        pages.append(Page(chromium, site["url"], **context))
        return pages[-1]

    yield make
    for p in pages:
        assert not p.dialogs, f"a script from document text ran: {p.dialogs}"
        outside = [u for u in p.requests if not u.startswith(("http://127.0.0.1", "blob:", "data:"))]
        assert not outside, f"the page fetched from outside this machine: {outside}"
        p.close()


def target_of(link) -> tuple[str, int, int]:
    href = link.get_attribute("href")
    doc_id, start, end, _ = unquote(href.split("=", 1)[1]).rsplit(":", 3)
    return doc_id, int(start), int(end)


def test_browser_question_box_is_the_first_text_field(open_page):
    page = open_page(viewport=DESKTOP).page
    # A loaded machine may still be mounting components after the network is idle: wait for the
    # page's last panel before asking which text field comes first.
    for selector in ("#gq-question textarea", "#gq-documents", "#gq-source"):
        page.locator(selector).first.wait_for(state="attached")
    first = page.evaluate("(() => { const t = document.querySelector('textarea');"
                          " return t ? (t.closest('[id]') || {}).id || t.outerHTML.slice(0, 120) : null })()")
    assert first == "gq-question" or page.evaluate(
        "document.querySelector('textarea').closest('#gq-question') !== null"), f"the first text field is {first}"


def test_browser_ask_with_enter_shows_quote_citation_and_highlighted_source(open_page, site):
    p = open_page(viewport=DESKTOP)
    page, kb = p.page, site["kb"]
    p.ask("What is the maximum moisture content for extracted honey?", "18.6%")
    text = p.ask("When did the zebra quartz mine open?", "1911")
    assert "chars " in text and "verified" in text
    assert re.search(r"hostile\.html|tallow-creek\.txt", text)
    assert "p. 1, chars" in page.locator(".gq-answer").first.inner_text()  # a PDF citation gives its page
    page.wait_for_timeout(300)
    page.screenshot(path=_shot("screenshot-chat.png"))

    marker = page.locator(".gq-answer").last.locator(".gq-marker").first
    doc_id, start, end = target_of(marker)
    marker.click()
    mark = page.locator("#gq-source mark")
    mark.wait_for()
    expected = kb.document(doc_id).text[start:end]
    assert mark.text_content() == expected and "1911" in expected
    assert kb.document(doc_id).source in page.locator("#gq-source").inner_text()

    # The whole document keeps the same exact highlight and scrolls it into view.
    page.locator("#gq-whole input").check()
    page.wait_for_function("!document.querySelector('#gq-source').innerText.includes('Showing characters')")
    page.wait_for_timeout(600)
    assert page.locator("#gq-source mark").text_content() == expected
    assert page.locator("#gq-source").inner_text().count(expected) >= 1
    box, hl = page.locator("#gq-src-text").bounding_box(), page.locator("#gq-highlight").bounding_box()
    assert box["y"] <= hl["y"] <= box["y"] + box["height"]

    # A citation line (not only the marker) opens its span too, here in the PDF.
    page.locator("#gq-whole input").uncheck()
    link = page.locator(".gq-answer").first.locator(".gq-cite-link").first
    doc_id, start, end = target_of(link)
    link.click()
    page.wait_for_function(f"document.querySelector('#gq-source').innerText.includes('chars {start}–{end}')")
    assert page.locator("#gq-source mark").text_content() == kb.document(doc_id).text[start:end]
    assert f"p. {kb.document(doc_id).page_at(start)}, chars {start}–{end}" in page.locator("#gq-source").inner_text()
    marker.click()
    page.wait_for_function(f"document.querySelector('#gq-source mark').textContent.includes('1911')")
    page.wait_for_timeout(600)
    page.screenshot(path=_shot("screenshot-source.png"))


def test_browser_hostile_documents_show_as_text_and_never_run(open_page, site):
    p = open_page(viewport=DESKTOP)
    page = p.page
    text = p.ask("How did zebra quartz prices change?", "1920")
    assert '<script>alert("xss-md")</script>' in text and "<img src=x onerror=alert(2)>" in text
    p.ask("How is zebra quartz mined?", 'alert("xss-text")')
    p.ask("What are the black bands of zebra quartz?", "iron oxide")
    answer = page.locator(".gq-answer").last
    assert HOSTILE_NAME in answer.inner_text()  # the file name, as text
    cited = answer.locator(".gq-doc", has_text=HOSTILE_NAME).first
    if not cited.is_visible():
        answer.locator(".gq-more summary").click()
    p.open_citation(cited.locator(".gq-cite-link").first,
                    "document.querySelector('#gq-source').innerText.includes('onerror=alert(7)')")
    assert HOSTILE_NAME in page.locator("#gq-source").inner_text()
    p.open_documents()
    assert HOSTILE_NAME in page.locator("#gq-doclist").inner_text()
    # Nothing from the documents became an element.
    assert page.locator("#gq-chat img, #gq-source img, #gq-doclist img").count() == 0
    assert page.evaluate("[...document.scripts].filter(s => s.textContent.includes('xss')).length") == 0
    page.wait_for_timeout(500)
    assert not p.dialogs


def test_browser_copy_and_json_download(open_page, site):
    p = open_page(viewport=DESKTOP)
    page = p.page
    p.context.grant_permissions(["clipboard-read", "clipboard-write"])
    question = "When did the zebra quartz mine open?"
    p.ask(question, "1911")
    answer = page.locator(".gq-answer").last
    copies = answer.locator(".gq-copy")
    copies.nth(1).click()  # Markdown
    page.wait_for_function("window.gqCopied != null")
    copied = page.evaluate("window.gqCopied")
    quote = site["kb"].ask(question).quotes[0]
    assert copied.startswith("> " + quote.text.splitlines()[0])
    assert f"`{quote.source}`" in copied and f"chars {quote.start}–{quote.end}" in copied
    assert page.evaluate("navigator.clipboard.readText()") == copied
    with page.expect_download() as download:
        answer.locator(".gq-json").click()
    data = json.loads(Path(download.value.path()).read_text())
    assert data["question"] == question and data["quotes"][0]["text"] == quote.text
    assert data["quotes"][0]["verified"] is True and data["provenance"]["index_id"]


def test_browser_upload_a_file_then_ask_about_it(open_page, site, tmp_path):
    p = open_page(viewport=DESKTOP)
    page = p.page
    new = tmp_path / "lighthouse.md"
    new.write_text("# Lighthouse log\n\nThe Gull Point lighthouse was first lit on 3 March 1872 by keeper "
                   "Ada Brennan.\n")
    p.open_documents()
    page.locator("#gq-upload input[type=file]").set_input_files(str(new))
    page.locator("#gq-upload").get_by_text("lighthouse.md").first.wait_for()
    page.locator("#gq-add").click()
    page.wait_for_function("document.querySelector('#gq-upload-status').innerText.includes('added')", timeout=120000)
    assert "lighthouse.md" in page.locator("#gq-upload-status").inner_text()
    assert "Lighthouse log" in page.locator("#gq-doclist").inner_text()
    text = p.ask("When was the Gull Point lighthouse first lit?", "1872")
    assert "lighthouse.md" in text
    assert (site["root"] / "uploads" / "lighthouse.md").is_file()

    pick = page.locator("#gq-remove-pick input")
    pick.click()
    pick.fill("lighthouse")
    page.get_by_role("option", name="Lighthouse log — uploads/lighthouse.md").click()
    page.locator("#gq-remove").click()
    page.wait_for_function("document.querySelector('#gq-upload-status').innerText.includes('removed')", timeout=120000)
    assert "Lighthouse log" not in page.locator("#gq-doclist").inner_text()
    assert not (site["root"] / "uploads" / "lighthouse.md").exists()


def test_browser_phone_layout_stacks_the_source_panel_under_the_chat(open_page):
    p = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page = p.page
    p.ask("What is the maximum moisture content for extracted honey?", "18.6%")
    page.wait_for_timeout(300)
    page.screenshot(path=_shot("screenshot-phone.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    chat, source = page.locator("#gq-chat-col").bounding_box(), page.locator("#gq-source-col").bounding_box()
    assert source["y"] >= chat["y"] + chat["height"] - 1 and source["width"] > 0.8 * PHONE["width"] - 40
    page.locator(".gq-answer .gq-marker").first.click()
    page.locator("#gq-source mark").wait_for()
    page.wait_for_timeout(600)
    assert page.locator("#gq-source mark").is_visible()


def contrast(page, selector: str) -> float:
    """WCAG contrast ratio of an element's text colour against the first opaque background behind it."""
    return page.evaluate("""(sel) => {
      const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
      const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                                   return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
      const el = document.querySelector(sel);
      let bg = null;
      for (let n = el; n && !bg; n = n.parentElement) {
        const c = rgb(getComputedStyle(n).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) bg = c.slice(0, 3);
      }
      const fg = rgb(getComputedStyle(el).color).slice(0, 3);
      const [a, b] = [lum(fg), lum(bg || [255, 255, 255])].sort((x, y) => y - x);
      return (a + 0.05) / (b + 0.05);
    }""", selector)


def test_browser_dark_mode_is_readable(open_page):
    p = open_page(viewport=DESKTOP, color_scheme="dark")
    page = p.page
    assert "dark" in page.evaluate("document.body.className")
    p.ask("What is the maximum moisture content for extracted honey?", "18.6%")
    page.locator(".gq-answer .gq-marker").first.click()
    page.locator("#gq-source mark").wait_for()
    page.wait_for_timeout(600)
    page.screenshot(path=_shot("screenshot-dark.png"))
    for selector in (".gq-qtext", ".gq-cite", "#gq-src-text", ".gq-title"):
        assert contrast(page, selector) >= 4.5, selector
