// Copy buttons work before (and without) the WebAssembly: one listener for the whole page,
// loaded with the page's script nonce, since the content security policy forbids inline handlers.
document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-copy], button[data-copy-from]');
  if (!button) return;
  const text = button.dataset.copy ?? document.getElementById(button.dataset.copyFrom)?.textContent ?? '';
  navigator.clipboard.writeText(text).then(() => {
    button.textContent = 'Copied';
  });
});
