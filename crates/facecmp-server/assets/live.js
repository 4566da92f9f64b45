// The Live page: each decision the server records arrives as a server-sent
// event and becomes the top row of the table. Rows are built with
// textContent, so nothing in a name or zone is ever read as HTML.
(() => {
  let source = null;

  function cell(row, text, className) {
    const td = document.createElement('td');
    if (className) {
      const span = document.createElement('span');
      span.className = className;
      span.textContent = text;
      td.append(span);
    } else {
      td.textContent = text;
    }
    row.append(td);
  }

  function personText(decision) {
    if (decision.person) return decision.person;
    return decision.tombstone ? 'erased' : '—';
  }

  function rowFor(decision) {
    const row = document.createElement('tr');
    row.className = `${decision.decision === 'allow' ? 'allow' : 'deny'} fresh`;
    row.dataset.event = String(decision.id);
    cell(row, decision.time_text);
    cell(row, decision.zone);
    cell(row, personText(decision));
    const similarity = typeof decision.similarity === 'number'
      ? `${decision.similarity.toFixed(3)} / ${decision.threshold.toFixed(3)}` : '—';
    cell(row, similarity);
    cell(row, decision.decision, 'decision');
    cell(row, decision.reason);
    row.append(faceCell(decision));
    return row;
  }

  // The probe's face, when its zone keeps crops, and the form that adds it
  // as a sample of someone (the same form the server renders).
  function faceCell(decision) {
    const td = document.createElement('td');
    td.className = 'face';
    if (!decision.crop_url) {
      const dash = document.createElement('span');
      dash.className = 'muted';
      dash.textContent = '—';
      td.append(dash);
      return td;
    }
    const image = document.createElement('img');
    image.className = 'crop';
    image.src = decision.crop_url;
    image.alt = `The face judged in decision ${decision.id}`;
    image.width = 64;
    image.height = 64;
    const form = document.createElement('form');
    form.method = 'post';
    form.action = `/events/${encodeURIComponent(String(decision.id))}/enrol`;
    form.className = 'enrol-crop';
    const label = document.createElement('label');
    label.append('Add as a sample of ');
    const input = document.createElement('input');
    input.name = 'name';
    input.required = true;
    input.autocomplete = 'off';
    input.size = 12;
    input.setAttribute('list', 'people-names');
    label.append(input);
    const button = document.createElement('button');
    button.type = 'submit';
    button.textContent = 'Add';
    form.append(label, button);
    td.append(image, form);
    return td;
  }

  function start(root) {
    const rows = root.querySelector ? root.querySelector('#live-rows') : null;
    if (!rows || rows.dataset.ready) return;
    rows.dataset.ready = 'yes';
    stop();
    const status = document.getElementById('live-status');
    source = new EventSource(rows.dataset.stream);
    source.addEventListener('open', () => {
      status.textContent = 'Connected: new decisions appear at the top.';
    });
    source.addEventListener('error', () => {
      status.textContent = 'Connection lost; reconnecting…';
    });
    source.addEventListener('decision', (message) => {
      const decision = JSON.parse(message.data);
      if (rows.querySelector(`tr[data-event="${decision.id}"]`)) return;
      rows.prepend(rowFor(decision));
      while (rows.rows.length > 200) rows.deleteRow(-1);
    });
  }

  function stop() {
    if (source) source.close();
    source = null;
  }

  // Scripts are deferred: the page is parsed when they run. htmx:load covers
  // pages reached by boosted navigation.
  document.addEventListener('DOMContentLoaded', () => start(document));
  document.addEventListener('htmx:load', (event) => start(event.detail.elt));
  // Leaving the page (boosted navigation swaps the body) closes the stream.
  document.addEventListener('htmx:beforeSwap', (event) => {
    if (event.detail.target === document.body) stop();
  });
})();
