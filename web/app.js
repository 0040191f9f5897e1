// The workqueue dashboard: lists jobs (GET /v1/jobs), shows live progress (SSE via stream
// tickets), opens, cancels and downloads jobs, and submits new ones (GET /v1/tasks, POST
// /v1/jobs). Everything that came from the server or a user is put on the page with
// textContent or as a form value, never as HTML.
//
// Threading: the browser's single event loop; no state is shared outside this module.
'use strict';

const kTokenKey = 'wq.token';
const kPageSize = 50;
// Browsers allow six HTTP/1.1 connections per server; live streams take at most four, so
// API calls always have a free one. Unfinished jobs beyond that are polled in one request.
const kMaxStreams = 4;
const kPollMs = 2000;
const kListRefreshMs = 5000;

const $ = (id) => document.getElementById(id);

const app = {
  token: sessionStorage.getItem(kTokenKey) || '',
  tasks: [],
  cursor: null,           // of the page shown; null: the newest page
  nextCursor: null,
  rows: new Map(),        // job id -> {tr, progress, state, message}
  jobs: new Map(),        // job id -> the newest job or snapshot fields seen
  selected: null,         // job id shown in the detail panel
};

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (app.token) headers.Authorization = 'Bearer ' + app.token;
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'the server cannot be reached (' + e.message + ')');
  }
  if (!res.ok) {
    let detail = res.status + ' ' + res.statusText;
    try {
      const problem = await res.json();
      if (problem && problem.detail) detail = problem.detail;
    } catch (e) {
      // Not problem+json: the status line says enough.
    }
    throw new ApiError(res.status, detail);
  }
  return res.status === 204 ? null : res.json();
}

function showStatus(text, isError) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', Boolean(isError));
}

function reportError(e) {
  if (e instanceof ApiError && e.status === 401) {
    showStatus((app.token ? 'The token was refused: ' : 'This server needs a token: ') + e.message, true);
    $('token').focus();
  } else {
    showStatus(e.message, true);
  }
}

function isTerminal(state) {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

function formatTime(ms) {
  return ms === null || ms === undefined ? '' : new Date(ms).toLocaleString();
}

function describe(job) {
  if (job.state === 'queued') {
    const n = job.n_ahead_in_queue || 0;
    return 'queued, ' + n + (n === 1 ? ' job' : ' jobs') + ' ahead';
  }
  if (job.state === 'failed' || job.state === 'cancelled') {
    return job.error || job.message || job.state;
  }
  return job.message || '';
}

// ---- live progress -------------------------------------------------------------------------

// One job's event stream: an EventSource on a ticketed URL. The browser reconnects by itself
// (sending Last-Event-ID); when the server refuses (an expired ticket after a restart, too
// many streams) the stream gets a new ticket and resumes after the last seq it saw.
class LiveStream {
  constructor(id) {
    this.id = id;
    this.lastSeq = 0;
    this.source = null;
    this.stopped = false;
    this.retries = 0;
    this.open();
  }

  async open() {
    if (this.stopped) return;
    let ticket;
    try {
      ticket = await api('POST', '/v1/jobs/' + encodeURIComponent(this.id) + '/events/ticket');
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return this.gone();
      return this.retryLater();
    }
    if (this.stopped) return;
    const url = ticket.events_url + (this.lastSeq ? '&after=' + this.lastSeq : '');
    const source = new EventSource(url);
    this.source = source;
    source.onmessage = (ev) => {
      this.retries = 0;
      const snap = JSON.parse(ev.data);
      this.lastSeq = snap.seq;
      applySnapshot(snap);
      if (isTerminal(snap.state)) this.finish();
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED && !this.stopped) {
        this.source = null;
        this.checkThenRetry();
      }
    };
  }

  // The server closed the stream for good (204 once the job ended, or an error status).
  async checkThenRetry() {
    try {
      const job = await api('GET', '/v1/jobs/' + encodeURIComponent(this.id));
      applyJob(job);
      if (isTerminal(job.state)) return this.finish();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return this.gone();
    }
    this.retryLater();
  }

  retryLater() {
    if (this.stopped) return;
    this.retries += 1;
    setTimeout(() => this.open(), Math.min(1000 * this.retries, 10000));
  }

  finish() {
    this.stop();
    live.ended(this.id);
  }

  // The job no longer exists (swept): forget it rather than ask again.
  gone() {
    app.jobs.delete(this.id);
    this.finish();
  }

  stop() {
    this.stopped = true;
    if (this.source) this.source.close();
    this.source = null;
  }
}

// Which unfinished jobs are watched, and how: the selected job and the first visible ones by
// stream, the rest by one batched POST /v1/jobs/search every kPollMs.
const live = {
  streams: new Map(),  // id -> LiveStream
  polled: new Set(),
  timer: null,

  // `ids`: unfinished jobs that should be live, most important first.
  watch(ids) {
    const wanted = new Set(ids);
    for (const [id, stream] of this.streams) {
      if (!wanted.has(id)) {
        stream.stop();
        this.streams.delete(id);
      }
    }
    this.polled.clear();
    for (const id of ids) {
      if (this.streams.has(id)) continue;
      if (this.streams.size < kMaxStreams) {
        this.streams.set(id, new LiveStream(id));
      } else {
        this.polled.add(id);
      }
    }
    if (this.polled.size > 0 && this.timer === null) {
      this.timer = setInterval(() => this.poll(), kPollMs);
    } else if (this.polled.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  },

  ended(id) {
    this.streams.delete(id);
    this.watch(wantedLive());
  },

  async poll() {
    if (this.polled.size === 0) return;
    try {
      const found = await api('POST', '/v1/jobs/search', { ids: [...this.polled] });
      for (const snap of found.jobs) applySnapshot(snap);
      for (const id of found.not_found) app.jobs.delete(id);
      if (found.not_found.length > 0 || found.jobs.some((s) => isTerminal(s.state))) {
        this.watch(wantedLive());
      }
    } catch (e) {
      reportError(e);
    }
  },

  stopAll() {
    this.watch([]);
  },
};

function wantedLive() {
  const ids = [];
  const selected = app.jobs.get(app.selected);
  if (selected && !isTerminal(selected.state)) ids.push(app.selected);
  for (const [id, job] of app.jobs) {
    if (id !== app.selected && app.rows.has(id) && !isTerminal(job.state)) ids.push(id);
  }
  return ids;
}

// ---- the job list ---------------------------------------------------------------------------

function cell(tr, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  tr.appendChild(td);
  return td;
}

function renderRow(job) {
  const tr = document.createElement('tr');
  tr.dataset.id = job.id;
  cell(tr, job.id.length > 13 ? job.id.slice(0, 8) + '…' + job.id.slice(-4) : job.id, 'id').title = job.id;
  cell(tr, job.task);
  const state = cell(tr, job.state, 'state ' + job.state);
  const barCell = cell(tr, '');
  const progress = document.createElement('progress');
  progress.max = 1;
  progress.value = job.fraction || 0;
  barCell.appendChild(progress);
  const message = cell(tr, describe(job), 'message');
  cell(tr, formatTime(job.created_at));
  tr.addEventListener('click', () => openJob(job.id));
  if (job.id === app.selected) tr.classList.add('selected');
  app.rows.set(job.id, { tr, progress, state, message });
  return tr;
}

function updateRow(job) {
  const row = app.rows.get(job.id);
  if (!row) return;
  row.state.textContent = job.state;
  row.state.className = 'state ' + job.state;
  row.progress.value = job.fraction || 0;
  row.message.textContent = describe(job);
  row.message.title = describe(job);
}

async function loadJobs() {
  const params = new URLSearchParams({ limit: String(kPageSize) });
  const state = $('filter-state').value;
  const task = $('filter-task').value;
  if (state) params.set('state', state);
  if (task) params.set('task', task);
  if (app.cursor) params.set('cursor', app.cursor);
  let page;
  try {
    page = await api('GET', '/v1/jobs?' + params);
  } catch (e) {
    reportError(e);
    return;
  }
  showStatus('Updated ' + new Date().toLocaleTimeString());
  const body = $('jobs-body');
  app.rows.clear();
  const fresh = document.createDocumentFragment();
  for (const job of page.jobs) {
    mergeJob(job);
    fresh.appendChild(renderRow(app.jobs.get(job.id)));
  }
  body.replaceChildren(fresh);
  $('jobs-empty').hidden = page.jobs.length > 0;
  app.nextCursor = page.next_cursor;
  $('page-next').disabled = !app.nextCursor;
  $('page-first').disabled = app.cursor === null;
  live.watch(wantedLive());
}

// A job from the list or GET keeps the newest state we saw: a stream may be ahead of it.
function mergeJob(job) {
  const known = app.jobs.get(job.id);
  if (known && known.seq > job.seq) {
    app.jobs.set(job.id, { ...job, ...pickSnapshot(known) });
  } else {
    app.jobs.set(job.id, { ...known, ...job });
  }
}

function pickSnapshot(s) {
  const { seq, state, fraction, message, returncode, error, n_ahead_in_queue } = s;
  return { seq, state, fraction, message, returncode, error, n_ahead_in_queue };
}

function applySnapshot(snap) {
  const known = app.jobs.get(snap.id);
  if (known && known.seq > snap.seq) return;
  const job = { ...known, ...pickSnapshot(snap) };
  app.jobs.set(snap.id, job);
  updateRow(job);
  if (app.selected === snap.id) {
    renderDetail(job);
    // The terminal snapshot lacks result_size and finished_at: fetch the whole job once.
    if (isTerminal(snap.state)) refreshSelected();
  }
}

function applyJob(job) {
  mergeJob(job);
  const merged = app.jobs.get(job.id);
  updateRow(merged);
  if (app.selected === job.id) renderDetail(merged);
}

// ---- one job --------------------------------------------------------------------------------

function field(dl, name, value, mono) {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  dd.textContent = value;
  if (mono) dd.className = 'mono';
  dl.append(dt, dd);
}

function renderDetail(job) {
  $('job-section').hidden = false;
  $('job-title').textContent = job.task ? 'Job · ' + job.task : 'Job';
  const fields = document.createElement('dl');
  field(fields, 'id', job.id, true);
  field(fields, 'state', job.state);
  if (job.attempt !== undefined) field(fields, 'attempt', job.attempt + ' of ' + job.max_attempts);
  if (job.created_at) field(fields, 'created', formatTime(job.created_at));
  if (job.started_at) field(fields, 'started', formatTime(job.started_at));
  if (job.finished_at) field(fields, 'finished', formatTime(job.finished_at));
  if (job.returncode !== null && job.returncode !== undefined) field(fields, 'return code', String(job.returncode));
  if (job.error) field(fields, 'error', job.error);
  if (job.key) field(fields, 'key', job.key, true);
  $('job-fields').replaceChildren(...fields.childNodes);
  $('job-progress').value = job.fraction || 0;
  $('job-progress').textContent = Math.round((job.fraction || 0) * 100) + '%';
  $('job-message').textContent = describe(job);
  const params = document.createElement('dl');
  for (const [name, value] of Object.entries(job.params || {})) {
    field(params, name, typeof value === 'string' ? value : JSON.stringify(value), true);
  }
  $('job-params').replaceChildren(...params.childNodes);
  $('job-cancel').disabled = isTerminal(job.state);
  $('job-download').disabled = !(job.state === 'succeeded' && job.result_size !== null && job.result_size !== undefined);
  for (const [id, row] of app.rows) row.tr.classList.toggle('selected', id === app.selected);
}

async function openJob(id) {
  app.selected = id;
  const known = app.jobs.get(id);
  if (known) renderDetail(known);
  await refreshSelected();
  live.watch(wantedLive());
}

async function refreshSelected() {
  const id = app.selected;
  if (!id) return;
  try {
    applyJob(await api('GET', '/v1/jobs/' + encodeURIComponent(id)));
  } catch (e) {
    reportError(e);
  }
}

function closeJob() {
  app.selected = null;
  $('job-section').hidden = true;
  for (const row of app.rows.values()) row.tr.classList.remove('selected');
  live.watch(wantedLive());
}

async function cancelSelected() {
  const id = app.selected;
  if (!id) return;
  $('job-cancel').disabled = true;
  try {
    applyJob(await api('POST', '/v1/jobs/' + encodeURIComponent(id) + '/cancel'));
    showStatus('Cancel requested for ' + id);
  } catch (e) {
    reportError(e);
    $('job-cancel').disabled = false;
  }
}

// fetch (not a link) so the token goes along; the bytes are saved through a blob URL.
async function downloadSelected() {
  const id = app.selected;
  if (!id) return;
  const headers = {};
  if (app.token) headers.Authorization = 'Bearer ' + app.token;
  try {
    const res = await fetch('/v1/jobs/' + encodeURIComponent(id) + '/result', { headers, cache: 'no-store' });
    if (!res.ok) {
      let detail = res.status + ' ' + res.statusText;
      try { detail = (await res.json()).detail || detail; } catch (e) { /* keep the status */ }
      throw new ApiError(res.status, detail);
    }
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = id + '.result';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    reportError(e);
  }
}

// ---- submitting -----------------------------------------------------------------------------

async function loadTasks() {
  let body;
  try {
    body = await api('GET', '/v1/tasks');
  } catch (e) {
    reportError(e);
    return false;
  }
  app.tasks = body.tasks;
  const filter = $('filter-task');
  const chosenFilter = filter.value;
  const submit = $('submit-task');
  const chosenSubmit = submit.value;
  filter.replaceChildren(new Option('any', ''));
  submit.replaceChildren();
  for (const task of app.tasks) {
    filter.appendChild(new Option(task.name, task.name));
    submit.appendChild(new Option(task.name, task.name));
  }
  filter.value = app.tasks.some((t) => t.name === chosenFilter) ? chosenFilter : '';
  if (app.tasks.some((t) => t.name === chosenSubmit)) submit.value = chosenSubmit;
  renderParamInputs();
  return true;
}

function renderParamInputs() {
  const task = app.tasks.find((t) => t.name === $('submit-task').value);
  const fieldset = $('submit-params');
  const legend = document.createElement('legend');
  legend.textContent = 'Params';
  const inputs = [legend];
  for (const param of task ? task.params : []) {
    const label = document.createElement('label');
    label.textContent = param.name + (param.required ? ' (required)' : '');
    const input = document.createElement('input');
    input.name = param.name;
    input.dataset.param = param.name;
    input.spellcheck = false;
    input.required = param.required;
    if (param.secret) {
      input.type = 'password';
      input.autocomplete = 'off';
    }
    if (param.default !== undefined) {
      input.placeholder = 'default: ' + JSON.stringify(param.default);
    }
    label.appendChild(input);
    inputs.push(label);
  }
  fieldset.replaceChildren(...inputs);
  fieldset.classList.toggle('empty', inputs.length === 1);
}

// A param's text is taken as JSON when it is a number, true/false/null, an array or an
// object (so n=10 is the number 10), and as a string otherwise.
function paramValue(text) {
  const t = text.trim();
  if (/^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null|\[.*\]|\{.*\})$/s.test(t)) {
    try {
      return JSON.parse(t);
    } catch (e) {
      // Not valid JSON after all: send the text.
    }
  }
  return text;
}

async function submitJob(event) {
  event.preventDefault();
  const error = $('submit-error');
  error.textContent = '';
  const spec = { task: $('submit-task').value, params: {} };
  for (const input of $('submit-params').querySelectorAll('input[data-param]')) {
    if (input.value !== '') spec.params[input.dataset.param] = paramValue(input.value);
  }
  const key = $('submit-key').value.trim();
  if (key) spec.key = key;
  const priority = Number($('submit-priority').value || 0);
  if (priority) spec.priority = priority;
  if ($('submit-force').checked) spec.force = true;
  let job;
  try {
    job = await api('POST', '/v1/jobs', spec);
  } catch (e) {
    error.textContent = e.message;
    if (e.status === 401) reportError(e);
    return;
  }
  for (const input of $('submit-params').querySelectorAll('input[type=password]')) input.value = '';
  app.cursor = null;
  mergeJob(job);
  await loadJobs();
  await openJob(job.id);
}

// ---- wiring ---------------------------------------------------------------------------------

async function start() {
  live.stopAll();
  app.jobs.clear();
  app.cursor = null;
  if (await loadTasks()) await loadJobs();
  if (app.selected) await openJob(app.selected);
}

function init() {
  $('token').value = app.token;
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    app.token = $('token').value.trim();
    if (app.token) sessionStorage.setItem(kTokenKey, app.token);
    else sessionStorage.removeItem(kTokenKey);
    showStatus('');
    start();
  });
  $('token-forget').addEventListener('click', () => {
    app.token = '';
    $('token').value = '';
    sessionStorage.removeItem(kTokenKey);
    start();
  });
  $('filter-state').addEventListener('change', () => { app.cursor = null; loadJobs(); });
  $('filter-task').addEventListener('change', () => { app.cursor = null; loadJobs(); });
  $('refresh').addEventListener('click', () => loadJobs());
  $('page-next').addEventListener('click', () => {
    if (!app.nextCursor) return;
    app.cursor = app.nextCursor;
    loadJobs();
  });
  $('page-first').addEventListener('click', () => {
    app.cursor = null;
    loadJobs();
  });
  $('job-close').addEventListener('click', closeJob);
  $('job-cancel').addEventListener('click', cancelSelected);
  $('job-download').addEventListener('click', downloadSelected);
  $('submit-task').addEventListener('change', renderParamInputs);
  $('submit-form').addEventListener('submit', submitJob);
  // New jobs from elsewhere show up on the newest page without a click.
  setInterval(() => {
    if (app.cursor === null && !document.hidden && app.tasks.length > 0) loadJobs();
  }, kListRefreshMs);
  start();
}

init();
