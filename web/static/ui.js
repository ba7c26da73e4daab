// Small page helpers: alerts, busy buttons, copy buttons.

/**
 * Fill and show an alert box: kind is error, warning, info or success. `detail` is the server's own
 * (English) reason: shown after the message, marked lang="en" as technical detail, never instead of it.
 */
export function showAlert(el, kind, message, items = [], detail = null) {
  el.className = `alert alert-${kind}`;
  const p = document.createElement('p');
  p.className = 'alert-message';
  p.textContent = message;
  if (detail) {
    const small = document.createElement('small');
    small.className = 'technical-detail';
    small.lang = 'en';
    small.textContent = ` (${detail})`;
    p.append(small);
  }
  el.replaceChildren(p);
  if (items.length) {
    const ul = document.createElement('ul');
    for (const item of items) {
      const li = document.createElement('li');
      if (typeof item === 'string') {
        li.textContent = item;
      } else {
        const code = document.createElement('code');
        code.textContent = item.field;
        li.append(code, ` — ${item.reason}`);
      }
      ul.append(li);
    }
    el.append(ul);
  }
  el.hidden = false;
}

export function hideAlert(el) {
  el.hidden = true;
  el.replaceChildren();
}

/** Copy the value of the input named by a button's data-copy, and say so on the button. */
export function wireCopyButtons(tr) {
  document.addEventListener('click', async (event) => {
    const button = event.target.closest('[data-copy]');
    if (!button) return;
    const input = document.getElementById(button.dataset.copy);
    if (!input) return;
    let copied = true;
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      copied = document.execCommand('copy');
    }
    button.dataset.label ??= button.textContent;
    button.textContent = copied ? tr('js.copied') : tr('js.copy_failed');
    setTimeout(() => { button.textContent = button.dataset.label; }, 2500);
  });
}

/** Show/hide an element by the `hidden` attribute. */
export function show(el, visible) {
  if (el) el.hidden = !visible;
}
