// What host and participant pages share: showing a ceremony's state, and naming its events.

const PHASES = ['draft', 'frozen', 'open', 'signing', 'sealed'];

/** Update the badge, lifecycle track, run-of-show stepper and document panel from a state summary. */
export function applyState(summary, page, tr) {
  for (const badge of document.querySelectorAll('[data-state-badge]')) {
    badge.className = `badge badge-${summary.state}`;
    badge.textContent = tr(`state.${summary.state}`);
  }
  const track = document.getElementById('phases');
  if (track) {
    const at = PHASES.indexOf(summary.state);
    track.toggleAttribute('data-cancelled', summary.state === 'cancelled');
    for (const li of track.querySelectorAll('[data-phase]')) {
      const i = PHASES.indexOf(li.dataset.phase);
      li.classList.toggle('done', at >= 0 && i < at);
      li.classList.toggle('current', i === at);
      if (i === at) li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
    }
  }
  const current = page.segments.findIndex((s) => s.id === summary.segment);
  for (const li of document.querySelectorAll('#stepper [data-segment]')) {
    const i = page.segments.findIndex((s) => s.id === li.dataset.segment);
    li.classList.toggle('done', i < current);
    li.classList.toggle('current', i === current);
    if (i === current) li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  }
  const sha = summary.document_sha256;
  const shaEl = document.getElementById('doc-sha');
  if (shaEl) shaEl.textContent = sha || '';
  for (const [id, visible] of [['doc-frozen', !!sha], ['doc-draft', !sha], ['doc-download', !!sha]]) {
    const el = document.getElementById(id);
    if (el) el.hidden = !visible;
  }
}

/** The current segment's title, or null before the first one. */
export function segmentTitle(page, id) {
  const segment = page.segments.find((s) => s.id === id);
  return segment ? segment.title : id;
}

function shortSha(sha) {
  return sha ? `${sha.slice(0, 16)}…` : '';
}

function linkSubject(page, data) {
  if (data.venue) return page.venues.find((v) => v.id === data.venue)?.name ?? data.venue;
  if (data.signatory) return page.signatories.find((s) => s.id === data.signatory)?.name ?? data.signatory;
  return data.label || '';
}

function signatoryName(page, id) {
  return page.signatories?.find((s) => s.id === id)?.name ?? id;
}

/** A sentence for one timeline event, in the page language. */
export function describeEvent(event, page, tr) {
  const d = event.data || {};
  switch (event.type) {
    case 'ceremony.drafted':
    case 'definition.revised':
      return tr(`event.${event.type}`, { title: d.title?.[page.lang] ?? '' });
    case 'ceremony.frozen':
      return tr('event.ceremony.frozen', { sha: shortSha(d.document_sha256) });
    case 'segment.started':
      return tr('event.segment.started', { title: segmentTitle(page, d.segment) });
    case 'ceremony.cancelled':
      return tr('event.ceremony.cancelled', { reason: d.reason ?? '' });
    case 'invitation.issued': {
      const subject = linkSubject(page, d);
      return tr('event.invitation.issued', { role: tr(`role.${d.role}`), subject: subject ? ` (${subject})` : '' });
    }
    case 'invitation.revoked': {
      const known = page.invitations?.find((i) => i.id === d.invitation);
      const who = known ? tr(`role.${known.role}`) : d.invitation;
      const subject = known ? linkSubject(page, known) : '';
      return tr('event.invitation.revoked', { role: who, subject: subject ? ` (${subject})` : '' });
    }
    case 'venue.admitted':
      return tr('event.venue.admitted', { venue: linkSubject(page, d) });
    case 'enrollment.requested':
      return tr('event.enrollment.requested', { name: signatoryName(page, d.signatory) });
    case 'enrollment.rejected':
      return tr('event.enrollment.rejected', { reason: d.reason ?? '' });
    case 'consent.recorded':
      return tr(d.decision === 'decline' ? 'event.consent.declined' : 'event.consent.recorded', {
        name: signatoryName(page, d.signatory),
      });
    case 'document.signed':
      return tr('event.document.signed', { name: signatoryName(page, d.signatory) });
    case 'certificate.revoked':
      return tr('event.certificate.revoked', { why: tr(`js.cause.${d.cause ?? 'superseded'}`) });
    default: {
      const key = `event.${event.type}`;
      const text = tr(key);
      return text === key ? event.type : text;
    }
  }
}

/** Who did it: "Operator", "Host (demo host)", "Command line". */
export function describeActor(actor, page, tr) {
  if (actor === 'operator') return tr('actor.operator');
  if (actor === 'cli') return tr('actor.cli');
  const [role, invitation] = actor.split(':');
  const label = tr(`role.${role}`);
  if (label === `role.${role}`) return actor;
  const known = page.invitations?.find((i) => i.id === invitation);
  return known?.label ? `${label} (${known.label})` : label;
}
