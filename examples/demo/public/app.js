// Shows action errors (lc:error) in the page's status line; clears it on success.
const flash = () => document.querySelector('[data-flash]');
document.addEventListener('lc:error', (event) => {
  const { error, code, retry_after: retryAfter } = event.detail;
  const el = flash();
  if (el) el.textContent = retryAfter ? `${error} (retry in ${retryAfter} s)` : `${error} [${code}]`;
});
document.addEventListener('lc:success', () => {
  const el = flash();
  if (el) el.textContent = '';
});
