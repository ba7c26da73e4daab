// The printable link sheet: its Print button (the strict CSP allows no inline handler).

document.getElementById('sheet-print')?.addEventListener('click', () => window.print());
