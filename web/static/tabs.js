// ARIA tabs (role=tablist/tab/tabpanel, arrow keys, Home/End) over panels that are plain sections
// without script: the page still works, and prints, with every panel shown.

/** Make `list`'s tabs switch their panels; `initial` names the first one shown. */
export function startTabs(list, initial) {
  const tabs = [...list.querySelectorAll('[role="tab"]')];
  const panelOf = (tab) => document.getElementById(tab.getAttribute('aria-controls'));
  for (const tab of tabs) {
    const panel = panelOf(tab);
    panel.setAttribute('role', 'tabpanel');
    panel.setAttribute('aria-labelledby', tab.id);
  }

  function select(name, focus = false) {
    const chosen = tabs.find((t) => t.dataset.tab === name) ?? tabs[0];
    for (const tab of tabs) {
      const on = tab === chosen;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;  // one tab stop; the arrows move between tabs
      panelOf(tab).hidden = !on;
    }
    if (focus) chosen.focus();
  }

  list.addEventListener('click', (event) => {
    const tab = event.target.closest('[role="tab"]');
    if (tab) select(tab.dataset.tab);
  });
  list.addEventListener('keydown', (event) => {
    const at = tabs.indexOf(document.activeElement);
    if (at < 0) return;
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    select(tabs[(to + tabs.length) % tabs.length].dataset.tab, true);
  });
  list.hidden = false;
  select(initial);
  return { select };
}
