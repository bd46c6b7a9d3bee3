// skyql's web page: searches through the service's own TAP, DataLink and SODA
// endpoints. Every value from the catalogue reaches the page as text (textContent,
// attributes set one by one), never as HTML.
'use strict';

const SCHEMA = document.querySelector('meta[name="skyql-schema"]').content;
const PAGE = 50;
const STAR_COLUMNS = 'star_id, ra, dec, field, ccd, quarter, n_r, n_b, mean_mag_r, mean_mag_b';
const state = { header: [], rows: [], page: 0, sort: null };

const $ = (id) => document.getElementById(id);

function el(tag, attributes, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function say(text) { $('message').textContent = text; }

// RFC 4180 CSV: quoted fields may hold commas, quotes and line ends.
function parseCsv(text) {
  const rows = [];
  let row = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

// The message of a DALI error document, or the text itself.
function errorText(text) {
  try {
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    const info = [...doc.getElementsByTagName('INFO')].find((i) => i.getAttribute('value') === 'ERROR');
    if (info) return info.textContent.trim();
  } catch (e) { /* not XML */ }
  return text.trim() || 'the service did not answer';
}

function sqlText(text) { return "'" + text.replace(/'/g, "''") + "'"; }

function tapUrl(adql, format) {
  return 'tap/sync?' + new URLSearchParams({ LANG: 'ADQL', QUERY: adql, RESPONSEFORMAT: format });
}

async function tap(adql, maxrec) {
  const body = new URLSearchParams({ LANG: 'ADQL', QUERY: adql, RESPONSEFORMAT: 'csv', MAXREC: String(maxrec || 10000) });
  const response = await fetch('tap/sync', { method: 'POST', body });
  const text = await response.text();
  if (!response.ok) throw new Error(errorText(text));
  const rows = parseCsv(text);
  return { header: rows[0] || [], rows: rows.slice(1) };
}

// "RA Dec" in degrees, or sexagesimal "hh:mm:ss.s ±dd:mm:ss" (colons or spaces).
function parsePosition(text) {
  const t = text.trim().replace(/,/g, ' ');
  const parts = t.split(/[\s:]+/).filter(Boolean);
  const numbers = parts.map(Number);
  if (parts.length === 2 && numbers.every(Number.isFinite)) return { ra: numbers[0], dec: numbers[1] };
  if (parts.length === 6 && numbers.every(Number.isFinite)) {
    const sign = parts[3].trim().startsWith('-') ? -1 : 1;
    const ra = 15 * (numbers[0] + numbers[1] / 60 + numbers[2] / 3600);
    const dec = sign * (Math.abs(numbers[3]) + numbers[4] / 60 + numbers[5] / 3600);
    return { ra, dec };
  }
  return null;
}

function showResults(adql, result) {
  state.header = result.header;
  state.rows = result.rows;
  state.page = 0;
  state.sort = null;
  $('star').hidden = true;
  $('results').hidden = false;
  $('results-adql').textContent = adql;
  const downloads = $('results-downloads');
  downloads.replaceChildren('Download: ');
  for (const [format, name] of [['votable', 'VOTable'], ['csv', 'CSV'], ['fits', 'FITS']]) {
    downloads.append(el('a', { href: tapUrl(adql, format), download: '' }, name));
  }
  renderTable();
}

function renderTable() {
  const table = $('results-table');
  const starColumn = state.header.indexOf('star_id');
  const head = el('tr');
  state.header.forEach((name, i) => {
    const order = state.sort && state.sort.column === i ? (state.sort.up ? 'ascending' : 'descending') : 'none';
    const button = el('button', { type: 'button' }, name);
    button.addEventListener('click', () => sortBy(i));
    head.append(el('th', { scope: 'col', 'aria-sort': order }, button));
  });
  const body = el('tbody');
  const start = state.page * PAGE;
  for (const row of state.rows.slice(start, start + PAGE)) {
    const tr = el('tr');
    row.forEach((cell, i) => {
      if (i === starColumn && cell) tr.append(el('td', {}, el('a', { href: '#star=' + encodeURIComponent(cell) }, cell)));
      else tr.append(el('td', {}, cell));
    });
    body.append(tr);
  }
  table.replaceChildren(el('thead', {}, head), body);
  const n = state.rows.length;
  $('results-summary').textContent = n === 0 ? 'No row matches.'
    : `Rows ${start + 1} to ${Math.min(start + PAGE, n)} of ${n}.`;
  $('previous').disabled = state.page === 0;
  $('next').disabled = start + PAGE >= n;
}

function sortBy(column) {
  const up = !(state.sort && state.sort.column === column && state.sort.up);
  state.sort = { column, up };
  const numeric = state.rows.every((r) => r[column] === '' || Number.isFinite(Number(r[column])));
  state.rows.sort((a, b) => {
    const x = a[column], y = b[column];
    const d = numeric ? (Number(x) - Number(y)) : x.localeCompare(y);
    return up ? d : -d;
  });
  state.page = 0;
  renderTable();
}

async function run(adql) {
  say('');
  const button = document.activeElement;
  try {
    $('results-summary').textContent = 'Searching…';
    showResults(adql, await tap(adql));
  } catch (e) {
    say('The search failed: ' + e.message);
  }
  if (button && button.focus) button.focus();
}

function coneAdql(ra, dec, arcsec) {
  const point = `POINT('ICRS', ${ra}, ${dec})`;
  return `SELECT TOP 10000 ${STAR_COLUMNS}, DISTANCE(POINT('ICRS', ra, dec), ${point}) * 3600 AS dist_arcsec\n` +
    `FROM ${SCHEMA}.stars\nWHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', ${ra}, ${dec}, ${arcsec / 3600}))\n` +
    'ORDER BY dist_arcsec';
}

// The star page: facts, plot (folded on demand), downloads, reference images and cutouts.
async function showStar(id) {
  say('');
  $('results').hidden = true;
  $('star').hidden = false;
  $('star-title').textContent = 'Star ' + id;
  const adql = `SELECT * FROM ${SCHEMA}.stars WHERE star_id = ${sqlText(id)}`;
  $('star-adql').textContent = adql;
  setPlot(id, null);
  const downloads = $('star-downloads');
  downloads.replaceChildren('Download: ');
  for (const [format, name] of [['votable', 'VOTable'], ['csv', 'CSV'], ['fits', 'FITS']]) {
    const url = 'datalink/lightcurve?' + new URLSearchParams({ ID: id, RESPONSEFORMAT: format });
    downloads.append(el('a', { href: url, download: '' }, name));
  }
  try {
    const facts = await tap(adql, 1);
    const dl = $('star-facts');
    dl.replaceChildren();
    if (facts.rows.length === 0) { say(`There is no star ${id} in this catalogue.`); return; }
    facts.header.forEach((name, i) => {
      const value = facts.rows[0][i];
      if (value !== '') dl.append(el('dt', {}, name), el('dd', {}, value));
    });
    await showImages(id);
  } catch (e) {
    say('The star could not be read: ' + e.message);
  }
}

function setPlot(id, period) {
  const params = { ID: id, FORMAT: 'svg' };
  if (period) params.PERIOD = String(period);
  const plot = $('plot');
  plot.src = 'datalink/plot?' + new URLSearchParams(params);
  const what = period ? `folded on a period of ${period} d` : 'in time';
  plot.alt = `Light curve of ${id}, ${what}: magnitude against ${period ? 'phase' : 'MJD'}, red and blue measurements with error bars.`;
  $('plot-caption').textContent = `Light curve of ${id}, ${what} (magnitudes grow downwards).`;
}

async function showImages(id) {
  const list = $('star-images');
  list.replaceChildren();
  const response = await fetch('datalink/links?' + new URLSearchParams({ ID: id }));
  const doc = new DOMParser().parseFromString(await response.text(), 'application/xml');
  const fields = [...doc.getElementsByTagName('FIELD')].map((f) => f.getAttribute('name'));
  const col = (name) => fields.indexOf(name);
  const services = {};
  for (const r of doc.getElementsByTagName('RESOURCE')) {
    const ident = r.getAttribute('ID');
    if (!ident) continue;
    const params = {};
    for (const p of r.getElementsByTagName('PARAM')) params[p.getAttribute('name')] = p.getAttribute('value');
    services[ident] = params;
  }
  for (const tr of doc.getElementsByTagName('TR')) {
    const cells = [...tr.getElementsByTagName('TD')].map((td) => td.textContent);
    const semantics = cells[col('semantics')];
    const description = cells[col('description')];
    if (semantics === '#auxiliary') {
      list.append(el('li', {}, el('a', { href: cells[col('access_url')], download: '' }, description)));
    } else if (semantics === '#cutout') {
      const s = services[cells[col('service_def')]];
      if (!s) continue;
      const url = s.accessURL + '?' + new URLSearchParams({ ID: s.ID, CIRCLE: s.CIRCLE });
      list.append(el('li', {}, el('a', { href: url, download: '' }, description.replace(' (SODA; a 30 arcsec radius, to change)', ' (FITS, 30 arcsec radius)'))));
    }
  }
  if (!list.children.length) list.append(el('li', {}, 'No reference image holds this star.'));
}

function route() {
  const hash = decodeURIComponent(location.hash.slice(1));
  if (hash.startsWith('star=')) { showStar(hash.slice(5)); return; }
  if (hash.startsWith('cone=')) {
    const [ra, dec, arcsec] = hash.slice(5).split(',').map(Number);
    if ([ra, dec, arcsec].every(Number.isFinite)) {
      $('position').value = `${ra} ${dec}`;
      $('radius').value = String(arcsec);
      run(coneAdql(ra, dec, arcsec));
      return;
    }
  }
  $('star').hidden = true;
}

function init() {
  const examples = [
    ['The 20 most measured stars', `SELECT TOP 20 ${STAR_COLUMNS} FROM ${SCHEMA}.stars ORDER BY n_r + n_b DESC`],
    ['Stars per field', `SELECT field, COUNT(*) AS stars FROM ${SCHEMA}.stars GROUP BY field ORDER BY field`],
    ['Bright stars', `SELECT TOP 100 ${STAR_COLUMNS} FROM ${SCHEMA}.stars WHERE mean_mag_r < 16 ORDER BY mean_mag_r`],
  ];
  $('adql').value = examples[0][1];
  for (const [name, adql] of examples) {
    const b = el('button', { type: 'button' }, name);
    b.addEventListener('click', () => { $('adql').value = adql; $('adql').focus(); });
    $('examples').append(b);
  }
  $('cone-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const p = parsePosition($('position').value);
    const arcsec = Number($('radius').value);
    if (!p || p.dec < -90 || p.dec > 90) { say('Give the position as RA and Dec in degrees (64.156 -69.348) or sexagesimal (04:16:37.4 -69:20:51).'); return; }
    if (!(arcsec > 0)) { say('Give a radius in arcseconds, greater than 0.'); return; }
    location.hash = `cone=${p.ra},${p.dec},${arcsec}`;
  });
  $('star-form').addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = 'star=' + encodeURIComponent($('star-id').value.trim());
  });
  $('adql-form').addEventListener('submit', (e) => { e.preventDefault(); run($('adql').value); });
  $('previous').addEventListener('click', () => { state.page--; renderTable(); });
  $('next').addEventListener('click', () => { state.page++; renderTable(); });
  $('back').addEventListener('click', (e) => { e.preventDefault(); history.back(); });
  $('fold-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const period = Number($('period').value);
    if (!(period > 0)) { say('Give a period in days, greater than 0.'); return; }
    setPlot(decodeURIComponent(location.hash.slice(6)), period);
  });
  $('unfold').addEventListener('click', () => setPlot(decodeURIComponent(location.hash.slice(6)), null));
  window.addEventListener('hashchange', route);
  route();
}

document.addEventListener('DOMContentLoaded', init);
