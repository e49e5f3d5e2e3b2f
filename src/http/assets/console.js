/* The live console: renders the model the coordinator pushes on /events. Read-only; no framework.
 * Every value from the deployment is set as text, never as markup: names come from clients. */
/* global document, EventSource, Node */
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);

  /** An element with a class, children (nodes or text) and data attributes. */
  const el = (tag, cls, children = [], data = {}) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const c of [].concat(children)) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    for (const [k, v] of Object.entries(data)) e.dataset[k] = v;
    return e;
  };
  const state = (s) => el('span', `state ${s}`, s, { state: s });
  const td = (children, cls) => el('td', cls, children);

  const time = (ms) => (ms ? new Date(ms).toISOString().slice(11, 23) : '–');
  /** How long before the snapshot's log time, the clock the coordinator decides by. */
  const ago = (ms, now) => {
    if (!ms || !now) return '';
    const s = Math.max(0, (now - ms) / 1000);
    return s < 60 ? `${s.toFixed(1)} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : `${(s / 3600).toFixed(1)} h ago`;
  };
  /** A hybrid timestamp (ms << 18 | logical) as a time of day. */
  const hybrid = (ts) => {
    try {
      return new Date(Number(BigInt(ts) >> 18n)).toISOString().replace('T', ' ').slice(0, 23);
    } catch {
      return ts;
    }
  };

  /** `n`, or `shown of n` when the table shows only the first ones. */
  const count = (shown, total) => (shown < total ? `${shown} of ${total}` : `${total}`);

  /** A table's rows, or one row that says it is empty, across every column of the table's header. */
  const fill = (selector, rows, empty) => {
    const body = $(`${selector} tbody`);
    body.replaceChildren(...(rows.length > 0 ? rows : [el('tr', 'empty', [el('td', '', empty)])]));
    if (rows.length === 0) body.firstChild.firstChild.colSpan = $(`${selector} thead tr`).cells.length;
  };

  /** A table under a heading that counts its entities: the model carries the first ones, and the total. */
  const section = (name, items, total, row, empty) => {
    $(`#${name}-count`).textContent = count(items.length, total);
    fill(`#${name}`, items.map(row), empty);
  };

  const muted = (text) => el('span', 'muted', text);
  /** A heartbeat's time, and how long before the snapshot's log time it came. */
  const heartbeat = (ms, now) => [time(ms), ' ', muted(ago(ms, now))];

  const slots = (total, used, cached) => {
    const bar = el('span', 'slots');
    for (let i = 0; i < Math.min(total, 32); i++) bar.append(el('i', i < used ? 'used' : i < used + cached ? 'cached' : ''));
    return bar;
  };

  const renderSummary = (c, m) => {
    const item = (label, value, data) => el('div', '', [el('dt', '', label), el('dd', '', value, data)]);
    $('#summary').replaceChildren(
      item('role', state(c.role), { role: c.role }),
      item('ready', c.ready ? 'yes' : 'no'),
      item('generation', c.generation),
      item('snapshot', c.snapshotId, { snapshot: c.snapshotId }),
      item('at', c.snapshotTs === '0' ? '–' : hybrid(c.snapshotTs)),
      item('workers', m.workers.filter((w) => w.state !== 'DEAD' && w.state !== 'DEREGISTERED').length),
      item('queries running', m.queries.filter((q) => q.state === 'RUNNING').length),
    );
    const problems = $('#problems');
    problems.hidden = c.problems.length === 0;
    problems.querySelector('ul').replaceChildren(...c.problems.map((p) => el('li', '', `${p.kind}: ${p.error} (since ${time(p.sinceMs)})`)));
  };

  const renderWorkers = (m, now) =>
    section(
      'workers',
      m.workers,
      m.totals.workers,
      (w) =>
        el('tr', '', [
          td(w.id),
          td(state(w.state), 'state-cell'),
          td([slots(w.slots, w.inUse, w.cached), `${w.inUse} / ${w.slots}`], 'num'),
          td(w.cached, 'num'),
          td(w.host),
          td(w.capabilities.length > 0 ? w.capabilities.join(', ') : muted('–')),
          td(heartbeat(w.lastHeartbeatMs, now)),
        ], { worker: w.id, state: w.state }),
      'No worker has registered.',
    );

  const renderQueries = (m) =>
    section(
      'queries',
      m.queries,
      m.totals.queries,
      (q) => {
        const fragments = el(
          'ul',
          'fragments',
          q.fragments.map((f) => el('li', '', [el('span', 'kind', f.kind), el('code', '', f.id), el('span', '', `on ${f.workerId}`), state(f.status)], { fragment: f.id, worker: f.workerId, status: f.status })),
        );
        return el('tr', '', [
          td(q.name),
          td([state(q.state), q.reason ? el('div', 'reason', q.reason) : ''], 'state-cell'),
          td(q.session === null ? muted('–') : `${q.session}${q.temporary ? ' (temporary)' : ''}`),
          td(`${q.sources.join(', ')} → ${q.sink}`),
          td(q.fragments.length > 0 ? fragments : muted('not placed')),
        ], { query: q.name, state: q.state });
      },
      'No query.',
    );

  const renderSessions = (m, now) =>
    section(
      'sessions',
      m.sessions,
      m.totals.sessions,
      (s) =>
        el('tr', '', [
          td(s.id),
          td(s.client),
          td(state(s.state)),
          td(s.inUse, 'num'),
          td(s.cached.length === 0 ? muted('–') : s.cached.map((a) => `${a.allocationId} on ${a.workerId}`).join(', ')),
          td(heartbeat(s.lastHeartbeatMs, now)),
        ], { session: s.id }),
      'No client session.',
    );

  const renderCatalog = (m) => {
    const c = m.catalog;
    fill('#logical-sources', c.logicalSources.map((l) => el('tr', '', [td(l.name), td(el('code', '', l.fields.join(' ')))], { source: l.name })), 'None.');
    fill(
      '#physical-sources',
      c.physicalSources.map((p) => el('tr', '', [td([p.name, p.available ? '' : el('span', 'reason', ' unavailable')]), td(p.logicalSource), td(p.workerId), td(p.connector)], { source: p.name })),
      'None.',
    );
    fill('#sinks', c.sinks.map((s) => el('tr', '', [td(s.name), td(s.type)], { sink: s.name })), 'None.');
  };

  const renderHolds = (m) => {
    $('#frontier').textContent = m.frontierTs === '0' ? 'none yet' : `${m.frontierTs} (${hybrid(m.frontierTs)})`;
    fill('#holds', m.holds.map((h) => el('tr', '', [td(h.name), td(hybrid(h.ts)), td(time(h.expiresAtMs))], { hold: h.name })), 'No read hold.');
  };

  const SVG = 'http://www.w3.org/2000/svg';
  /** A sparkline of the last minutes, scaled to its own maximum. */
  const renderCharts = (series) => {
    for (const figure of document.querySelectorAll('.charts figure')) {
      const key = figure.dataset.series;
      const values = series.map((s) => s[key]);
      const svg = figure.querySelector('svg');
      const last = values.length > 0 ? values[values.length - 1] : 0;
      figure.querySelector('output').textContent = key === 'lag' ? String(Math.round(last)) : last.toFixed(1);
      if (values.length < 2) {
        svg.replaceChildren();
        continue;
      }
      const max = Math.max(...values, key === 'lag' ? 10 : 1);
      const x = (i) => ((i / (values.length - 1)) * 300).toFixed(1);
      const y = (v) => (58 - (v / max) * 54).toFixed(1);
      const points = values.map((v, i) => `${x(i)},${y(v)}`).join(' ');
      const line = document.createElementNS(SVG, 'polyline');
      line.setAttribute('points', points);
      const area = document.createElementNS(SVG, 'polygon');
      area.setAttribute('points', `0,60 ${points} 300,60`);
      const title = document.createElementNS(SVG, 'title');
      title.textContent = `max ${max.toFixed(1)} over the last ${Math.round((series[series.length - 1].atMs - series[0].atMs) / 60000)} min`;
      svg.replaceChildren(title, area, line);
    }
  };

  const render = (m) => {
    const now = m.coordinator.logTimeMs;
    renderSummary(m.coordinator, m);
    renderWorkers(m, now);
    renderQueries(m);
    renderSessions(m, now);
    renderCatalog(m);
    renderHolds(m);
    renderCharts(m.series);
    document.body.dataset.snapshot = m.coordinator.snapshotId;
  };

  const connection = $('#connection');
  const events = new EventSource('/events');
  events.addEventListener('open', () => {
    connection.textContent = 'live';
    connection.className = 'badge live';
  });
  events.addEventListener('error', () => {
    connection.textContent = events.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…';
    connection.className = 'badge down';
  });
  events.addEventListener('state', (e) => render(JSON.parse(e.data)));
})();
