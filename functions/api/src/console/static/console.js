// hotline console: the little the pages need beyond HTML. Copy buttons copy the text of
// the element they name and say so; everything else works without this script.
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const status = button.nextElementSibling;
  if (!source) return;
  const text = source.textContent.trim();
  let said = "Copied";
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    // No clipboard permission (or no secure context): select the text for Ctrl-C.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    said = "Selected: press Ctrl-C (⌘-C) to copy";
  }
  if (status) status.textContent = said;
  button.dataset.copied = "true";
});
