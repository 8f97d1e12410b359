// Copy buttons (the API keys page): <button type="button" data-copy="#field">Copy</button> copies the
// field's value to the clipboard and says so in the page's #copy-status (read out by screen readers).
// A static file: the Content-Security-Policy allows no inline script.
"use strict";

function copyText(field) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(field.value);
  }
  field.select(); // plain http on a non-local host: the older API
  return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) {
    return;
  }
  const field = document.querySelector(button.dataset.copy);
  const status = document.getElementById("copy-status");
  if (!field) {
    return;
  }
  copyText(field).then(
    () => {
      button.textContent = button.dataset.copied || "Copied";
      if (status) {
        status.textContent = "The key is on your clipboard.";
      }
    },
    () => {
      field.select();
      if (status) {
        status.textContent = "Your browser did not allow copying: the key is selected, press Ctrl+C (⌘C).";
      }
    },
  );
});
