// The Compare page: photos dropped on (or chosen in) the two zones go into
// the form's file fields and show as previews; once the server has boxed
// the faces, the boxes are drawn over the operator's own photos (shown from
// the browser's memory, never uploaded again). Both photos → compare at once.
(() => {
  function photoOf(form, field) {
    const input = form.querySelector(`input[name="${field}"]`);
    return input && input.files.length ? input.files[0] : null;
  }

  function showPreview(zone, file) {
    const img = zone.querySelector('img');
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(file);
    img.alt = `Preview of ${file.name}`;
    img.hidden = false;
  }

  function setup(root) {
    const form = root.querySelector ? root.querySelector('#compare-form') : null;
    if (!form || form.dataset.ready) return;
    form.dataset.ready = 'yes';
    form.querySelectorAll('.dropzone').forEach((zone) => {
      const input = zone.querySelector('input[type=file]');
      zone.addEventListener('dragover', (event) => {
        event.preventDefault();
        zone.classList.add('over');
      });
      zone.addEventListener('dragleave', () => zone.classList.remove('over'));
      zone.addEventListener('drop', (event) => {
        event.preventDefault();
        zone.classList.remove('over');
        if (!event.dataTransfer || !event.dataTransfer.files.length) return;
        const files = new DataTransfer();
        files.items.add(event.dataTransfer.files[0]);
        input.files = files.files;
        input.dispatchEvent(new Event('change', { bubbles: true }));
      });
      input.addEventListener('change', () => {
        if (!input.files.length) return;
        showPreview(zone, input.files[0]);
        if (photoOf(form, 'a') && photoOf(form, 'b')) form.requestSubmit();
      });
    });
  }

  // Put each photo under its boxes once the result is in.
  document.addEventListener('htmx:afterSettle', () => {
    const form = document.getElementById('compare-form');
    if (!form) return;
    document.querySelectorAll('svg.faces[data-photo]').forEach((svg) => {
      const file = photoOf(form, svg.dataset.photo);
      const image = svg.querySelector('image');
      if (file && image) image.setAttribute('href', URL.createObjectURL(file));
    });
  });

  document.addEventListener('DOMContentLoaded', () => setup(document));
  document.addEventListener('htmx:load', (event) => setup(event.detail.elt));
})();
