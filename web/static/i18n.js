// Messages for scripts: the page passes its catalogue in a JSON data block.

/** The parsed JSON of a `<script type="application/json" id=...>` block, or null. */
export function readData(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

/** `tr(key, {name: value})` over a catalogue; `{name}` placeholders as in web/messages.py. */
export function translator(messages) {
  return (key, values = {}) => {
    const text = messages[key];
    if (text === undefined) return key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  };
}
