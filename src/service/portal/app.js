// skyql's web page: searches through the service's own TAP, DataLink and SODA
// endpoints, charts drawn here as SVG (a sky plot of the results; a star's light curve,
// periodogram and folded curve), and tables sent to desktop tools through SAMP's Web
// Profile. Every value from the catalogue reaches the page as text (textContent,
// attributes set one by one), never as HTML.
'use strict';

const SCHEMA = document.querySelector('meta[name="skyql-schema"]').content;
const PAGE = 50;
const STAR_COLUMNS = 'star_id, ra, dec, field, ccd, quarter, n_r, n_b, mean_mag_r, mean_mag_b';
const SVG_NS = 'http://www.w3.org/2000/svg';
// The light curve's colours: each a class of style.css and a marker shape of its own, so
// that the two stay apart without colour vision.
const SERIES = [
  { colour: 'R', name: 'red', marker: 'circle', className: 'series-r' },
  { colour: 'B', name: 'blue', marker: 'square', className: 'series-b' },
];
// The periodogram: periods from 0.1 d to the light curve's span, 5 frequencies per peak
// width (1 / span), and at most this many point-frequency products (about 0.2 s on one
// core): a light curve of many points over many years gets a coarser grid.
const SHORTEST_PERIOD = 0.1;
const OVERSAMPLING = 5;
const PERIODOGRAM_WORK = 3e7;
const SAMP_HUBS = ['http://localhost:21012/', 'http://127.0.0.1:21012/'];

const results = { adql: '', header: [], rows: [], page: 0, sort: null };
const star = { id: '', points: [], span: null, view: null, periodogram: null, period: null, fit: null };

const $ = (id) => document.getElementById(id);

function fill(e, attributes, children) {
  for (const [k, v] of Object.entries(attributes || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function el(tag, attributes, ...children) {
  return fill(document.createElement(tag), attributes, children);
}

function svgEl(tag, attributes, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attributes, children);
}

// Errors go to #message (an alert), news to #status.
function say(text) { $('message').textContent = text; }
function note(text) { $('status').textContent = text; }

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

// A number from a CSV cell: an empty cell is no number (Number('') would be 0).
function cellNumber(cell) { return cell === '' || cell === undefined ? NaN : Number(cell); }

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

function lightCurveUrl(id, format) {
  return 'datalink/lightcurve?' + new URLSearchParams({ ID: id, RESPONSEFORMAT: format });
}

async function fetchText(url, options) {
  const response = await fetch(url, options);
  const text = await response.text();
  if (!response.ok) throw new Error(errorText(text));
  return text;
}

async function tap(adql, maxrec) {
  const body = new URLSearchParams({ LANG: 'ADQL', QUERY: adql, RESPONSEFORMAT: 'csv', MAXREC: String(maxrec || 10000) });
  const rows = parseCsv(await fetchText('tap/sync', { method: 'POST', body }));
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

// ---------------------------------------------------------------------------------------
// Charts: an SVG as wide as its box (its viewBox in CSS pixels, so that its text keeps
// its size on a phone), a plot area inside margins, axes with round ticks.

function chartWidth(box) {
  return Math.max(280, Math.min(1000, Math.round(box.clientWidth || 600)));
}

function plotArea(width, height, dateRow) {
  return { left: 80, right: width - 14, top: 12, bottom: height - (dateRow ? 60 : 44) };
}

function linear(d0, d1, r0, r1) {
  const k = (r1 - r0) / (d1 - d0 || 1);
  return (v) => r0 + (v - d0) * k;
}

// About n round values (1, 2 or 5 times a power of ten) from lo to hi.
function ticks(lo, hi, n) {
  const [a, b] = lo < hi ? [lo, hi] : [hi, lo];
  const rough = (b - a) / Math.max(n, 1) || 1;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const values = [];
  for (let v = Math.ceil(a / step) * step; v <= b + step * 1e-9; v += step) values.push(Number(v.toPrecision(12)));
  return values;
}

// Ticks of a logarithmic axis: 1, 2 and 5 times the powers of ten, or the powers alone
// when there is not room for all.
function logTicks(lo, hi, n) {
  const values = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) values.push(Number((m * 10 ** e).toPrecision(12)));
  }
  const inside = values.filter((v) => v >= lo && v <= hi);
  return inside.length <= n ? inside : inside.filter((v) => Math.log10(v) % 1 === 0);
}

// Labels with as many decimals as the step between ticks needs.
function tickFormat(values) {
  const step = values.length > 1 ? Math.abs(values[1] - values[0]) : 1;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return (v) => v.toFixed(decimals);
}

function isoDate(mjd) {
  const ms = (mjd - 40587) * 86400000;
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString().slice(0, 10) : '';
}

// A chart: spec.x and spec.y give lo and hi (the values at the left or bottom, and at the
// right or top; y.reversed puts lo at the top), ticks, a format and a title; spec.x.log a
// logarithmic axis, spec.x.format2 a second row of labels. Answers the SVG, its plot
// area, the scales and a group for the data, clipped to the plot area.
function makeChart(box, spec) {
  const { width, height } = spec;
  const area = plotArea(width, height, Boolean(spec.x.format2));
  const f = spec.x.log ? Math.log10 : (v) => v;
  const toX = linear(f(spec.x.lo), f(spec.x.hi), area.left, area.right);
  const sx = (v) => toX(f(v));
  const sy = spec.y.reversed ? linear(spec.y.lo, spec.y.hi, area.top, area.bottom)
    : linear(spec.y.lo, spec.y.hi, area.bottom, area.top);
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': spec.label });
  const clip = `${box.id}-clip`;
  svg.append(svgEl('clipPath', { id: clip },
    svgEl('rect', { x: area.left, y: area.top, width: area.right - area.left, height: area.bottom - area.top })));
  svg.append(axes(spec, area, sx, sy));
  const data = svgEl('g', { 'clip-path': `url(#${clip})` });
  svg.append(data);
  return { svg, area, sx, sy, data };
}

function axes(spec, area, sx, sy) {
  const g = svgEl('g', { class: 'axes' });
  g.append(svgEl('rect', { class: 'frame', x: area.left, y: area.top, width: area.right - area.left, height: area.bottom - area.top }));
  const { x, y } = spec;
  for (const v of x.ticks) {
    const px = sx(v).toFixed(1);
    g.append(svgEl('line', { class: 'grid', x1: px, x2: px, y1: area.top, y2: area.bottom }));
    g.append(svgEl('text', { x: px, y: area.bottom + 16, 'text-anchor': 'middle' }, x.format(v)));
    if (x.format2) g.append(svgEl('text', { x: px, y: area.bottom + 31, 'text-anchor': 'middle' }, x.format2(v)));
  }
  for (const v of y.ticks) {
    const py = sy(v).toFixed(1);
    g.append(svgEl('line', { class: 'grid', x1: area.left, x2: area.right, y1: py, y2: py }));
    g.append(svgEl('text', { x: area.left - 6, y: py, dy: '0.32em', 'text-anchor': 'end' }, y.format(v)));
  }
  g.append(svgEl('text', { class: 'title', x: (area.left + area.right) / 2, y: spec.height - 8, 'text-anchor': 'middle' }, x.title));
  g.append(svgEl('text', { class: 'title', transform: 'rotate(-90)', x: -(area.top + area.bottom) / 2, y: 15, 'text-anchor': 'middle' }, y.title));
  return g;
}

// A marker of the given shape at (x, y), as path data: circles and squares.
function markerPath(shape, x, y, r) {
  const [a, b] = [(x - r).toFixed(1), (y - r).toFixed(1)];
  if (shape === 'square') return `M${a},${b}h${2 * r}v${2 * r}h${-2 * r}z`;
  return `M${a},${y.toFixed(1)}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0`;
}

// Both colours' measurements: error bars and markers, a path each. xOf gives a
// measurement's x; each of shifts draws them once more, moved right by that much.
function drawSeries(chart, points, xOf, shifts) {
  for (const s of SERIES) {
    let bars = '', marks = '';
    for (const p of points) {
      if (p.colour !== s.colour) continue;
      for (const shift of shifts) {
        const x = chart.sx(xOf(p) + shift), y = chart.sy(p.mag);
        if (p.err > 0) bars += `M${x.toFixed(1)},${chart.sy(p.mag - p.err).toFixed(1)}V${chart.sy(p.mag + p.err).toFixed(1)}`;
        marks += markerPath(s.marker, x, y, 3);
      }
    }
    chart.data.append(svgEl('path', { class: `bars ${s.className}`, d: bars }));
    chart.data.append(svgEl('path', { class: `marks ${s.className}`, d: marks }));
  }
}

// Where a pointer event falls in the SVG's own units.
function svgPoint(svg, event) {
  return new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
}

// ---------------------------------------------------------------------------------------
// Results: a table with pages and sorting, and a sky plot.

function showResults(adql, result) {
  Object.assign(results, { adql, header: result.header, rows: result.rows, page: 0, sort: null });
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
  const starColumn = results.header.indexOf('star_id');
  const head = el('tr');
  results.header.forEach((name, i) => {
    const order = results.sort && results.sort.column === i ? (results.sort.up ? 'ascending' : 'descending') : 'none';
    const button = el('button', { type: 'button' }, name);
    button.addEventListener('click', () => sortBy(i));
    head.append(el('th', { scope: 'col', 'aria-sort': order }, button));
  });
  const body = el('tbody');
  const start = results.page * PAGE;
  for (const row of results.rows.slice(start, start + PAGE)) {
    const tr = el('tr');
    row.forEach((cell, i) => {
      if (i === starColumn && cell) tr.append(el('td', {}, el('a', { href: '#star=' + encodeURIComponent(cell) }, cell)));
      else tr.append(el('td', {}, cell));
    });
    body.append(tr);
  }
  table.replaceChildren(el('thead', {}, head), body);
  const n = results.rows.length;
  $('results-summary').textContent = n === 0 ? 'No row matches.'
    : `Rows ${start + 1} to ${Math.min(start + PAGE, n)} of ${n}.`;
  $('previous').disabled = results.page === 0;
  $('next').disabled = start + PAGE >= n;
  drawSky();
}

function sortBy(column) {
  const up = !(results.sort && results.sort.column === column && results.sort.up);
  results.sort = { column, up };
  const numeric = results.rows.every((r) => r[column] === '' || Number.isFinite(Number(r[column])));
  results.rows.sort((a, b) => {
    const x = a[column], y = b[column];
    const d = numeric ? (Number(x) - Number(y)) : x.localeCompare(y);
    return up ? d : -d;
  });
  results.page = 0;
  renderTable();
}

// The columns of a position, if the result has them: ra and dec, or ObsCore's s_ra and s_dec.
function positionColumns(header) {
  const lower = header.map((h) => h.toLowerCase());
  for (const [ra, dec] of [['ra', 'dec'], ['s_ra', 's_dec']]) {
    if (lower.includes(ra) && lower.includes(dec)) return [lower.indexOf(ra), lower.indexOf(dec)];
  }
  return null;
}

function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return [lo, hi];
}

// The rows with a position; RA moved by 360 degrees where the rows straddle RA 0.
function skyPoints(columns) {
  const starColumn = results.header.indexOf('star_id');
  const points = [];
  results.rows.forEach((row, i) => {
    const ra = cellNumber(row[columns[0]]), dec = cellNumber(row[columns[1]]);
    if (Number.isFinite(ra) && Number.isFinite(dec)) points.push({ ra, dec, i, star: starColumn >= 0 ? row[starColumn] : '' });
  });
  const [lo, hi] = extent(points.map((p) => p.ra));
  if (hi - lo > 180) for (const p of points) if (p.ra > 180) p.ra -= 360;
  return points;
}

// The sky plot's axes: RA increases to the left, Dec upwards, one scale for both on the
// sky (RA shrunk by cos Dec), the points' extent in the middle of the plot area.
function skyAxes(points, area) {
  const [ra0, ra1] = extent(points.map((p) => p.ra));
  const [dec0, dec1] = extent(points.map((p) => p.dec));
  const raMid = (ra0 + ra1) / 2, decMid = (dec0 + dec1) / 2;
  const cosDec = Math.max(0.05, Math.cos(decMid * Math.PI / 180));
  const size = Math.max((ra1 - ra0) * cosDec, dec1 - dec0, 1 / 60) * 1.1;
  const perDegree = Math.min(area.right - area.left, area.bottom - area.top) / size;
  const halfRa = (area.right - area.left) / 2 / perDegree / cosDec;
  const halfDec = (area.bottom - area.top) / 2 / perDegree;
  const x = { lo: raMid + halfRa, hi: raMid - halfRa, title: 'RA (degrees, increasing to the left)' };
  const y = { lo: decMid - halfDec, hi: decMid + halfDec, title: 'Dec (degrees)' };
  x.ticks = ticks(x.hi, x.lo, (area.right - area.left) / 80);
  y.ticks = ticks(y.lo, y.hi, (area.bottom - area.top) / 40);
  const raLabel = tickFormat(x.ticks);
  x.format = (v) => raLabel(((v % 360) + 360) % 360);
  y.format = tickFormat(y.ticks);
  const label = `Sky plot of ${points.length} rows: RA ${x.format(ra1)} to ${x.format(ra0)} degrees, `
    + `Dec ${y.format(dec0)} to ${y.format(dec1)} degrees.`;
  return { x, y, label };
}

// The result's rows with a position, the rows of the table's page ringed; a click opens
// the nearest star.
function drawSky() {
  const figure = $('sky');
  const columns = positionColumns(results.header);
  const points = columns ? skyPoints(columns) : [];
  figure.hidden = points.length === 0;
  figure.setAttribute('data-points', String(points.length));
  if (figure.hidden) return;
  const box = $('sky-chart');
  const width = chartWidth(box);
  const height = Math.round(Math.min(420, width * 0.8));
  const chart = makeChart(box, { width, height, ...skyAxes(points, plotArea(width, height, false)) });
  const start = results.page * PAGE;
  const radius = points.length > 1000 ? 1.2 : 2;
  let all = '', page = '';
  for (const p of points) {
    p.x = chart.sx(p.ra); p.y = chart.sy(p.dec);
    all += markerPath('circle', p.x, p.y, radius);
    if (p.i >= start && p.i < start + PAGE) page += markerPath('circle', p.x, p.y, 5);
  }
  chart.data.append(svgEl('path', { class: 'sky-point', d: all }), svgEl('path', { class: 'sky-page', d: page }));
  chart.svg.addEventListener('click', (event) => openNearestStar(chart.svg, event, points));
  box.replaceChildren(chart.svg);
  $('sky-caption').textContent = `Sky plot of ${points.length} rows; the rows of the table's page are ringed. `
    + (results.header.includes('star_id') ? 'Click a point to open its star (the star ids of the table do the same from the keyboard).' : '');
}

function openNearestStar(svg, event, points) {
  const p = svgPoint(svg, event);
  let best = null, bestDistance = 64; // within 8 units
  for (const q of points) {
    const d = (q.x - p.x) ** 2 + (q.y - p.y) ** 2;
    if (q.star && d < bestDistance) { best = q; bestDistance = d; }
  }
  if (best) location.hash = 'star=' + encodeURIComponent(best.star);
}

async function run(adql) {
  say('');
  note('');
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

// ---------------------------------------------------------------------------------------
// The star page: facts, light curve, periodogram, folded curve, downloads, reference
// images and cutouts.

async function showStar(id) {
  say('');
  note('');
  Object.assign(star, { id, points: [], span: null, view: null, periodogram: null, period: null, fit: null });
  $('results').hidden = true;
  $('star').hidden = false;
  $('star-title').textContent = 'Star ' + id;
  const adql = `SELECT * FROM ${SCHEMA}.stars WHERE star_id = ${sqlText(id)}`;
  $('star-adql').textContent = adql;
  $('period').value = '';
  for (const box of ['lightcurve-chart', 'periodogram-chart', 'folded-chart']) $(box).replaceChildren();
  for (const text of ['lightcurve-caption', 'best-period', 'periodogram-caption', 'folded-caption', 'fit-summary', 'fit-adql']) $(text).textContent = '';
  for (const name of ['data-status', 'data-significant', 'data-t0', 'data-te', 'data-u0']) $('fit-summary').removeAttribute(name);
  $('lightcurve-legend').replaceChildren();
  $('folded-downloads').replaceChildren();
  for (const s of SERIES) $('lightcurve').removeAttribute(`data-points-${s.colour.toLowerCase()}`);
  $('best-period').removeAttribute('data-days');
  $('use-best').disabled = true;
  const downloads = $('star-downloads');
  downloads.replaceChildren('Download the light curve: ');
  for (const [format, name] of [['votable', 'VOTable'], ['csv', 'CSV'], ['fits', 'FITS']]) {
    downloads.append(el('a', { href: lightCurveUrl(id, format), download: '' }, name));
  }
  downloads.append(' The service\'s plot: ', ...plotLinks(id, {}));
  if (await showFacts(id, adql)) await Promise.all([showLightCurve(id), showFit(id), showImages(id)]);
}

// The star's row, as a list of its columns; answers whether the star is there.
async function showFacts(id, adql) {
  const dl = $('star-facts');
  dl.replaceChildren();
  try {
    const facts = await tap(adql, 1);
    if (facts.rows.length === 0) { say(`There is no star ${id} in this catalogue.`); return false; }
    facts.header.forEach((name, i) => {
      const value = facts.rows[0][i];
      if (value !== '') dl.append(el('dt', {}, name), el('dd', {}, value));
    });
    return true;
  } catch (e) {
    say('The star could not be read: ' + e.message);
    return false;
  }
}

// Links to the service's PNG and SVG plot of the light curve (folded, given PERIOD and EPOCH).
function plotLinks(id, fold) {
  return [['png', 'PNG'], ['svg', 'SVG']].map(([format, name]) =>
    el('a', { href: 'datalink/plot?' + new URLSearchParams({ ID: id, FORMAT: format, ...fold }), download: '' }, name));
}

async function showLightCurve(id) {
  let rows;
  try {
    rows = parseCsv(await fetchText(lightCurveUrl(id, 'csv')));
  } catch (e) {
    say('The light curve could not be read: ' + e.message);
    return;
  }
  if (star.id !== id) return;
  const header = rows[0] || [];
  const [t, colour, mag, err] = ['mjd', 'colour', 'mag', 'mag_err'].map((name) => header.indexOf(name));
  star.points = rows.slice(1)
    .map((r) => ({ t: cellNumber(r[t]), colour: r[colour], mag: cellNumber(r[mag]), err: cellNumber(r[err]) || 0 }))
    .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.mag) && SERIES.some((s) => s.colour === p.colour));
  const figure = $('lightcurve');
  for (const s of SERIES) {
    figure.setAttribute(`data-points-${s.colour.toLowerCase()}`, String(star.points.filter((p) => p.colour === s.colour).length));
  }
  if (!star.points.length) {
    $('lightcurve-caption').textContent = `${id} has no measurement to plot.`;
    return;
  }
  star.span = extent(star.points.map((p) => p.t));
  drawLegend();
  drawLightCurve();
  // Let the browser draw the light curve before the periodogram's work.
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (star.id === id) showPeriodogram();
}

function drawLegend() {
  const legend = $('lightcurve-legend');
  legend.replaceChildren();
  for (const s of SERIES) {
    const n = star.points.filter((p) => p.colour === s.colour).length;
    const key = svgEl('svg', { class: 'key', viewBox: '0 0 12 12', width: 12, height: 12, 'aria-hidden': 'true' },
      svgEl('path', { class: `marks ${s.className}`, d: markerPath(s.marker, 6, 6, 4) }));
    legend.append(el('li', {}, key, ` ${s.colour} (${s.name} ${s.marker}s): ${n} points`));
  }
}

// The time range in view: the whole light curve with a margin, or the zoom's.
function timeRange() {
  if (star.view) return star.view;
  const [a, b] = star.span;
  const margin = Math.max((b - a) * 0.02, 0.5);
  return [a - margin, b + margin];
}

function magRange(points) {
  const [lo, hi] = extent(points.map((p) => p.mag));
  const margin = Math.max((hi - lo) * 0.08, 0.05);
  return [lo - margin, hi + margin];
}

function drawLightCurve() {
  const box = $('lightcurve-chart');
  const [t0, t1] = timeRange();
  const shown = star.points.filter((p) => p.t >= t0 && p.t <= t1);
  const [m0, m1] = magRange(shown.length ? shown : star.points);
  const width = chartWidth(box);
  const height = width < 600 ? 300 : 360;
  const area = plotArea(width, height, true);
  const x = { lo: t0, hi: t1, title: 'time: MJD, and the date below it', ticks: ticks(t0, t1, (area.right - area.left) / 95), format2: isoDate };
  x.format = tickFormat(x.ticks);
  const y = { lo: m0, hi: m1, reversed: true, title: 'magnitude (brighter up)', ticks: ticks(m0, m1, (area.bottom - area.top) / 40) };
  y.format = tickFormat(y.ticks);
  const counts = SERIES.map((s) => `${shown.filter((p) => p.colour === s.colour).length} ${s.name}`).join(' and ');
  const when = (t) => `MJD ${t.toFixed(1)} (${isoDate(t)})`;
  const label = `Light curve of ${star.id}: ${counts} measurements from ${when(t0)} to ${when(t1)}, `
    + `magnitudes ${m0.toFixed(2)} to ${m1.toFixed(2)} with their error bars, brighter up`
    + (star.fit ? `, and the fitted point-lens model (tE ${star.fit.te.toFixed(1)} d) as a line per colour.` : '.');
  const chart = makeChart(box, { width, height, x, y, label });
  drawSeries(chart, shown, (p) => p.t, [0]);
  drawFitModel(chart, t0, t1, area);
  chart.svg.classList.add('zoomable');
  dragToZoom(chart, x);
  box.replaceChildren(chart.svg);
  $('lightcurve-caption').textContent = `${star.id}, ${star.view ? 'zoomed on' : 'whole light curve,'} ${when(t0)} to ${when(t1)}. `
    + 'Drag across the plot, or use the buttons above it, to zoom in time.';
}

// Dragging across the light curve zooms on the range dragged.
function dragToZoom(chart, x) {
  const { svg, area } = chart;
  const toTime = linear(area.left, area.right, x.lo, x.hi);
  const clamp = (v) => Math.max(area.left, Math.min(area.right, v));
  let from = null, band = null;
  svg.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    from = clamp(svgPoint(svg, event).x);
    band = svgEl('rect', { class: 'selection', x: from, y: area.top, width: 0, height: area.bottom - area.top });
    svg.append(band);
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener('pointermove', (event) => {
    if (from === null) return;
    const to = clamp(svgPoint(svg, event).x);
    band.setAttribute('x', Math.min(from, to));
    band.setAttribute('width', Math.abs(to - from));
  });
  svg.addEventListener('pointerup', (event) => {
    if (from === null) return;
    const to = clamp(svgPoint(svg, event).x);
    const [a, b] = [Math.min(from, to), Math.max(from, to)];
    from = null;
    band.remove();
    if (b - a > 4) zoomTo(toTime(a), toTime(b));
  });
}

// Zooms on lo..hi, kept within the light curve and at least a day wide.
function zoomTo(lo, hi) {
  star.view = null;
  const [a, b] = timeRange();
  const width = Math.max(hi - lo, 1);
  if (width < b - a) {
    const start = Math.max(a, Math.min(b - width, lo));
    star.view = [start, start + width];
  }
  drawLightCurve();
}

function zoomBy(factor) {
  if (!star.points.length) return;
  const [lo, hi] = timeRange();
  const mid = (lo + hi) / 2, half = (hi - lo) * factor / 2;
  zoomTo(mid - half, mid + half);
}

function pan(fraction) {
  if (!star.points.length) return;
  const [lo, hi] = timeRange();
  const shift = (hi - lo) * fraction;
  zoomTo(lo + shift, hi + shift);
}

// ---------------------------------------------------------------------------------------
// The microlensing fit: the service's paczynski_fit of both colours (the aggregate of
// sql/microlensing_candidates.sql), drawn over the light curve when its bump is
// significant by that query's cut.

const FIT_FIELDS = ['status', 't0', 't0_err', 'u0', 'u0_err', 'te', 'te_err', 'chi2', 'dof', 'delta_chi2', 'n_bump',
  'chi2_out', 'achromatic_prob', 'band_1', 'baseline_1', 'blend_1', 'band_2', 'baseline_2', 'blend_2'];
// The candidate query's cuts on the bump's significance, delta_chi2 / (chi2/dof) /
// sqrt(2 dof) > 3 and delta_chi2 / (chi2/dof) > 100, and on the fit's quality, chi2/dof < 2
// and chi2_out < 2.
const FIT_SIGNIFICANCE = 3;
const FIT_DELTA_CHI2 = 100;
const FIT_CHI2_DOF = 2;

function fitAdql(id) {
  const fields = FIT_FIELDS.map((name) => `f['${name}'] AS ${name}`).join(', ');
  return `SELECT ${fields} FROM (SELECT paczynski_fit(mjd, mag, mag_err, colour) AS f `
    + `FROM ${SCHEMA}.measurements WHERE star_id = ${sqlText(id)}) AS fit`;
}

// A point lens's magnification at separation u (Einstein radii).
function magnification(u) {
  const v = Math.max(u, 1e-12);
  return (v * v + 2) / (v * Math.sqrt(v * v + 4));
}

async function showFit(id) {
  const adql = fitAdql(id);
  $('fit-adql').textContent = adql;
  const summary = $('fit-summary');
  let answer;
  try {
    answer = await tap(adql, 1);
  } catch (e) {
    if (star.id !== id) return;
    summary.setAttribute('data-status', 'error');
    summary.textContent = 'The microlensing fit could not be made: ' + e.message;
    return;
  }
  if (star.id !== id || answer.rows.length === 0) return;
  const row = Object.fromEntries(answer.header.map((name, i) => [name, answer.rows[0][i]]));
  const number = (name) => cellNumber(row[name]);
  summary.setAttribute('data-status', row.status);
  if (row.status !== 'ok') {
    summary.textContent = `No point-lens fit for this light curve (status ${row.status}).`;
    return;
  }
  const [chi2, dof, delta] = [number('chi2'), number('dof'), number('delta_chi2')];
  const significance = delta / (chi2 / dof) / Math.sqrt(2 * dof);
  const outside = Number.isFinite(number('chi2_out')) ? number('chi2_out') : 0;
  const significant = significance > FIT_SIGNIFICANCE && delta / (chi2 / dof) > FIT_DELTA_CHI2
    && chi2 / dof < FIT_CHI2_DOF && outside < FIT_CHI2_DOF;
  const bands = [1, 2].map((k) => ({ colour: row[`band_${k}`], baseline: number(`baseline_${k}`), blend: number(`blend_${k}`) }))
    .filter((b) => b.colour && Number.isFinite(b.baseline) && Number.isFinite(b.blend));
  const fit = { t0: number('t0'), u0: number('u0'), te: number('te'), bands, significant };
  for (const name of ['t0', 'te', 'u0']) summary.setAttribute(`data-${name}`, String(fit[name]));
  summary.setAttribute('data-significant', String(significant));
  const plusMinus = (name, digits) => {
    const error = number(name + '_err');
    return `${number(name).toFixed(digits)} ± ${Number.isFinite(error) ? error.toPrecision(2) : '—'}`;
  };
  const blends = bands.map((b) => `${b.colour} ${b.blend.toFixed(2)}`).join(', ');
  const achromatic = Number.isFinite(number('achromatic_prob')) ? `; achromatic probability ${number('achromatic_prob').toPrecision(2)}` : '';
  const colours = bands.length === 2 ? 'both colours' : `the ${bands.map((b) => b.colour).join('')} colour`;
  summary.textContent = `Point-lens (Paczyński) fit of ${colours}: t0 = MJD ${plusMinus('t0', 2)} (${isoDate(fit.t0)}), `
    + `u0 = ${plusMinus('u0', 3)}, tE = ${plusMinus('te', 1)} d, source fraction of the baseline flux ${blends}; `
    + `χ²/dof = ${(chi2 / dof).toFixed(2)} (${dof} dof), ${number('n_bump')} points with |t − t0| < tE${achromatic}. `
    + `Bump significance ${significance.toFixed(1)} (Δχ² ${(delta / (chi2 / dof)).toFixed(0)} in units of χ²/dof); `
    + `the candidate query asks for more than ${FIT_SIGNIFICANCE} (and ${FIT_DELTA_CHI2}), and a χ²/dof under ${FIT_CHI2_DOF} `
    + `on the whole light curve and away from the bump: `
    + (significant ? 'a significant bump and a good fit, the model is drawn over the light curve, a line per colour.'
      : 'not both, the model is not drawn.');
  if (significant) {
    star.fit = fit;
    if (star.points.length) drawLightCurve();
  }
}

// The fitted model of each colour, mag = baseline - 2.5 log10(blend A(t) + 1 - blend),
// sampled every other pixel across the time range in view.
function drawFitModel(chart, t0, t1, area) {
  const fit = star.fit;
  if (!fit) return;
  const steps = Math.max(2, Math.round((area.right - area.left) / 2));
  for (const band of fit.bands) {
    const series = SERIES.find((s) => s.colour === band.colour);
    if (!series) continue;
    // A negative source flux (blend < 0) can make the flux negative: no magnitude there,
    // the line is broken.
    let d = '', drawing = false;
    for (let k = 0; k <= steps; k++) {
      const t = t0 + (t1 - t0) * k / steps;
      const tau = (t - fit.t0) / fit.te;
      const mag = band.baseline - 2.5 * Math.log10(band.blend * magnification(Math.hypot(fit.u0, tau)) + 1 - band.blend);
      if (!Number.isFinite(mag)) { drawing = false; continue; }
      d += `${drawing ? 'L' : 'M'}${chart.sx(t).toFixed(1)},${chart.sy(mag).toFixed(1)}`;
      drawing = true;
    }
    chart.data.append(svgEl('path', { class: `model ${series.className}`, d }));
  }
}

// ---------------------------------------------------------------------------------------
// The periodogram and the folded light curve.

// The generalised Lomb-Scargle periodogram (a sine and a constant fitted by weighted least
// squares at each frequency, Zechmeister & Kürster 2009), at n frequencies f0 + k df:
// the fraction of the weighted variance of y that the sine explains, 0 to 1. The sines
// and cosines advance from one frequency to the next by a rotation, not a call of Math.sin.
function lombScargle(t, y, w, f0, df, n) {
  const m = t.length;
  const total = w.reduce((sum, v) => sum + v, 0);
  const wn = w.map((v) => v / total), wy = wn.map((v, i) => v * y[i]);
  const mean = wy.reduce((sum, v) => sum + v, 0);
  const yy = wy.reduce((sum, v, i) => sum + v * y[i], 0) - mean * mean;
  const cos = t.map((ti) => Math.cos(2 * Math.PI * f0 * ti)), sin = t.map((ti) => Math.sin(2 * Math.PI * f0 * ti));
  const stepCos = t.map((ti) => Math.cos(2 * Math.PI * df * ti)), stepSin = t.map((ti) => Math.sin(2 * Math.PI * df * ti));
  const power = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let c = 0, s = 0, yc = 0, ys = 0, cc = 0, cs = 0;
    for (let i = 0; i < m; i++) {
      const ci = cos[i], si = sin[i], wc = wn[i] * ci;
      c += wc; s += wn[i] * si; yc += wy[i] * ci; ys += wy[i] * si; cc += wc * ci; cs += wc * si;
      cos[i] = ci * stepCos[i] - si * stepSin[i];
      sin[i] = si * stepCos[i] + ci * stepSin[i];
    }
    const YC = yc - mean * c, YS = ys - mean * s;
    const CC = cc - c * c, SS = (1 - cc) - s * s, CS = cs - c * s;
    const d = CC * SS - CS * CS;
    power[k] = d > 1e-12 && yy > 0 ? (SS * YC * YC + CC * YS * YS - 2 * CS * YC * YS) / (yy * d) : 0;
  }
  return power;
}

// Both colours in one periodogram, each colour's mean magnitude subtracted, each
// measurement weighted by 1 / error² (the median error where a measurement has none).
function periodogram(points) {
  const [first, last] = extent(points.map((p) => p.t));
  const span = last - first;
  if (points.length < 5 || span <= SHORTEST_PERIOD * 2) return null;
  const means = {};
  for (const s of SERIES) {
    const mags = points.filter((p) => p.colour === s.colour).map((p) => p.mag);
    means[s.colour] = mags.reduce((a, b) => a + b, 0) / (mags.length || 1);
  }
  const errors = points.map((p) => p.err).filter((e) => e > 0).sort((a, b) => a - b);
  const typical = errors.length ? errors[Math.floor(errors.length / 2)] : 1;
  const t = Float64Array.from(points, (p) => p.t - first);
  const y = Float64Array.from(points, (p) => p.mag - means[p.colour]);
  const w = Float64Array.from(points, (p) => 1 / (p.err > 0 ? p.err : typical) ** 2);
  const f0 = 1 / span, f1 = 1 / SHORTEST_PERIOD;
  const wanted = Math.floor((f1 - f0) * span * OVERSAMPLING) + 1;
  const n = Math.max(2, Math.min(wanted, Math.floor(PERIODOGRAM_WORK / points.length)));
  const df = (f1 - f0) / (n - 1);
  const power = lombScargle(t, y, w, f0, df, n);
  let best = 0;
  for (let k = 1; k < n; k++) if (power[k] > power[best]) best = k;
  return { f0, df, power, span, best: 1 / (f0 + best * df), bestPower: power[best] };
}

function formatPeriod(days) { return String(Number(days.toPrecision(6))); }

function showPeriodogram() {
  const started = performance.now();
  star.periodogram = periodogram(star.points);
  const result = star.periodogram;
  $('use-best').disabled = !result;
  if (!result) {
    $('periodogram-caption').textContent = 'Too few measurements, or too short a time, for a periodogram.';
    return;
  }
  const output = $('best-period');
  output.setAttribute('data-days', String(result.best));
  output.textContent = `Best period: ${formatPeriod(result.best)} d (power ${result.bestPower.toFixed(2)}).`;
  $('periodogram-caption').textContent = `Generalised Lomb-Scargle periodogram of both colours (each colour's mean subtracted), `
    + `at ${result.power.length} frequencies, periods ${SHORTEST_PERIOD} to ${Math.round(result.span)} days, `
    + `computed here in ${Math.round(performance.now() - started)} ms.`;
  drawPeriodogram();
  if (!star.period) foldOn(result.best);
}

// Power against period on a logarithmic axis; the largest power of each column of the
// plot is drawn, so that the chart's size does not grow with the frequencies'.
function drawPeriodogram() {
  const result = star.periodogram;
  if (!result) return;
  const box = $('periodogram-chart');
  const width = chartWidth(box);
  const height = width < 600 ? 240 : 280;
  const area = plotArea(width, height, false);
  const x = { lo: SHORTEST_PERIOD, hi: result.span, log: true, title: 'period (days, logarithmic)' };
  x.ticks = logTicks(SHORTEST_PERIOD, result.span, (area.right - area.left) / 45);
  x.format = (v) => String(v);
  const top = Math.max(result.bestPower * 1.1, 0.1);
  const y = { lo: 0, hi: top, title: 'power', ticks: ticks(0, top, (area.bottom - area.top) / 40) };
  y.format = tickFormat(y.ticks);
  const label = `Periodogram of ${star.id}: power against period from ${SHORTEST_PERIOD} to ${Math.round(result.span)} days; `
    + `the best period, ${formatPeriod(result.best)} d, is marked.`;
  const chart = makeChart(box, { width, height, x, y, label });
  const columns = new Float64Array(Math.ceil(area.right) + 1);
  for (let k = 0; k < result.power.length; k++) {
    const column = Math.round(chart.sx(1 / (result.f0 + k * result.df)));
    if (result.power[k] > columns[column]) columns[column] = result.power[k];
  }
  let d = '';
  for (let px = Math.floor(area.left); px < columns.length; px++) {
    if (columns[px] > 0) d += `${d ? 'L' : 'M'}${px},${chart.sy(columns[px]).toFixed(1)}`;
  }
  const bx = chart.sx(result.best).toFixed(1);
  const right = Number(bx) > (area.left + area.right) / 2;
  chart.data.append(
    svgEl('path', { class: 'power', d }),
    svgEl('line', { class: 'best', x1: bx, x2: bx, y1: area.top, y2: area.bottom }),
    svgEl('text', { class: 'best-label', x: Number(bx) + (right ? -6 : 6), y: area.top + 14, 'text-anchor': right ? 'end' : 'start' },
      `best: ${formatPeriod(result.best)} d`));
  box.replaceChildren(chart.svg);
}

// The folded curve on the given period, phase 0 at the first measurement, shown twice
// (phases 0 to 2) so that a minimum near phase 0 or 1 is seen whole.
function foldOn(period) {
  star.period = period;
  $('period').value = formatPeriod(period);
  drawFolded();
  const epoch = star.span[0];
  $('folded-downloads').replaceChildren('The service\'s folded plot: ',
    ...plotLinks(star.id, { PERIOD: String(period), EPOCH: String(epoch) }));
}

function drawFolded() {
  if (!star.period || !star.points.length) return;
  const period = star.period, epoch = star.span[0];
  const box = $('folded-chart');
  const width = chartWidth(box);
  const height = width < 600 ? 280 : 320;
  const area = plotArea(width, height, false);
  const [m0, m1] = magRange(star.points);
  const x = { lo: 0, hi: 2, title: `phase (period ${formatPeriod(period)} d, shown twice)`, ticks: ticks(0, 2, (area.right - area.left) / 60) };
  x.format = tickFormat(x.ticks);
  const y = { lo: m0, hi: m1, reversed: true, title: 'magnitude (brighter up)', ticks: ticks(m0, m1, (area.bottom - area.top) / 40) };
  y.format = tickFormat(y.ticks);
  const label = `Light curve of ${star.id} folded on a period of ${formatPeriod(period)} days: magnitude against phase 0 to 2, `
    + `${SERIES.map((s) => `${s.name} ${s.marker}s`).join(' and ')} with error bars, brighter up.`;
  const chart = makeChart(box, { width, height, x, y, label });
  const phase = (p) => { const f = (p.t - epoch) / period; return f - Math.floor(f); };
  drawSeries(chart, star.points, phase, [0, 1]);
  box.replaceChildren(chart.svg);
  $('folded-caption').textContent = `${star.id} folded on ${formatPeriod(period)} d, phase 0 at MJD ${epoch} (the first measurement).`;
}

function drawStarCharts() {
  if (!star.points.length) return;
  drawLightCurve();
  drawPeriodogram();
  drawFolded();
}

async function showImages(id) {
  const list = $('star-images');
  list.replaceChildren();
  let doc;
  try {
    const text = await fetchText('datalink/links?' + new URLSearchParams({ ID: id }));
    doc = new DOMParser().parseFromString(text, 'application/xml');
  } catch (e) {
    list.append(el('li', {}, 'The reference images could not be listed: ' + e.message));
    return;
  }
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
      const label = description.replace(' (SODA; a 30 arcsec radius, to change)', '');
      // The same cutout as a PNG to look at (SODA's RESPONSEFORMAT=image/png), beside the FITS.
      const picture = el('img', { src: url + '&' + new URLSearchParams({ RESPONSEFORMAT: 'image/png' }),
        alt: label + ' (30 arcsec radius)', class: 'cutout' });
      list.append(el('li', {}, picture, ' ', el('a', { href: url, download: '' }, label + ' (FITS, 30 arcsec radius)')));
    }
  }
  if (!list.children.length) list.append(el('li', {}, 'No reference image holds this star.'));
}

// ---------------------------------------------------------------------------------------
// SAMP's Web Profile: XML-RPC calls to the hub on this computer, which passes the table's
// URL to TOPCAT, Aladin or any other SAMP application; they fetch it from the service.

function xmlrpcCall(method, params) {
  const doc = document.implementation.createDocument(null, 'methodCall', null);
  const add = (parent, tag, text) => {
    const e = doc.createElement(tag);
    if (text !== undefined) e.textContent = text;
    parent.append(e);
    return e;
  };
  // SAMP's values are strings, lists and maps.
  const value = (parent, v) => {
    const holder = add(parent, 'value');
    if (Array.isArray(v)) {
      const data = add(add(holder, 'array'), 'data');
      for (const item of v) value(data, item);
    } else if (typeof v === 'object') {
      const struct = add(holder, 'struct');
      for (const [k, item] of Object.entries(v)) {
        const member = add(struct, 'member');
        add(member, 'name', k);
        value(member, item);
      }
    } else add(holder, 'string', String(v));
  };
  add(doc.documentElement, 'methodName', method);
  const list = add(doc.documentElement, 'params');
  for (const p of params) value(add(list, 'param'), p);
  return '<?xml version="1.0"?>' + new XMLSerializer().serializeToString(doc);
}

function child(e, name) { return [...e.children].find((c) => c.localName === name); }

function xmlrpcValue(holder) {
  const typed = holder.firstElementChild;
  if (!typed) return holder.textContent;
  if (typed.localName === 'struct') {
    const map = {};
    for (const member of typed.children) map[child(member, 'name').textContent] = xmlrpcValue(child(member, 'value'));
    return map;
  }
  if (typed.localName === 'array') return [...child(typed, 'data').children].map(xmlrpcValue);
  return typed.textContent;
}

class SampError extends Error {}

async function sampCall(hub, method, params) {
  const response = await fetch(hub, { method: 'POST', headers: { 'Content-Type': 'text/xml' }, body: xmlrpcCall(method, params) });
  if (!response.ok) throw new SampError(`The SAMP hub answered ${method} with HTTP status ${response.status}.`);
  const doc = new DOMParser().parseFromString(await response.text(), 'application/xml');
  const answer = doc.documentElement;
  const fault = child(answer, 'fault');
  if (fault) {
    const reason = xmlrpcValue(child(fault, 'value')).faultString || 'no reason given';
    throw new SampError(/reject|refus|denied/i.test(reason)
      ? `The SAMP hub refused this page: ${reason.replace(/\.?$/, '.')} Send again and accept the page in the hub's dialog.`
      : `The SAMP hub refused ${method}: ${reason}`);
  }
  const param = child(answer, 'params') && child(child(answer, 'params'), 'param');
  if (!param) throw new SampError(`The SAMP hub gave no answer to ${method}.`);
  return xmlrpcValue(child(param, 'value'));
}

// The page's registration with the hub, kept from the first send until the page is left:
// a hub asks its user to accept each registration, and delivers a message only while its
// sender is registered.
let samp = null;

// Registers with the first hub that answers (the hub may first ask its user to accept).
async function sampSession() {
  if (samp) return samp;
  for (const hub of SAMP_HUBS) {
    let answer;
    try {
      answer = await sampCall(hub, 'samp.webhub.register', [{ 'samp.name': 'skyql' }]);
    } catch (e) {
      if (e instanceof SampError) throw e;
      continue; // a network error: no hub at this address
    }
    const key = answer['samp.private-key'];
    await sampCall(hub, 'samp.webhub.declareMetadata', [key, {
      'samp.name': 'skyql', 'samp.description.text': `${document.title}: the web page of skyql serve`,
    }]);
    samp = { hub, key };
    return samp;
  }
  throw new SampError('No SAMP hub answers on this computer: start TOPCAT or Aladin (each runs one), then send again.');
}

async function notifyTable(session, url, name) {
  return sampCall(session.hub, 'samp.webhub.notifyAll', [session.key, {
    'samp.mtype': 'table.load.votable', 'samp.params': { url, name },
  }]);
}

// Tells every SAMP application that loads tables to fetch the VOTable at url.
async function sendToSamp(url, name) {
  say('');
  note('Asking the SAMP hub on this computer; it may ask you to accept this page.');
  try {
    let sent;
    const registered = samp !== null;
    try {
      sent = await notifyTable(await sampSession(), url, name);
    } catch (e) {
      if (!registered) throw e;
      samp = null; // the hub forgot the page (it was restarted): register again
      sent = await notifyTable(await sampSession(), url, name);
    }
    if (!Array.isArray(sent) || sent.length === 0) {
      note('');
      say('The SAMP hub knows no application that loads tables: start TOPCAT or Aladin, then send again.');
    } else {
      note(`Sent "${name}" to ${sent.length} SAMP application${sent.length > 1 ? 's' : ''}.`);
    }
  } catch (e) {
    note('');
    say(e instanceof SampError ? e.message : 'The table could not be sent through SAMP: ' + e.message);
  }
}

function sampUnregister() {
  if (!samp) return;
  fetch(samp.hub, { method: 'POST', keepalive: true, headers: { 'Content-Type': 'text/xml' },
    body: xmlrpcCall('samp.webhub.unregister', [samp.key]) }).catch(() => {});
  samp = null;
}

// ---------------------------------------------------------------------------------------
// The address (#cone=RA,DEC,ARCSEC or #star=ID) and the page's controls.

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

function absolute(url) { return new URL(url, location.href).href; }

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
  $('previous').addEventListener('click', () => { results.page--; renderTable(); });
  $('next').addEventListener('click', () => { results.page++; renderTable(); });
  $('back').addEventListener('click', (e) => { e.preventDefault(); history.back(); });
  $('results-samp').addEventListener('click', () =>
    sendToSamp(absolute(tapUrl(results.adql, 'votable')), `${document.title}: query result`));
  $('star-samp').addEventListener('click', () =>
    sendToSamp(absolute(lightCurveUrl(star.id, 'votable')), `Light curve of ${star.id}`));
  $('zoom-in').addEventListener('click', () => zoomBy(0.5));
  $('zoom-out').addEventListener('click', () => zoomBy(2));
  $('pan-earlier').addEventListener('click', () => pan(-0.5));
  $('pan-later').addEventListener('click', () => pan(0.5));
  $('zoom-reset').addEventListener('click', () => { if (star.points.length) zoomTo(-Infinity, Infinity); });
  $('fold-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const period = Number($('period').value);
    if (!(period > 0)) { say('Give a period in days, greater than 0.'); return; }
    if (!star.points.length) { say('This star has no measurement to fold.'); return; }
    say('');
    foldOn(period);
  });
  $('use-best').addEventListener('click', () => { if (star.periodogram) foldOn(star.periodogram.best); });
  // The charts follow the width of the window (a phone turned, a window resized).
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (!$('results').hidden) drawSky();
      if (!$('star').hidden) drawStarCharts();
    }, 150);
  });
  window.addEventListener('pagehide', sampUnregister);
  window.addEventListener('hashchange', route);
  route();
}

document.addEventListener('DOMContentLoaded', init);
