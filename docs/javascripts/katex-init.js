// Render the math that pymdownx.arithmatex (generic mode) leaves as \( ... \) and \[ ... \], with the
// KaTeX files vendored in assets/katex (no CDN). Material's document$ fires on every page load.
// A formula KaTeX cannot parse is shown in red with class "katex-error" (tests/test_docs_site.py looks for it).
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
    ],
    throwOnError: false,
    errorCallback: console.error,
  });
});
