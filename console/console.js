// The Switchyard console: polls /admin/console once a second (only the history
// points it does not have yet) and redraws. No framework: a few DOM helpers,
// text set with textContent, and uPlot for the charts.
'use strict';

(() => {
  const keepSeconds = 300;
  const pollMs = 1000;
  const palette = ['#cf222e', '#b35900', '#8250df', '#0969da', '#1a7f37', '#57606a'];
  const history = { t: [], requests: [], errors: {}, ttftP50: [], ttftP95: [], inFlight: [], queued: [] };
  const charts = {};
  let since = 0;

  const byId = (id) => document.getElementById(id);

  /** An element with attributes and children (strings become text, never HTML). */
  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes ?? {})) if (value !== undefined && value !== null) node.setAttribute(name, value);
    for (const child of children.flat())
      if (child !== undefined && child !== null && child !== false) node.append(child instanceof Node ? child : String(child));
    return node;
  }

  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  const percent = (fraction) => `${Math.round(fraction * 1000) / 10}%`;
  const sum = (values) => values.reduce((total, value) => total + value, 0);
  const lastOf = (values, count) => values.slice(Math.max(0, values.length - count));

  function merge(series) {
    const before = history.t.length;
    for (const status of Object.keys(series.errors)) history.errors[status] ??= new Array(before).fill(0);
    for (const key of ['t', 'requests', 'ttftP50', 'ttftP95', 'inFlight', 'queued']) history[key].push(...series[key]);
    for (const [status, counts] of Object.entries(history.errors)) counts.push(...(series.errors[status] ?? new Array(series.t.length).fill(0)));
    const extra = history.t.length - keepSeconds;
    if (extra > 0) {
      for (const key of ['t', 'requests', 'ttftP50', 'ttftP95', 'inFlight', 'queued']) history[key].splice(0, extra);
      for (const counts of Object.values(history.errors)) counts.splice(0, extra);
    }
    if (series.t.length > 0) since = series.t[series.t.length - 1];
  }

  function renderSummary(data) {
    const recent = Math.min(10, history.t.length) || 1;
    byId('rate').textContent = (sum(lastOf(history.requests, recent)) / recent).toFixed(1);
    const minuteRequests = sum(lastOf(history.requests, 60));
    const minuteErrors = sum(Object.values(history.errors).map((counts) => sum(lastOf(counts, 60))));
    byId('errors').textContent = minuteRequests === 0 ? '–' : percent(minuteErrors / minuteRequests);
    const latest = (values) =>
      lastOf(values, 10)
        .filter((value) => value !== null)
        .pop();
    const p50 = latest(history.ttftP50);
    const p95 = latest(history.ttftP95);
    byId('ttft').textContent = p50 === undefined ? '–' : `${p50} / ${p95} ms`;
    byId('inflight').textContent = `${data.in_flight} / ${history.queued[history.queued.length - 1] ?? 0}`;
    byId('cache').textContent = data.cache.hit_ratio_last_minute === null ? '–' : percent(data.cache.hit_ratio_last_minute);
    byId('batches').textContent = typeof data.batches === 'string' ? data.batches : `${data.batches.active_batches} (${data.batches.lines_running} lines)`;
  }

  function renderProviders(providers) {
    byId('providers').replaceChildren(
      ...providers.map((provider) => {
        const [main, ...others] = provider.conditions;
        return element(
          'div',
          { class: `provider ${main.severity}`, 'data-provider': provider.name, 'data-state': main.state },
          element('div', { class: 'name' }, provider.name, element('span', { class: `badge ${main.severity}` }, main.state)),
          element('p', { class: 'reason' }, main.reason),
          others.length > 0 &&
            element(
              'ul',
              { class: 'more' },
              others.map((condition) => element('li', null, `${condition.state}: ${condition.reason}`)),
            ),
          element('p', { class: 'figures' }, `${provider.type} · in flight ${provider.in_flight} / ${provider.max_concurrency} · waiting ${provider.waiting}`),
        );
      }),
    );
  }

  function renderRoutes(routes, providers) {
    const severity = Object.fromEntries(providers.map((provider) => [provider.name, provider.conditions[0].severity]));
    byId('routes').replaceChildren(
      ...routes.map((route) => {
        const rows = route.targets.map((target) => {
          const level = target.available ? severity[target.provider] : 'down';
          return element(
            'tr',
            { 'data-provider': target.provider },
            element('td', null, element('span', { class: `dot ${level}` }), target.provider, ' · ', target.model),
            element('td', null, `tier ${target.tier}`),
            element(
              'td',
              { class: 'share' },
              element('span', { class: 'bar', 'data-share': target.share }),
              `${percent(target.share)} (${target.served_last_minute})`,
            ),
          );
        });
        if (route.cached_last_minute > 0) {
          const share = route.cached_last_minute / route.requests_last_minute;
          rows.push(
            element(
              'tr',
              null,
              element('td', null, element('span', { class: 'dot ok' }), 'response cache'),
              element('td'),
              element('td', { class: 'share' }, element('span', { class: 'bar', 'data-share': share }), `${percent(share)} (${route.cached_last_minute})`),
            ),
          );
        }
        const table = element(
          'table',
          null,
          element('tr', null, element('th', null, 'target'), element('th', null, 'tier'), element('th', null, 'share, last minute')),
          rows,
        );
        // Widths set through the CSSOM: the page's Content-Security-Policy allows no inline style attributes.
        for (const bar of table.querySelectorAll('.bar')) bar.style.width = `${Math.round(Number(bar.dataset.share) * 200)}px`;
        return element(
          'div',
          { class: 'route', 'data-route': route.name },
          element('h3', null, route.name, element('small', null, ` · ${route.balance} · ${route.requests_last_minute} answers in the last minute`)),
          table,
        );
      }),
    );
  }

  function renderFailovers(failovers) {
    const list = byId('failovers');
    if (failovers.length === 0)
      return list.replaceChildren(element('li', { class: 'empty' }, 'none yet: every request was answered by the first target it tried'));
    list.replaceChildren(
      ...failovers.map((failover) => {
        const from = failover.from.map((attempt) => `${attempt.provider} (${attempt.reason})`).join(', then ');
        const to = failover.to === null ? `no target could answer: ${failover.status}` : `answered by ${failover.to}`;
        return element(
          'li',
          { class: failover.to === null ? 'failed' : 'moved' },
          element('time', null, clock(failover.at)),
          element('code', null, failover.id),
          `${failover.route}: ${from} → ${to}`,
        );
      }),
    );
  }

  function renderBudgets(routes) {
    const budgets = routes.filter((route) => route.budget);
    if (budgets.length === 0) return byId('budgets').replaceChildren(element('p', { class: 'empty' }, 'no route has a budget'));
    byId('budgets').replaceChildren(
      ...budgets.map(({ name, budget }) =>
        element(
          'p',
          null,
          `${name}: $${budget.spent_usd.toFixed(4)} of $${budget.usd} spent (${percent(budget.spent_usd / budget.usd)}); renews in ${Math.ceil(budget.renews_in_ms / 60_000)} min; when spent: ${budget.over}`,
        ),
      ),
    );
  }

  function chart(id, series, data) {
    const target = byId(id);
    const width = Math.max(300, target.clientWidth);
    const labels = series.map((line) => line.label).join();
    if (charts[id] && charts[id].labels === labels) {
      charts[id].plot.setData(data);
      return;
    }
    charts[id]?.plot.destroy();
    const options = {
      width,
      height: 180,
      scales: { x: { time: true } },
      series: [{}, ...series.map((line) => ({ width: 1.5, ...line }))],
      axes: [{ space: 70, values: (_plot, ticks) => ticks.map((tick) => clock(tick * 1000)) }, { size: 50 }],
      legend: { show: true },
    };
    charts[id] = { labels, plot: new uPlot(options, data, target) };
  }

  function renderCharts() {
    const t = history.t;
    chart('chart-requests', [{ label: 'requests', stroke: '#0969da' }], [t, history.requests]);
    const statuses = Object.keys(history.errors).sort();
    chart(
      'chart-errors',
      statuses.length
        ? statuses.map((status, index) => ({ label: status, stroke: palette[index % palette.length] }))
        : [{ label: 'errors', stroke: palette[0] }],
      [t, ...(statuses.length ? statuses.map((status) => history.errors[status]) : [t.map(() => 0)])],
    );
    chart(
      'chart-ttft',
      [
        { label: 'p50', stroke: '#0969da', spanGaps: true },
        { label: 'p95', stroke: '#8250df', spanGaps: true },
      ],
      [t, history.ttftP50, history.ttftP95],
    );
    chart(
      'chart-load',
      [
        { label: 'in flight', stroke: '#1a7f37' },
        { label: 'waiting', stroke: '#b35900' },
      ],
      [t, history.inFlight, history.queued],
    );
  }

  function showConnection(text, lost) {
    const connection = byId('connection');
    connection.textContent = text;
    connection.classList.toggle('lost', lost);
  }

  async function poll() {
    try {
      const response = await fetch(`/admin/console?since=${since}`, { headers: { accept: 'application/json' }, cache: 'no-store' });
      if (!response.ok) {
        showConnection(
          response.status === 401 || response.status === 403
            ? `the gateway refused this key (${response.status}): the console needs an admin key`
            : `the gateway answered ${response.status}`,
          true,
        );
        return;
      }
      const data = await response.json();
      merge(data.series);
      renderSummary(data);
      renderProviders(data.providers);
      renderRoutes(data.routes, data.providers);
      renderFailovers(data.failovers);
      renderBudgets(data.routes);
      renderCharts();
      showConnection(`live · updated ${clock(data.at)}`, false);
    } catch {
      showConnection('cannot reach the gateway; retrying', true);
    } finally {
      setTimeout(poll, pollMs);
    }
  }

  window.addEventListener('resize', () => {
    for (const [id, { plot }] of Object.entries(charts)) plot.setSize({ width: Math.max(300, byId(id).clientWidth), height: 180 });
  });
  poll();
})();
