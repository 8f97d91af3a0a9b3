"""The page's theme (system fonts only), CSS and the small script behind citation, copy and download links."""

from __future__ import annotations

import gradio as gr

CSS = """
#gq-main { gap: 16px; align-items: flex-start; }
@media (max-width: 800px) {
  #gq-main { flex-direction: column !important; flex-wrap: nowrap !important; }
  #gq-main > div { width: 100% !important; min-width: 0 !important; flex: 1 1 auto !important; }
  #gq-chat { height: 62vh !important; }
}
.gq-answer, .gq-user { line-height: 1.5; overflow-wrap: anywhere; }
.gq-quote { border-left: 4px solid var(--color-accent); margin: 0.2em 0 0.5em; padding: 0.35em 0.8em;
            background: var(--background-fill-secondary); color: var(--body-text-color); font-style: normal; }
.gq-marker { font-weight: 600; font-size: 0.85em; vertical-align: super; text-decoration: none; }
.gq-meta { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 0.3em 0; }
.gq-doc { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 0.3em 0.6em; margin: 0.35em 0; }
.gq-title { font-weight: 600; }
.gq-file { font-size: 0.85em; overflow-wrap: anywhere; }
.gq-cite { font-size: 0.9em; margin: 0.15em 0; }
.gq-verified { color: #15803d; font-weight: 600; }
.dark .gq-verified { color: #4ade80; }
.gq-active { outline: 2px solid var(--color-accent); border-radius: 3px; }
.gq-verdict { font-weight: 600; margin: 0.2em 0; }
.gq-heading { font-weight: 600; font-size: 0.9em; margin: 0.7em 0 0.2em; }
.gq-passage { border-left: 3px dashed var(--border-color-primary); padding: 0.2em 0.7em; margin: 0.35em 0; }
.gq-ptext { color: var(--body-text-color-subdued); }
.gq-error { color: var(--error-text-color); background: var(--error-background-fill);
            border: 1px solid var(--error-border-color); border-radius: 6px; padding: 0.3em 0.6em; margin: 0.3em 0; }
.gq-src-head { margin-bottom: 0.4em; display: flex; flex-wrap: wrap; gap: 0.2em 0.6em; align-items: baseline; }
.gq-src-loc { font-size: 0.85em; color: var(--body-text-color-subdued); }
.gq-src-note { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 0.2em 0 0.4em; }
.gq-src-empty { color: var(--body-text-color-subdued); padding: 0.5em 0; }
.gq-src-text { white-space: pre-wrap; overflow-wrap: anywhere; max-height: 62vh; overflow: auto; position: relative;
               line-height: 1.55; padding: 0.6em 0.8em; border: 1px solid var(--border-color-primary);
               border-radius: 6px; background: var(--background-fill-secondary); color: var(--body-text-color); }
#gq-highlight { background: var(--color-accent-soft);
                background: color-mix(in srgb, var(--color-accent) 28%, transparent);
                color: var(--body-text-color); border-radius: 2px; box-shadow: 0 0 0 2px var(--color-accent); }
.gq-more > summary { cursor: pointer; font-size: 0.85em; color: var(--body-text-color-subdued); margin: 0.3em 0; }
.gq-more .gq-quote { opacity: 0.85; }
.gq-page { display: block; text-align: center; font-size: 0.8em; color: var(--body-text-color-subdued);
           border-top: 1px dashed var(--border-color-primary); margin: 0.6em 0 0.3em; }
.gq-page::before { content: "page " attr(data-page); }
.gq-doclist { width: 100%; border-collapse: collapse; font-size: 0.9em; border: none !important; }
.gq-doclist th, .gq-doclist td { border: none; border-bottom: 1px solid var(--border-color-primary);
                                 text-align: left; padding: 0.25em 0.5em; overflow-wrap: anywhere; }
.gq-doclist td.gq-num { text-align: right; }
.gq-status-ok { color: var(--body-text-color); }
.gq-status-notes { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 0.2em 0 0 1.2em; }
#gq-examples button { flex: 0 1 auto !important; min-width: 0 !important; }
"""

# Gradio's sanitizer strips data-* attributes and scripts from chat messages, so citation, copy and
# download links are plain `#gq-<action>=<payload>` fragments; this handler catches them, writes the
# payload to `window.gqTarget` and clicks a hidden button whose event reads it (see ui.app).
HEAD = """<script>
(() => {
  if (window.gqInstalled) return;
  window.gqInstalled = true;
  const fire = (id, payload) => {
    window.gqTarget = payload;
    const button = document.getElementById(id);
    if (button) button.click();
  };
  const flash = (link, text) => {
    const old = link.textContent;
    link.textContent = text;
    setTimeout(() => { link.textContent = old; }, 1500);
  };
  async function copy(text, link) {
    let ok = false;
    try { await navigator.clipboard.writeText(text); ok = true; } catch (err) {
      const ta = document.createElement('textarea');
      ta.value = text; ta.setAttribute('readonly', ''); ta.style.position = 'fixed'; ta.style.opacity = '0';
      document.body.appendChild(ta); ta.select();
      try { ok = document.execCommand('copy'); } catch (err2) { ok = false; }
      ta.remove();
    }
    window.gqCopied = ok ? text : null;
    flash(link, ok ? 'copied \\u2713' : 'copy failed');
  }
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[href^="#gq-"]');
    if (!a) return;
    e.preventDefault(); e.stopPropagation();
    const href = a.getAttribute('href'), eq = href.indexOf('=');
    const action = href.slice(4, eq);
    let payload;
    try { payload = decodeURIComponent(href.slice(eq + 1)); } catch (err) { return; }
    if (action === 'cite') {
      document.querySelectorAll('.gq-active').forEach((x) => x.classList.remove('gq-active'));
      a.classList.add('gq-active');
      fire('gq-open', payload);
    } else if (action === 'json') {
      fire('gq-json', payload);
    } else if (action === 'copy') {
      copy(payload, a);
    }
  }, true);
  window.gqShowHighlight = () => {
    const go = () => {
      const mark = document.getElementById('gq-highlight'), box = document.getElementById('gq-src-text');
      if (!mark || !box) return;
      box.scrollTop = Math.max(0, mark.offsetTop - box.clientHeight / 3);
      if (window.innerWidth <= 800) {
        const col = document.getElementById('gq-source-col');
        if (col) col.scrollIntoView({ block: 'start' });
      }
    };
    setTimeout(go, 60); setTimeout(go, 400);
  };
  // After an answer: scroll the chat so the latest question is at the top (not the answer's end).
  window.gqShowLatest = () => {
    const go = () => {
      const turns = document.querySelectorAll('#gq-chat .gq-user');
      const last = turns[turns.length - 1];
      if (!last) return;
      let box = last.parentElement;
      const scrolls = (el) => el.scrollHeight > el.clientHeight + 4
        && /(auto|scroll)/.test(getComputedStyle(el).overflowY);
      while (box && !scrolls(box)) box = box.parentElement;
      if (!box || box === document.body || box === document.documentElement) return;
      box.scrollTop += last.getBoundingClientRect().top - box.getBoundingClientRect().top - 12;
    };
    setTimeout(go, 80); setTimeout(go, 400);
  };
  window.gqDownload = (text) => {
    if (!text) return;
    const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url; a.download = 'groundqa-answer.json';
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 2000);
  };
})();
</script>"""


def theme() -> gr.themes.Base:
    """System fonts only: the default theme fetches web fonts, which an offline machine cannot."""
    return gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def launch_options() -> dict:
    """The `Blocks.launch` keywords that style the page and install its script."""
    return {"theme": theme(), "css": CSS, "head": HEAD, "footer_links": ["api"]}
