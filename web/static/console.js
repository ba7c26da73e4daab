// The operator console's one action of its own: revoking every operator link, after a confirm step
// (the <details> box). The form posts by itself without scripts; with them, a failure is shown here.

import { api, errorText } from './api.js';
import { readData, translator } from './i18n.js';
import { showAlert } from './ui.js';

const page = readData('console-data') ?? { messages: {} };
const tr = translator(page.messages);
const form = document.getElementById('revoke-operator-form');
const alertBox = document.getElementById('revoke-operator-alert');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    await api('POST', form.action);
    // This browser's operator session ended with the links: the landing page says so.
    location.assign('/?notice=operator-links-revoked');
  } catch (err) {
    showAlert(alertBox, 'error', errorText(err, tr));
    alertBox.focus();
    button.disabled = false;
  }
});
